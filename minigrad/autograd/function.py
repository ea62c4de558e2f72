"""Custom ops the PyTorch way: `minigrad.autograd.Function` with static methods.

    class Cube(Function):
        @staticmethod
        def forward(ctx, x, scale):          # Tensors in, Tensor out (run under no_grad)
            ctx.save_for_backward(x)
            ctx.scale = scale
            return scale * x ** 3

        @staticmethod
        def backward(ctx, grad_output):      # one gradient (or None) per forward argument
            (x,) = ctx.saved_tensors
            return grad_output * 3 * ctx.scale * x ** 2, None

    y = Cube.apply(x, 0.5)

A subclass whose `forward` is a staticmethod is adapted here when it is created:
`apply` runs `forward(ctx, ...)` with the node itself as `ctx`, and the engine's
`backward(grad)` calls the user's `backward(ctx, grad)`. Internal ops keep the
array style of engine.py. Known difference from PyTorch: `forward` returns one Tensor
(several outputs raise an AutogradError).
"""
import numpy as np

from ..dtype import kind_of
from ..errors import AutogradError
from ..modes import set_grad_enabled, state
from ..tensor import Tensor
from .engine import Function, check_versions

_NOT_A_TENSOR = Tensor._make(np.zeros(0, dtype=np.float32), False, None)  # stands for a
#                                                   non-tensor argument in `ctx.inputs`


class FunctionCtx:
    """What `ctx` offers inside a torch-style Function (mixed into the op class)."""

    def save_for_backward(self, *tensors):
        """Keep tensors for backward; `saved_tensors` raises if one changed in place since."""
        self.saved = tensors
        self.saved_versions = tuple(t._version if t is not None else 0 for t in tensors)

    @property
    def saved_tensors(self):
        saved = self.__dict__.get("saved")
        if saved is None:
            if self.__dict__.get("released"):
                raise AutogradError(f"{self.name}: saved tensors were freed by an earlier "
                                    "backward(); pass retain_graph=True to backward twice")
            return ()
        check_versions(self, [t for t in saved], self.saved_versions)
        return saved

    def mark_non_differentiable(self, *tensors):
        self.non_differentiable = {id(t) for t in tensors}

    def set_materialize_grads(self, value):
        pass                                  # gradients are always materialized here


def apply_with_ctx(cls, *args):
    """`Fn.apply(*args)` for a torch-style Function."""
    ctx = cls.__new__(cls)
    ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
    record = state.grad_enabled and any(ctx.needs_input_grad)
    with set_grad_enabled(False):
        out = cls.forward(ctx, *args)
    if isinstance(out, (tuple, list)):
        raise AutogradError(f"{cls.name}: forward returned {len(out)} values; minigrad's "
                            "autograd.Function supports one output Tensor")
    if not isinstance(out, Tensor):
        raise AutogradError(f"{cls.name}: forward must return a Tensor, got {type(out).__name__}")
    if not record or id(out) in ctx.__dict__.get("non_differentiable", ()) \
            or kind_of(out.dtype) != "f":               # integer results carry no gradient (torch)
        return Tensor._make(out.array, False, None)
    ctx.inputs = tuple(a if isinstance(a, Tensor) else _NOT_A_TENSOR for a in args)
    ctx.scope = state.scope
    return Tensor._make(out.array, True, ctx)


def _adapt(cls):
    """Adapt a torch-style subclass (static forward) to the engine."""
    if not isinstance(cls.__dict__.get("forward"), staticmethod):
        return
    user_backward = getattr(cls.__dict__.get("backward"), "__func__", None)
    if user_backward is None:
        def user_backward(ctx, *grads):
            raise AutogradError(f"{cls.__name__}: no static backward(ctx, ...) was defined")

    def backward(self, grad):
        grads = user_backward(self, grad)
        grads = grads if isinstance(grads, tuple) else (grads,)
        if len(grads) != len(self.inputs):
            raise AutogradError(f"{self.name}: backward returned {len(grads)} gradients, but "
                                f"forward took {len(self.inputs)} arguments (give None for those "
                                "that need no gradient)")
        return grads

    cls.backward = backward
    cls.apply = classmethod(apply_with_ctx)
    cls.saves_inputs = False                  # ctx.save_for_backward does the checking
    if "name" not in cls.__dict__:
        cls.name = cls.__name__
    for name, member in vars(FunctionCtx).items():
        if not name.startswith("__") and name not in cls.__dict__:
            setattr(cls, name, member)


Function.class_adapters.append(_adapt)

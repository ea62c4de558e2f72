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
`backward(grad)` calls the user's `backward(ctx, *grads)`. Internal ops keep the
array style of engine.py.

As in PyTorch: `forward` may return several outputs (a tuple); `backward` then
gets one gradient per output, zeros for an output no gradient reached (None after
`ctx.set_materialize_grads(False)`; always None for a non-tensor output, which is
passed through as it is). `ctx.mark_non_differentiable(t)` makes an output that
requires no grad. Non-tensor arguments are passed through positionally, and
`ctx.needs_input_grad` has one entry per argument. `ctx.saved_tensors` raises when a
saved tensor was changed in place since `save_for_backward`.

How several outputs meet the engine (whose nodes have one output each): the user's
node produces one hidden "bundle" tensor, and each output is a small `_Output` node
reading it. `_Output` i passes its gradient back as a `_GradBundle` {i: grad};
the engine adds bundles like gradients (merging them), and the user's node
unpacks the bundle into one gradient per output.
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

    materialize_grads = True

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
        """Outputs that get no gradient (integer results, indices): they come out with
        requires_grad False, and backward gets zeros for them (torch's rule)."""
        self.non_differentiable = {id(t) for t in tensors}

    def set_materialize_grads(self, value):
        """With False, backward gets None (not zeros) for outputs no gradient reached."""
        self.materialize_grads = bool(value)


class _GradBundle:
    """The gradients of some of a multi-output node's outputs, {output index: Tensor},
    passed through the engine as the hidden bundle tensor's gradient."""

    def __init__(self, grads, like):
        self.grads, self.like = grads, like
        self.shape, self.dtype, self.array = like.shape, like.dtype, like.array

    def __add__(self, other):
        merged = dict(self.grads)
        for i, g in other.grads.items():
            merged[i] = g if merged.get(i) is None else merged[i] + g
        return _GradBundle(merged, self.like)


class _Output(Function):
    """Output `index` of a multi-output custom Function: hands its gradient back to the
    Function's node, labelled with the index."""
    name = "output"
    saves_inputs = False
    holds_inputs = True          # backward hands the bundle tensor itself back
    index: int
    value: object                # the output's array
    name: str

    def forward(self, bundle):
        return self.value

    def backward(self, grad):
        return _GradBundle({self.index: grad}, self.inputs[0])


def apply_with_ctx(cls, *args):
    """`Fn.apply(*args)` for a torch-style Function."""
    ctx = cls.__new__(cls)
    ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
    record = state.grad_enabled and any(ctx.needs_input_grad)
    with set_grad_enabled(False):
        out = cls.forward(ctx, *args)
    several = isinstance(out, tuple)
    outs = out if several else (out,)
    if not several and not isinstance(out, Tensor):
        raise AutogradError(f"{cls.name}: forward must return a Tensor or a tuple, got "
                            f"{type(out).__name__}")
    skip = ctx.__dict__.get("non_differentiable", ())
    differentiable = [isinstance(o, Tensor) and id(o) not in skip and kind_of(o.dtype) == "f"
                      for o in outs]                # integer results carry no gradient (torch)
    if not record or not any(differentiable):
        results = tuple(_plain(o) for o in outs)
        return results if several else results[0]
    ctx.inputs = tuple(a if isinstance(a, Tensor) else _NOT_A_TENSOR for a in args)
    ctx.edges = [t._ctx for t in ctx.inputs]
    ctx.scope = state.scope
    ctx.several = several
    ctx.outputs_like = [(o.shape, o.dtype, o.xp) if isinstance(o, Tensor) else None
                        for o in outs]
    if not several:
        y = Tensor._make(out.array, True, ctx)
        y._vc = out._vc                            # a saved output shares its version
        return y
    bundle = Tensor._make(out_xp(outs).zeros(0, dtype=np.float32), True, ctx)
    results = []
    for i, (o, d) in enumerate(zip(outs, differentiable)):
        if d:
            y = _Output.apply(bundle, index=i, value=o.array, name=cls.name)
            y._vc = o._vc
        else:
            y = _plain(o)
        results.append(y)
    return tuple(results)


def out_xp(outs):
    return next(o.xp for o in outs if isinstance(o, Tensor))


def _plain(o):
    """A forward result returned without history (non-tensors as they are)."""
    if not isinstance(o, Tensor):
        return o
    t = Tensor._make(o.array, False, None)
    t._vc = o._vc
    return t


def _grads_for_user(ctx, grad):
    """One gradient per output for the user's backward: zeros (or None, after
    set_materialize_grads(False)) where none arrived; None for non-tensor outputs."""
    grads = [grad.grads.get(i) for i in range(len(ctx.outputs_like))] if ctx.several \
        else [grad]
    for i, (g, like) in enumerate(zip(grads, ctx.outputs_like)):
        if g is None and like is not None and ctx.materialize_grads:
            shape, dtype, xp = like
            grads[i] = Tensor._make(xp.zeros(shape, dtype=dtype), False, None)
    return grads


def _adapt(cls):
    """Adapt a torch-style subclass (static forward) to the engine."""
    if not isinstance(cls.__dict__.get("forward"), staticmethod):
        return
    user_backward = getattr(cls.__dict__.get("backward"), "__func__", None)
    if user_backward is None:
        def user_backward(ctx, *grads):
            raise AutogradError(f"{cls.__name__}: no static backward(ctx, ...) was defined")

    def backward(self, grad):
        grads = user_backward(self, *_grads_for_user(self, grad))
        grads = grads if isinstance(grads, tuple) else (grads,)
        n = len(self.inputs)
        if len(grads) > n and all(g is None for g in grads[n:]):
            grads = grads[:n]                      # extra trailing Nones are fine (torch)
        if len(grads) != n:
            raise AutogradError(f"{self.name}: backward returned {len(grads)} gradients, but "
                                f"forward took {n} arguments (give None for those "
                                "that need no gradient)")
        for i, (g, t) in enumerate(zip(grads, self.inputs)):
            if g is not None and t is _NOT_A_TENSOR:
                raise AutogradError(f"{self.name}: backward returned a gradient different "
                                    f"from None at position {i}, but forward's argument {i} "
                                    "was not a Tensor")
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

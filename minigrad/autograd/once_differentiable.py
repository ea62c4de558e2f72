"""Once-differentiable ops: a fused op computes its backward on arrays, so that
backward cannot itself be differentiated. Under `create_graph=True` its input
gradients are wrapped in `OnceDifferentiableGrad`, which raises a clear error if
anyone differentiates through them, instead of silently giving zeros.

Every op class that declares `once_differentiable = True` gets its `backward`
wrapped by `once_differentiable` when the class is created (PyTorch:
torch.autograd.function.once_differentiable, there applied by hand).
"""
import functools

from ..errors import AutogradError
from ..modes import set_grad_enabled, state
from .engine import Function


def once_differentiable(backward):
    @functools.wraps(backward)
    def wrapper(fn, grad):
        if not state.grad_enabled:             # an ordinary backward: nothing to do
            return backward(fn, grad)
        with set_grad_enabled(False):
            in_grads = backward(fn, grad)
        one = not isinstance(in_grads, tuple)
        wrapped = tuple(None if g is None else OnceDifferentiableGrad.apply(g, *fn.inputs, op=fn.name)
                        for g in ((in_grads,) if one else in_grads))
        return wrapped[0] if one else wrapped
    return wrapper


class OnceDifferentiableGrad(Function):
    """Stands in for the gradient of a once-differentiable op under create_graph:
    differentiating it again raises instead of silently returning zeros."""

    name = "once_differentiable_grad"
    saves_inputs = False
    op: str

    def forward(self, grad, *inputs):
        return grad

    def backward(self, grad):
        raise AutogradError(
            f"{self.op}: this fused op is once-differentiable; double backward through it "
            "is not supported (compute it from primitive ops, e.g. under minigrad.use_fused(False))")


def _wrap_declared(cls):
    if cls.__dict__.get("once_differentiable") and "backward" in cls.__dict__:
        cls.backward = once_differentiable(cls.__dict__["backward"])


Function.class_adapters.append(_wrap_declared)

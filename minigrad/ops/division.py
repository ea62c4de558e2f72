"""Integer-style division: floor_divide (`//`), remainder (`%`) and fmod, as in PyTorch.

    floor_divide(a, b) = floor(a / b)                  (torch.floor_divide, `a // b`)
    remainder(a, b)    = a - floor_divide(a, b) * b    (sign of the divisor, as Python's %)
    fmod(a, b)         = a - trunc(a / b) * b          (sign of the dividend, as C's fmod)

Operands are lifted and promoted as for `+` (elementwise.operands): integer tensors stay
integer, a float operand makes the result float. Integer division by zero raises
(torch raises RuntimeError "ZeroDivisionError"); float division by zero gives inf / NaN.

Gradients (torch's formulas): remainder and fmod pass the gradient through to `a`
unchanged; to `b` they send -grad * floor(a / b) and -grad * trunc(a / b).
floor_divide is piecewise constant: its gradient is 0 (torch raises "derivative for
aten::floor_divide is not implemented" at backward; minigrad gives the true zero).
"""
import numpy as np

from ..autograd import Function
from ..backend import xp_of
from ..errors import DTypeError, MinigradError
from ..tensor import constant
from .elementwise import operands


class DivisionByZeroError(MinigradError, ZeroDivisionError):
    """Integer division (//, %, fmod) by zero."""


class FloorDivide(Function):
    name = "floor_divide"
    saves_inputs = False

    def forward(self, a, b):
        self.shapes = (a.shape, a.dtype), (b.shape, b.dtype)
        with np.errstate(all="ignore"):          # x // 0.0 is +-inf or NaN, as in PyTorch
            return xp_of(a).floor_divide(a, b)

    def backward(self, grad):
        # a step function: the derivative is zero wherever it exists
        return tuple(constant(grad.xp.zeros(shape, dtype)) if need else None
                     for (shape, dtype), need in zip(self.shapes, self.needs_input_grad))


class Remainder(Function):
    """a - q * b with q = floor(a / b) (remainder) or trunc(a / b) (fmod, `truncate`)."""
    name = "remainder"
    saves_inputs = True              # d/db reads both a and b
    truncate: bool = False

    def forward(self, a, b):
        with np.errstate(all="ignore"):
            return (xp_of(a).fmod if self.truncate else xp_of(a).remainder)(a, b)

    def backward(self, grad):
        a, b = self.inputs
        gb = None
        if self.needs_input_grad[1]:             # d/db (a - q b) = -q, q piecewise constant
            xp = a.xp
            with np.errstate(all="ignore"):
                q = xp.trunc(a.array / b.array).astype(a.dtype) if self.truncate else \
                    xp.floor_divide(a.array, b.array)
            gb = -grad * constant(q)
        return grad, gb


class Fmod(Remainder):
    name = "fmod"
    truncate = True


def _division(fn, op, a, b):
    a, b = operands(a, b)
    if a.dtype.kind in "iub" and b.dtype.kind in "iub" and b.numel() and \
            bool((b.array == 0).any()):
        raise DivisionByZeroError(f"{op}: integer division by zero (divisor of dtype "
                                  f"{b.dtype} holds a 0)")
    if a.dtype == np.bool_:
        raise DTypeError(f"{op}: not implemented for bool tensors (as in torch)")
    return fn.apply(a, b)


def floor_divide(a, b):
    """torch.floor_divide / `a // b`: floor(a / b) elementwise, broadcast.

    a, b: Tensors or Python numbers (at least one a Tensor); integer tensors stay integer.
    Raises DivisionByZeroError for an integer divisor that holds 0. Gradient: 0.
    """
    return _division(FloorDivide, "floor_divide", a, b)


def remainder(a, b):
    """torch.remainder / `a % b`: a - floor(a / b) * b, the sign of the divisor (Python's %).

    Same operands and errors as floor_divide. Gradient: 1 for a, -floor(a / b) for b.
    """
    return _division(Remainder, "remainder", a, b)


def fmod(a, b):
    """torch.fmod: a - trunc(a / b) * b, the sign of the dividend (C's fmod).

    Same operands and errors as floor_divide. Gradient: 1 for a, -trunc(a / b) for b.
    """
    return _division(Fmod, "fmod", a, b)

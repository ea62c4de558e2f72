"""More unary math: sin, cos, tan, their inverses asin, acos, atan and atan2, the
hyperbolic sinh and cosh, and rsqrt (torch.sin, torch.atan2, torch.rsqrt, ...).

Integer and bool inputs become the default float dtype first, as in PyTorch. Each
backward is written with tensor ops, so it is itself differentiable.
"""
import numpy as np

from ..autograd import Function
from ..backend import xp_of
from .elementwise import _float
from .promotion import binary


class Sin(Function):
    name = "sin"

    def forward(self, a):
        return xp_of(a).sin(a)

    def backward(self, grad):
        return grad * cos(self.inputs[0])          # d sin x = cos x dx


class Cos(Function):
    name = "cos"

    def forward(self, a):
        return xp_of(a).cos(a)

    def backward(self, grad):
        return -grad * sin(self.inputs[0])         # d cos x = -sin x dx


class Rsqrt(Function):
    name = "rsqrt"

    def forward(self, a):
        with np.errstate(all="ignore"):            # rsqrt(0) = inf, of a negative NaN
            return 1 / xp_of(a).sqrt(a)

    def backward(self, grad):
        y = rsqrt(self.inputs[0])
        return grad * (-0.5 * y * y * y)           # d x^-1/2 = -1/2 x^-3/2 dx


class Tan(Function):
    name = "tan"

    def forward(self, a):
        return xp_of(a).tan(a)

    def backward(self, grad):
        t = tan(self.inputs[0])
        return grad * (1 + t * t)                   # d tan x = (1 + tan^2 x) dx


class Sinh(Function):
    name = "sinh"

    def forward(self, a):
        with np.errstate(over="ignore"):            # overflow gives inf, as in PyTorch
            return xp_of(a).sinh(a)

    def backward(self, grad):
        return grad * cosh(self.inputs[0])          # d sinh x = cosh x dx


class Cosh(Function):
    name = "cosh"

    def forward(self, a):
        with np.errstate(over="ignore"):
            return xp_of(a).cosh(a)

    def backward(self, grad):
        return grad * sinh(self.inputs[0])          # d cosh x = sinh x dx


class Asin(Function):
    name = "asin"

    def forward(self, a):
        with np.errstate(invalid="ignore"):         # |x| > 1: NaN, as in PyTorch
            return xp_of(a).arcsin(a)

    def backward(self, grad):
        x = self.inputs[0]
        return grad * rsqrt(1 - x * x)              # d asin x = dx / sqrt(1 - x^2)


class Acos(Function):
    name = "acos"

    def forward(self, a):
        with np.errstate(invalid="ignore"):
            return xp_of(a).arccos(a)

    def backward(self, grad):
        x = self.inputs[0]
        return -grad * rsqrt(1 - x * x)             # d acos x = -dx / sqrt(1 - x^2)


class Atan(Function):
    name = "atan"

    def forward(self, a):
        return xp_of(a).arctan(a)

    def backward(self, grad):
        x = self.inputs[0]
        return grad / (x * x + 1)                   # d atan x = dx / (1 + x^2)


class Atan2(Function):
    """The angle of the point (x, y) = (other, input), in (-pi, pi] (torch.atan2)."""
    name = "atan2"

    def forward(self, y, x):
        return xp_of(y).arctan2(y, x)

    def backward(self, grad):
        y, x = self.inputs
        g = grad / (x * x + y * y)                  # d atan2(y, x) = (x dy - y dx) / (x^2 + y^2)
        return (g * x if self.needs_input_grad[0] else None,
                -g * y if self.needs_input_grad[1] else None)


def sin(a):
    return Sin.apply(_float(a))


def cos(a):
    return Cos.apply(_float(a))


def rsqrt(a):
    return Rsqrt.apply(_float(a))


def tan(a):
    return Tan.apply(_float(a))


def sinh(a):
    return Sinh.apply(_float(a))


def cosh(a):
    return Cosh.apply(_float(a))


def asin(a):
    """torch.asin (arcsin): in [-pi/2, pi/2]; NaN outside [-1, 1]."""
    return Asin.apply(_float(a))


def acos(a):
    """torch.acos (arccos): in [0, pi]; NaN outside [-1, 1]."""
    return Acos.apply(_float(a))


def atan(a):
    """torch.atan (arctan): in (-pi/2, pi/2)."""
    return Atan.apply(_float(a))


def atan2(input, other):
    """torch.atan2(input, other): the angle of the point (other, input), elementwise with
    broadcasting; integers give the default float dtype."""
    return binary(Atan2, input, other, float_result=True)

"""More unary math: sin, cos, rsqrt (torch.sin, torch.cos, torch.rsqrt).

Integer and bool inputs become the default float dtype first, as in PyTorch. Each
backward is written with tensor ops, so it is itself differentiable.
"""
import numpy as np

from ..autograd import Function
from ..backend import xp_of
from .elementwise import _float


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


def sin(a):
    return Sin.apply(_float(a))


def cos(a):
    return Cos.apply(_float(a))


def rsqrt(a):
    return Rsqrt.apply(_float(a))

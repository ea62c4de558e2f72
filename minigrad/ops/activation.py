"""GELU, in its exact (erf) and tanh-approximated forms."""
import math

import numpy as np

from .. import cuda_kernels
from ..autograd import Function, fused_enabled
from ..backend import xp_of
from ..errors import DTypeError, MinigradError
from ..tensor import constant
from .special import erf

_SQRT_2_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class GELU(Function):
    """x * Phi(x): the Gaussian CDF weighs each input by how likely it is to be kept."""
    name = "gelu"
    once_differentiable = True

    def forward(self, x):
        xp = xp_of(x)
        if xp is not np:                       # the GPU: one fused kernel
            return cuda_kernels.gelu_forward(x, self.approximate)
        if self.approximate == "tanh":
            inner = _SQRT_2_PI * (x + 0.044715 * x * x * x)
            self.t = xp.tanh(inner)
            return 0.5 * x * (1.0 + self.t)
        self.cdf = 0.5 * (1.0 + erf(x * _INV_SQRT_2))
        return x * self.cdf

    def backward(self, grad):
        x = self.inputs[0].data
        g = grad.data
        if xp_of(x) is not np:
            return constant(cuda_kernels.gelu_backward(x, g, self.approximate))
        if self.approximate == "tanh":
            t = self.t
            d_inner = _SQRT_2_PI * (1.0 + 3 * 0.044715 * x * x)
            local = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * d_inner
        else:
            pdf = _INV_SQRT_2PI * xp_of(x).exp(-0.5 * x * x)
            local = self.cdf + x * pdf
        return constant(g * local)


def gelu(x, approximate="none"):
    """GELU; `approximate="tanh"` is the GPT-2 form, "none" the exact erf form."""
    if approximate not in ("none", "tanh"):
        raise MinigradError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    if x.dtype.kind != "f":          # (ints went through in float64)
        raise DTypeError(f"gelu: expected a floating point tensor, got {x.dtype}")
    if not fused_enabled() and approximate == "tanh":
        inner = _SQRT_2_PI * (x + 0.044715 * x * x * x)
        return 0.5 * x * (1.0 + inner.tanh())
    return GELU.apply(x, approximate=approximate)

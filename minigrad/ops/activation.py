"""GELU (Hendrycks and Gimpel, 2016), exact and tanh-approximated, as torch.nn.functional.gelu:

    exact:  gelu(x) = x * Phi(x) = x * (1 + erf(x / sqrt(2))) / 2
    tanh:   gelu(x) = x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3))) / 2   (GPT-2)

The Gaussian CDF Phi weighs each input by how likely it is to be kept.
`gelu_reference` writes both with primitive ops; the fused kernel beside it
computes value and derivative in one pass (one CUDA kernel on the GPU).
"""
import math

import numpy as np

from .. import cuda_kernels
from ..autograd import Function
from ..backend import xp_of
from ..dtype import is_half, kind_of
from ..errors import DTypeError, MinigradError
from ..tensor import constant
from .dispatch import reference, why_not_fused
from .special import erf, erf_array

_SQRT_2_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@reference("gelu")
def gelu_reference(x, approximate="none"):
    """The formulas in this module's doc, from primitive ops (arguments as `gelu`)."""
    if approximate == "tanh":
        inner = _SQRT_2_PI * (x + 0.044715 * x * x * x)
        return 0.5 * x * (1.0 + inner.tanh())
    return 0.5 * x * (1.0 + erf(x * _INV_SQRT_2))


class GELU(Function):
    # fused kernel: equal to gelu_reference in value and gradient
    """Value and local derivative from one pass over x; the backward multiplies."""
    name = "gelu"
    once_differentiable = True
    approximate: str                 # "none" (erf) or "tanh"

    def forward(self, x):
        xp = xp_of(x)
        if xp is not np:                       # the GPU: one fused kernel
            return cuda_kernels.gelu_forward(x, self.approximate)
        with np.errstate(all="ignore"):        # -inf * 0 at x = -inf: NaN, as PyTorch
            if is_half(x.dtype):               # in float32, rounded once, as torch (1 + erf(x)
                return self._forward(x.astype(np.float32)).astype(x.dtype)   # cancels in float16)
            return self._forward(x)

    def _forward(self, x):
        if self.approximate == "tanh":
            inner = _SQRT_2_PI * (x + 0.044715 * x * x * x)
            self.t = np.tanh(inner)
            return 0.5 * x * (1.0 + self.t)
        self.cdf = 0.5 * (1.0 + erf_array(x * _INV_SQRT_2))
        return x * self.cdf

    def backward(self, grad):
        x = self.inputs[0].array
        g = grad.array
        if xp_of(x) is not np:
            return constant(cuda_kernels.gelu_backward(x, g, self.approximate))
        with np.errstate(all="ignore"):        # inf * 0 at x = +-inf: NaN, as PyTorch
            if is_half(x.dtype):               # in float32, rounded once (as forward)
                return constant((g * self._local_derivative(x.astype(np.float32))).astype(g.dtype))
            return constant(g * self._local_derivative(x))

    def _local_derivative(self, x):
        if self.approximate == "tanh":
            t = self.t
            d_inner = _SQRT_2_PI * (1.0 + 3 * 0.044715 * x * x)
            local = 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * d_inner
        else:
            pdf = _INV_SQRT_2PI * np.exp(-0.5 * x * x)
            local = self.cdf + x * pdf
        return local


def gelu(x, approximate="none"):
    """GELU of a float tensor, elementwise; same shape and dtype (torch.nn.functional.gelu).

    approximate: "none" (exact, erf) or "tanh" (the GPT-2 form).
    Raises MinigradError for another `approximate`, DTypeError for a non-float tensor.
    """
    if approximate not in ("none", "tanh"):
        raise MinigradError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    if kind_of(x.dtype) != "f":          # (ints went through in float64)
        raise DTypeError(f"gelu: expected a floating point tensor, got {x.dtype}")
    if why_not_fused("gelu", x) is not None:
        return gelu_reference(x, approximate)
    return GELU.apply(x, approximate=approximate)

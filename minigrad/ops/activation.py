"""GELU (Hendrycks and Gimpel, 2016), exact and tanh-approximated, as torch.nn.functional.gelu
(and softplus, at the end: one op, for its value's precision and its derivative at 0):

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
from .elementwise import sigmoid, where
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
            # the reference's formula, each step in place on one work array (the
            # activations are large: fewer fresh arrays and passes over memory)
            t = np.multiply(x.dtype.type(0.044715), x, out=np.empty_like(x))  # an array even
            t *= x                                                             # for 0-d x
            t *= x
            t += x
            t *= x.dtype.type(_SQRT_2_PI)           # inner = sqrt(2/pi) (x + 0.044715 x^3)
            self.t = np.tanh(t, out=t)
            y = np.add(t, x.dtype.type(1.0), out=np.empty_like(x))
            y *= x
            y *= 0.5                                 # 0.5 x (1 + t): x/2 is exact, same value
            return y
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
            local = self._local_derivative(x)
            local *= g
            return constant(local)

    def _local_derivative(self, x):
        if self.approximate == "tanh":
            # 0.5 (1 + t) + 0.5 x (1 - t^2) d_inner, d_inner = sqrt(2/pi) (1 + 3 * 0.044715 x^2),
            # in place on two work arrays
            t, one = self.t, x.dtype.type(1.0)
            d_inner = np.multiply(x, x.dtype.type(3 * 0.044715), out=np.empty_like(x))
            d_inner *= x
            d_inner += one
            d_inner *= x.dtype.type(_SQRT_2_PI)
            local = np.multiply(t, t, out=np.empty_like(x))
            np.subtract(one, local, out=local)      # 1 - t^2
            local *= x
            local *= d_inner
            np.add(t, one, out=d_inner)              # 1 + t
            local += d_inner
            local *= x.dtype.type(0.5)
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


class Softplus(Function):
    """softplus(x) = log(1 + exp(beta x)) / beta, and x itself where beta x > threshold
    (torch.nn.functional.softplus), computed without overflow or cancellation as
    (max(z, 0) + log1p(exp(-|z|))) / beta, z = beta x. Its derivative is sigmoid(z)
    (1 past the threshold), torch's: 0.5 at x = 0 (a formula built from relu and |z|
    would give their slopes at the kink, 0, there)."""
    name = "softplus"
    beta: float
    threshold: float

    def forward(self, x):
        xp = xp_of(x)
        with np.errstate(over="ignore"):
            z = x * x.dtype.type(self.beta)
            smooth = (xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))) / x.dtype.type(self.beta)
            return xp.where(z > self.threshold, x, smooth).astype(x.dtype, copy=False)

    def backward(self, grad):
        z = self.inputs[0] * self.beta
        return grad * where(z > self.threshold, 1.0, sigmoid(z))


def softplus(x, beta=1.0, threshold=20.0):
    """softplus of a float tensor elementwise (see Softplus); same shape and dtype.
    Raises DTypeError for a non-float tensor, MinigradError for beta = 0."""
    if kind_of(x.dtype) != "f":
        raise DTypeError(f"softplus: expected a floating point tensor, got {x.dtype}")
    if beta == 0:
        raise MinigradError("softplus: beta must not be 0")
    return Softplus.apply(x, beta=float(beta), threshold=float(threshold))

"""The error function, vectorised, for the exact GELU (NumPy has no erf): `erf` on
tensors (a primitive, twice-differentiable op), `erf_array` on arrays.

W. J. Cody's rational Chebyshev approximations ("Rational Chebyshev
approximations for the error function", Math. Comp. 1969), accurate to double
precision, evaluated on whole arrays in the input's dtype.
"""
import math

import numpy as np

from ..autograd import Function
from ..backend import xp_of
from ..dtype import kind_of
from ..errors import DTypeError

_A = (3.16112374387056560, 113.864154151050156, 377.485237685302021,
      3209.37758913846947, 0.185777706184603153)
_B = (23.6012909523441209, 244.024637934444173, 1282.61652607737228, 2844.23683343917062)
_C = (0.564188496988670089, 8.88314979438837594, 66.1191906371416295, 298.635138197400131,
      881.952221241769090, 1712.04761263407058, 2051.07837782607147, 1230.33935479799725,
      2.15311535474403846e-8)
_D = (15.7449261107098347, 117.693950891312499, 537.181101862009858, 1621.38957456669019,
      3290.79923573345963, 4362.61909014324716, 3439.36767414372164, 1230.33935480374942)
_P = (0.305326634961232344, 0.360344899949804439, 0.125781726111229246,
      0.0160837851487422766, 6.58749161529837803e-4, 0.0163153871373020978)
_Q = (2.56852019228982242, 1.87295284992346047, 0.527905102951428412,
      0.0605183413124413191, 0.00233520497626869185)
_SQRT_1_PI = 0.56418958354775628695


class Erf(Function):
    """erf(x) = 2/sqrt(pi) * integral_0^x exp(-t^2) dt, elementwise (torch.erf)."""
    name = "erf"

    def forward(self, x):
        return erf_array(x)

    def backward(self, grad):
        x = self.inputs[0]            # d erf / dx = 2/sqrt(pi) exp(-x^2): primitive ops, so
        return grad * ((-(x * x)).exp() * (2.0 / math.sqrt(math.pi)))   # twice differentiable


def erf(x):
    """The error function of a float tensor, elementwise; same shape and dtype (torch.erf).
    Raises DTypeError for a non-float tensor."""
    if kind_of(x.dtype) != "f":
        raise DTypeError(f"erf: expected a floating point tensor, got {x.dtype}")
    return Erf.apply(x)


def erf_array(x):
    """erf of an array, same dtype as `x`.

    float16 is computed in float32 (as PyTorch does): the polynomials below overflow
    float16's range of 65504 for |x| > 3. Every branch is evaluated on every element,
    so a branch's overflow where it is not selected is expected, and kept quiet.
    """
    if x.dtype == np.float16:
        return erf_array(x.astype(np.float32)).astype(np.float16)
    with np.errstate(all="ignore"):
        return _erf(x)


def _erf(x):
    xp = xp_of(x)
    # past |x| = 10, erfc < 1e-44: erf is +-1 in every float dtype, and clamping keeps
    # inf out of the arithmetic below (inf - inf would give erf(inf) = NaN)
    ax = xp.minimum(xp.abs(x), 10.0)
    # |x| <= 0.46875: erf directly
    small = ax <= 0.46875
    xsq = ax * ax
    num, den = _A[4] * xsq, xsq
    for i in range(3):
        num = (num + _A[i]) * xsq
        den = (den + _B[i]) * xsq
    erf_small = x * (num + _A[3]) / (den + _B[3])
    # 0.46875 < |x| <= 4: erfc by the middle approximation
    num, den = _C[8] * ax, ax
    for i in range(7):
        num = (num + _C[i]) * ax
        den = (den + _D[i]) * ax
    mid = (num + _C[7]) / (den + _D[7])
    # |x| > 4: erfc by the asymptotic approximation
    inv = 1.0 / xp.maximum(xsq, 1.0)
    num, den = _P[5] * inv, inv
    for i in range(4):
        num = (num + _P[i]) * inv
        den = (den + _Q[i]) * inv
    big = (_SQRT_1_PI - inv * (num + _P[4]) / (den + _Q[4])) / xp.maximum(ax, 1.0)
    # erfc = exp(-x^2) * rational, with x^2 split to keep its low bits
    head = xp.floor(ax * 16.0) / 16.0
    delta = (ax - head) * (ax + head)
    erfc = xp.exp(-head * head) * xp.exp(-delta) * xp.where(ax <= 4.0, mid, big)
    erf_large = xp.where(x < 0, erfc - 1.0, 1.0 - erfc)
    out = xp.where(small, erf_small, erf_large)
    return out.astype(x.dtype, copy=False)

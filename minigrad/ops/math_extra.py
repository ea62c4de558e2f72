"""Everyday elementwise math PyTorch programs reach for (issue 15, alias15): log1p,
expm1, log2, the rounding family (floor, ceil, round, trunc, sign), square, the
float tests (isnan, isinf, isclose, allclose, equal), lerp, logsumexp, clamp_min /
clamp_max and `div(rounding_mode=...)`.

log1p, expm1 and log2 are primitive ops whose backward is written with tensor ops
(so it is itself differentiable). The rounding family is piecewise constant: its
gradient is zero everywhere, as PyTorch defines it. logsumexp and lerp are built
from primitive ops, so their gradients (and gradients of gradients) come for free.
"""
import math

import numpy as np

from ..autograd import Function
from ..backend import xp_of
from ..dtype import kind_of
from ..errors import DTypeError, ShapeError
from ..tensor import Tensor
from . import division, special
from .dims import torch_dims
from .compare import isfinite
from .elementwise import _float, clip, div, exp, log, mul, operands, pow, sub, where
from .reduce import amax, normalize_axes
from .reduce import sum as _sum


# ------------------------------------------------------------------ smooth unary math
class Log1p(Function):
    """log(1 + x), accurate for small x (torch.log1p)."""
    name = "log1p"

    def forward(self, a):
        with np.errstate(all="ignore"):         # log1p(-1) = -inf, below -1 NaN
            return xp_of(a).log1p(a)

    def backward(self, grad):
        return grad / (1 + self.inputs[0])      # d log(1 + x) = dx / (1 + x)


class Expm1(Function):
    """exp(x) - 1, accurate for small x (torch.expm1)."""
    name = "expm1"

    def forward(self, a):
        with np.errstate(all="ignore"):         # overflow gives inf, as in PyTorch
            return xp_of(a).expm1(a)

    def backward(self, grad):
        return grad * exp(self.inputs[0])       # d (e^x - 1) = e^x dx


class Log2(Function):
    name = "log2"

    def forward(self, a):
        with np.errstate(all="ignore"):
            return xp_of(a).log2(a)

    def backward(self, grad):
        return grad / (self.inputs[0] * math.log(2.0))   # d log2 x = dx / (x ln 2)


def log1p(a):
    """torch.log1p: log(1 + a) elementwise; integers give the default float dtype."""
    return Log1p.apply(_float(a))


def expm1(a):
    """torch.expm1: exp(a) - 1 elementwise; integers give the default float dtype."""
    return Expm1.apply(_float(a))


def log2(a):
    """torch.log2: the base-2 logarithm elementwise; integers give the default float dtype."""
    return Log2.apply(_float(a))


def square(a):
    """torch.square: a * a (integers stay integers; bool becomes int64, as in torch)."""
    if isinstance(a, Tensor) and a.dtype == np.bool_:
        a = a.astype(np.int64)
    return pow(a, 2)


def erf(a):
    """torch.erf, which also takes integer tensors (they become the default float dtype)."""
    return special.erf(_float(a))


# ------------------------------------------------------------------ rounding: zero gradient
class Rounding(Function):
    """A piecewise-constant op (floor, ceil, trunc, round, sign): the gradient is zero
    everywhere, as PyTorch defines it (not the undefined derivative at the jumps)."""
    name = "rounding"
    saves_inputs = False
    kind: str
    decimals: int = 0

    def forward(self, a):
        xp = xp_of(a)
        if self.kind == "round" and self.decimals:
            scale = a.dtype.type(10.0 ** self.decimals)   # torch: round(x * 10^d) / 10^d
            with np.errstate(all="ignore"):
                return xp.round(a * scale) / scale
        return getattr(xp, {"round": "round", "floor": "floor", "ceil": "ceil",
                            "trunc": "trunc", "sign": "sign"}[self.kind])(a)

    def backward(self, grad):
        return Tensor._make(grad.xp.zeros(grad.shape, grad.dtype), False, None)


def _rounding(kind, a, decimals=0):
    if not isinstance(a, Tensor):
        a = Tensor(a)
    if a.dtype.kind in "biu":
        if kind == "sign" and a.dtype.kind in "iu":
            return Tensor._make(a.xp.sign(a.array), False, None)
        if kind == "round" and decimals:
            raise DTypeError(f"round: decimals={decimals} is not supported for integer "
                             f"tensors (got {a.dtype}), as in torch")
        return Tensor._make(a.array.copy(), False, None)   # integers are already whole
    return Rounding.apply(a, kind=kind, decimals=int(decimals))


def floor(a):
    """torch.floor: the largest integer <= a, same dtype; gradient zero."""
    return _rounding("floor", a)


def ceil(a):
    """torch.ceil: the smallest integer >= a, same dtype; gradient zero."""
    return _rounding("ceil", a)


def trunc(a):
    """torch.trunc: a rounded toward zero, same dtype; gradient zero."""
    return _rounding("trunc", a)


def round(a, decimals=0):
    """torch.round: to the nearest integer, halves to even (as torch); `decimals` digits
    after the point when given (round(a * 10^d) / 10^d, as torch). Gradient zero."""
    return _rounding("round", a, decimals)


def sign(a):
    """torch.sign: -1, 0 or 1 (NaN stays NaN), same dtype; gradient zero."""
    return _rounding("sign", a)


# ------------------------------------------------------------------ float tests
def isnan(a):
    """torch.isnan: a bool tensor, True where a is NaN (never for integers)."""
    return Tensor._make(a.xp.isnan(a.array) if kind_of(a.dtype) in "fc" else
                        a.xp.zeros(a.shape, np.bool_), False, None)


def isinf(a):
    """torch.isinf: a bool tensor, True where a is +inf or -inf (never for integers)."""
    return Tensor._make(a.xp.isinf(a.array) if kind_of(a.dtype) in "fc" else
                        a.xp.zeros(a.shape, np.bool_), False, None)


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """torch.isclose: |a - b| <= atol + rtol * |b| elementwise (broadcast); infinities are
    close only to themselves, NaN to NaN only with equal_nan. A bool tensor; no gradient.
    Raises ShapeError when the shapes do not broadcast."""
    a, b = operands(a, b)
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ShapeError(f"isclose: shapes {tuple(a.shape)} and {tuple(b.shape)} do not "
                         "broadcast") from None
    xp = a.xp
    if a.dtype.kind in "biu":                   # integers: exact comparison is closeness
        x, y = a.array.astype(np.float64), b.array.astype(np.float64)
    else:
        x, y = a.array, b.array
    with np.errstate(all="ignore"):
        out = xp.isclose(x, y, rtol=rtol, atol=atol, equal_nan=equal_nan)
    return Tensor._make(xp.asarray(out), False, None)


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """torch.allclose: whether isclose holds everywhere, as a Python bool."""
    return bool(isclose(a, b, rtol, atol, equal_nan).array.all())


def equal(a, b):
    """torch.equal: True if a and b have the same shape and the same values (a Python bool;
    NaN is never equal)."""
    if tuple(a.shape) != tuple(b.shape):
        return False
    return bool((a.array == b.array).all())


# ------------------------------------------------------------------ composites
def lerp(start, end, weight):
    """torch.lerp: start + weight * (end - start), broadcast; `weight` a number or a tensor.
    Differentiable in all three. Raises DTypeError for non-float tensors (as torch)."""
    for t in (start, end, weight):
        if isinstance(t, Tensor) and kind_of(t.dtype) != "f":
            raise DTypeError(f"lerp: expected floating point tensors, got {t.dtype}")
    return start + mul(sub(end, start), weight)


@torch_dims
def logsumexp(a, axis=None, keepdims=False):
    """torch.logsumexp(input, dim, keepdim=False): log(sum(exp(a))) over `dim`, stable (the
    maximum is subtracted first). Integers give the default float dtype; float16 and
    bfloat16 accumulate in float32 and round once (as torch on the CPU). dim=None
    reduces every dimension. Gradient: softmax(a) along dim."""
    a = _float(a)
    half = a.dtype.itemsize == 2
    x = a.astype(np.float32) if half else a
    axes = normalize_axes(axis, x.ndim, "logsumexp") if x.ndim else ()
    if not axes:                                 # nothing reduced: log(exp(x)) = x
        out = x * 1
    elif x.numel() == 0:
        shape = tuple(1 if i in axes else s for i, s in enumerate(x.shape)) if keepdims \
            else tuple(s for i, s in enumerate(x.shape) if i not in axes)
        out = Tensor._make(x.xp.full(shape, -np.inf, x.dtype), False, None)
    else:
        m = amax(x.detach(), axis=axes, keepdims=True)
        # an all -inf (or +inf) slice: shift by 0, so that -inf - -inf does not give NaN
        m = where(isfinite(m), m, 0.0)
        out = log(_sum(exp(x - m), axis=axes, keepdims=True)) + m
        if not keepdims:
            out = out.squeeze(axes)
    return out.astype(a.dtype) if half else out


def clamp_min(a, min):
    """torch.clamp_min: clamp(a, min=min)."""
    return clip(a, min=min)


def clamp_max(a, max):
    """torch.clamp_max: clamp(a, max=max)."""
    return clip(a, max=max)


def div_mode(a, b, rounding_mode=None):
    """torch.div(a, b, rounding_mode=None): true division; 'trunc' rounds the quotient
    toward zero, 'floor' down (integer tensors stay integer then, and a zero integer
    divisor raises DivisionByZeroError). The rounded forms have zero gradient."""
    if rounding_mode is None:
        return div(a, b)
    if rounding_mode == "floor":
        return division.floor_divide(a, b)
    if rounding_mode != "trunc":
        raise ValueError(f"div: rounding_mode must be None, 'trunc' or 'floor', got "
                         f"{rounding_mode!r}")
    x, y = operands(a, b)
    if x.dtype.kind in "iu" and y.dtype.kind in "iu":
        q = division.floor_divide(x, y)          # checks for zero divisors
        # floor and trunc differ by one where the division is inexact and the signs differ
        inexact = (q.array * y.array != x.array) & ((x.array < 0) != (y.array < 0))
        return Tensor._make((q.array + inexact).astype(q.dtype), False, None)
    return trunc(div(x, y))


def count_nonzero(a, dim=None):
    """torch.count_nonzero(input, dim=None): how many entries are not zero (int64)."""
    axes = None if dim is None else normalize_axes(dim, a.ndim, "count_nonzero")
    return Tensor._make(a.xp.asarray((a.array != 0).sum(axis=axes), dtype=np.int64), False, None)


def add_alpha(a, b, alpha=1):
    """torch.add(input, other, alpha=1): input + alpha * other."""
    return a + (b if alpha == 1 else mul(b, alpha))


def sub_alpha(a, b, alpha=1):
    """torch.sub(input, other, alpha=1): input - alpha * other."""
    return sub(a, b if alpha == 1 else mul(b, alpha))

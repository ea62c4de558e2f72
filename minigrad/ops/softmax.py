"""Softmax and log-softmax over one axis, numerically stable.

    softmax(x)_i     = exp(x_i - m) / sum_j exp(x_j - m),   m = max_j x_j
    log_softmax(x)_i = (x_i - m) - log sum_j exp(x_j - m)

Subtracting the row maximum m changes nothing mathematically and keeps exp from
overflowing. A softmax row whose entries are all -inf (every key masked) gives
zeros, not NaN: it is shifted by 0 and divided by 1. (PyTorch's `softmax` gives
NaN there; its attention gives 0, as ours does.) log_softmax of such a row is
NaN, and a row holding +inf or NaN is all NaN, as in PyTorch.

Each op has its reference (`softmax_reference`, `log_softmax_reference`) made of
primitive ops, and a fused kernel beside it; `dispatch.why_not_fused` picks.

float16 and bfloat16 inputs are computed in float32 and the result rounded once to the
input's dtype, as PyTorch does on the CPU (a row sum of exponentials in float16 loses
the small terms, and 1/sum underflows for long rows).
"""
import math

import numpy as np

from ..amp.autocast_mode import autocast_op
from ..autograd import Function, is_grad_enabled
from ..backend import xp_of
from ..dtype import is_half, kind_of
from ..errors import DTypeError
from ..tensor import constant
from .dims import torch_dims
from .dispatch import reference, why_not_fused
from .elementwise import where
from .reduce import normalize_axes


def _row_max(x, axis):
    """The row maxima of `x` as a constant, 0 on a row of only -inf (which then stays
    -inf instead of becoming -inf - -inf = NaN). A row holding +inf or NaN comes out
    all NaN, as in PyTorch."""
    if x.shape[axis] == 0:           # an empty row has no maximum (and needs no shift)
        return 0.0
    m = x.amax(axis, keepdims=True).detach()
    return where(m == -math.inf, 0.0, m)


# ------------------------------------------------------------------ softmax
@reference("softmax")
def softmax_reference(x, axis=-1):
    """softmax(x) over `axis` from primitive ops (the formula in this module's doc)."""
    e = (x - _row_max(x, axis)).exp()
    total = e.sum(axis, keepdims=True)
    return e / where(total == 0, 1.0, total)       # an all -inf row: 0 / 1, not 0 / 0


def softmax_(s, axis):
    """Softmax of the array `s` over `axis`, in place (`s` must be an array of one's own).

    The same steps as softmax_reference, without a temporary per step. The fused
    attention calls it on its freshly computed scores.
    """
    xp = xp_of(s)
    with np.errstate(invalid="ignore"):   # a row holding +inf or NaN: NaN, as PyTorch
        if s.size:                   # an empty axis has no maximum (and needs no shift)
            m = s.max(axis=axis, keepdims=True)
            # copyto(where=), not m[m == -inf] = 0: a boolean assignment waits for the GPU
            xp.copyto(m, 0, where=m == -np.inf)
            s -= m
        xp.exp(s, out=s)
        total = s.sum(axis=axis, keepdims=True)
        xp.copyto(total, 1, where=total == 0)
        s /= total
    return s


class Softmax(Function):
    # fused kernel: equal to softmax_reference in value and gradient
    """y = softmax(x); backward dx = y * (dy - sum(y * dy)), from y alone. Differentiable
    twice: when the backward is itself recorded, it uses softmax_reference's ops (so the
    step-by-step attention, which records softmax as this one op, is too)."""
    name = "softmax"
    saves_output = True          # backward reads the result
    axis: int                        # settings of this op, given to apply() as keywords

    def forward(self, x):
        self.out = softmax_(x.copy(), self.axis)
        return self.out

    def backward(self, grad):
        if is_grad_enabled():            # create_graph: the same formula, on the graph
            y = softmax_reference(self.inputs[0], self.axis)
            gy = grad * y
            return gy - y * gy.sum(self.axis, keepdims=True)
        y, g = self.out, grad.array
        gy = g * y
        return constant(gy - y * gy.sum(axis=self.axis, keepdims=True))


# ------------------------------------------------------------------ log_softmax
@reference("log_softmax")
def log_softmax_reference(x, axis=-1):
    """log(softmax(x)) over `axis` from primitive ops, without ever taking log(0) of a
    kept entry: (x - m) - log(sum(exp(x - m)))."""
    z = x - _row_max(x, axis)
    return z - z.exp().sum(axis, keepdims=True).log()


def _shifted(x, axis):
    """The array x - max(x) (max taken as 0 on rows of only -inf), as _row_max."""
    if x.size == 0:                  # an empty axis has no maximum (and needs no shift)
        return x
    m = x.max(axis=axis, keepdims=True)
    xp_of(m).copyto(m, 0, where=m == -np.inf)          # no boolean assignment: see softmax_
    with np.errstate(invalid="ignore"):   # +inf - +inf: NaN, as PyTorch
        return x - m


class LogSoftmax(Function):
    # fused kernel: equal to log_softmax_reference in value and gradient
    """y = log_softmax(x); backward dx = dy - exp(y) * sum(dy), from y alone."""
    name = "log_softmax"
    saves_output = True          # backward reads the result
    once_differentiable = True
    axis: int

    def forward(self, x):
        xp = xp_of(x)
        z = _shifted(x, self.axis)
        if z.size == 0:              # no entries: log of an empty sum would warn
            self.out = z.copy()
            return self.out
        s = xp.exp(z).sum(axis=self.axis, keepdims=True)
        with np.errstate(all="ignore"):          # an all -inf row: log 0, then NaN
            self.out = z - xp.log(s)
        return self.out

    def backward(self, grad):
        g = grad.array
        p = xp_of(g).exp(self.out)
        return constant(g - p * g.sum(axis=self.axis, keepdims=True))


# ------------------------------------------------------------------ the public functions
def _axis(x, axis, op):
    if kind_of(x.dtype) != "f":
        raise DTypeError(f"{op}: expected a floating point tensor, got {x.dtype}")
    return normalize_axes(axis, x.ndim, op)[0] if x.ndim else None


@torch_dims
@autocast_op("float32")
def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) over `axis` (torch.softmax's `dim`), stable; same shape and
    dtype as `x`. Raises DTypeError for a non-float `x`, ShapeError for a bad axis."""
    axis = _axis(x, axis, "softmax")
    if is_half(x.dtype):             # in float32, rounded once (module doc)
        return softmax(x.astype(np.float32), axis).astype(x.dtype)
    if x.ndim == 0:                  # one element, as a 1-element row (PyTorch gives 1)
        return softmax(x.reshape(1), 0).reshape(())
    if why_not_fused("softmax", x) is None:
        return Softmax.apply(x, axis=axis)
    return softmax_reference(x, axis)


@torch_dims
@autocast_op("float32")
def log_softmax(x, axis=-1):
    """log(softmax(x)) over `axis` (torch.log_softmax), stable; same shape and dtype as
    `x`. Raises DTypeError for a non-float `x`, ShapeError for a bad axis."""
    axis = _axis(x, axis, "log_softmax")
    if is_half(x.dtype):             # in float32, rounded once (module doc)
        return log_softmax(x.astype(np.float32), axis).astype(x.dtype)
    if x.ndim == 0:
        return log_softmax(x.reshape(1), 0).reshape(())
    if why_not_fused("log_softmax", x) is None:
        return LogSoftmax.apply(x, axis=axis)
    return log_softmax_reference(x, axis)

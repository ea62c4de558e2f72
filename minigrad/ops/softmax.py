"""Softmax and log-softmax, stable: subtract the row maximum before exp.

A row whose entries are all -inf (every key masked) gives zeros, not NaN.
"""
from ..autograd import Function, fused_enabled
from ..backend import xp_of
from ..errors import DTypeError
from ..tensor import constant
from .reduce import normalize_axes


def _shifted(x, axis):
    """x - max(x), with rows of all -inf shifted by 0 so they stay -inf."""
    xp = xp_of(x)
    if x.size == 0:                  # an empty axis has no maximum (and needs no shift)
        return x
    m = x.max(axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0).astype(x.dtype, copy=False)
    return x - m


def softmax_(s, axis):
    """Softmax of `s` over `axis`, computed in place (`s` must be an array of one's own).

    Stable: each row is shifted by its maximum first. A row of all -inf (every key
    masked) is shifted by 0 and ends as zeros (0 / 1), not NaN.
    """
    xp = xp_of(s)
    if s.size:                       # an empty axis has no maximum (and needs no shift)
        m = s.max(axis=axis, keepdims=True)
        m[~xp.isfinite(m)] = 0
        s -= m
    xp.exp(s, out=s)
    total = s.sum(axis=axis, keepdims=True)
    total[total == 0] = 1
    s /= total
    return s


class Softmax(Function):
    name = "softmax"
    once_differentiable = True

    def forward(self, x):
        self.out = softmax_(x.copy(), self.axis)
        return self.out

    def backward(self, grad):
        y, g = self.out, grad.data
        gy = g * y
        return constant(gy - y * gy.sum(axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    name = "log_softmax"
    once_differentiable = True

    def forward(self, x):
        xp = xp_of(x)
        z = _shifted(x, self.axis)
        if z.size == 0:              # no entries: log of an empty sum would warn
            self.out = z.copy()
            return self.out
        s = xp.exp(z).sum(axis=self.axis, keepdims=True)
        self.out = z - xp.log(s)
        return self.out

    def backward(self, grad):
        g = grad.data
        p = xp_of(g).exp(self.out)
        return constant(g - p * g.sum(axis=self.axis, keepdims=True))


def _axis(x, axis, op):
    if x.dtype.kind != "f":
        raise DTypeError(f"{op}: expected a floating point tensor, got {x.dtype}")
    return normalize_axes(axis, x.ndim, op)[0] if x.ndim else None


def softmax(x, axis=-1):
    axis = _axis(x, axis, "softmax")
    if x.ndim == 0:                  # one element, as a 1-element row (PyTorch gives 1)
        return softmax(x.reshape(1), 0).reshape(())
    if not fused_enabled() and x.size:      # (an empty tensor has no max: the kernel copes)
        e = (x - x.max(axis, keepdims=True).detach()).exp()
        return e / e.sum(axis, keepdims=True)
    return Softmax.apply(x, axis=axis)


def log_softmax(x, axis=-1):
    axis = _axis(x, axis, "log_softmax")
    if x.ndim == 0:
        return log_softmax(x.reshape(1), 0).reshape(())
    if not fused_enabled() and x.size:
        z = x - x.max(axis, keepdims=True).detach()
        return z - z.exp().sum(axis, keepdims=True).log()
    return LogSoftmax.apply(x, axis=axis)

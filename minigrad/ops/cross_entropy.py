"""Cross-entropy fused with log-softmax.

Fusing pays twice: the loss never exponentiates a large logit (stable), and
the gradient is simply softmax(logits) - target distribution, computed in one
pass over the logits.
"""
import numpy as np

from ..autograd import Function, fused_enabled
from ..backend import xp_of
from ..errors import DTypeError, IndexOutOfRangeError, MinigradError, ShapeError
from ..tensor import Tensor, constant
from .softmax import _shifted


class CrossEntropy(Function):
    """logits (N, C), targets (N,) -> per-row loss or its sum / mean."""
    name = "cross_entropy"
    once_differentiable = True

    def forward(self, logits):
        xp = xp_of(logits)
        n, c = logits.shape
        eps = self.label_smoothing
        keep = self.targets != self.ignore_index
        safe_t = xp.where(keep, self.targets, 0)
        z = _shifted(logits, 1)                           # logits - row max
        p = xp.exp(z)
        ones = xp.ones(c, dtype=logits.dtype)
        total = p @ ones                                  # row sums through BLAS
        p /= total[:, None]                               # softmax, kept for backward
        lse = xp.log(total)
        picked = z[xp.arange(n), safe_t] - lse            # log-probability of the target
        loss = -(1.0 - eps) * picked
        if eps:                                           # smoothing: mean log-probability
            loss -= (eps / c) * (z @ ones - c * lse)
        w = keep.astype(logits.dtype)
        loss *= w
        self.p, self.safe_t, self.w = p, safe_t, w
        if self.reduction == "none":
            return loss
        total = loss.sum()
        if self.reduction == "sum":
            return total
        self.count = float(w.sum())
        return total / logits.dtype.type(self.count) if self.count else total * logits.dtype.type(np.nan)

    def backward(self, grad):
        """d loss / d logits = softmax - target distribution, row-weighted."""
        xp = xp_of(self.p)
        g = grad.data
        n, c = self.p.shape
        d = self.p if not getattr(self, "retained", True) else self.p.copy()
        eps = self.label_smoothing
        if eps:
            d -= eps / c
        d[xp.arange(n), self.safe_t] -= (1.0 - eps)
        if self.reduction == "mean":
            scale = self.w * (g / g.dtype.type(self.count) if self.count else g * 0)
        else:
            scale = self.w * g
        d *= scale[:, None]
        return constant(d)


def cross_entropy(logits, targets, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
    """Cross-entropy of raw logits (N, C) or (N, C, d1, ...) against class ids (N,) or (N, d1, ...)."""
    if reduction not in ("mean", "sum", "none"):
        raise MinigradError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise MinigradError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    if logits.dtype.kind != "f":
        raise DTypeError(f"cross_entropy: logits must be floating point, got {logits.dtype}")
    if logits.dtype == np.float16:   # a row's sum of log-probabilities passes float16's 65504 at
        return cross_entropy(        # logits of 1e4: compute in float32, round once (as PyTorch)
            logits.astype(np.float32), targets, ignore_index, label_smoothing,
            reduction).astype(np.float16)
    t = targets.data if isinstance(targets, Tensor) else xp_of(logits.data).asarray(targets)
    if t.dtype.kind not in "iu":
        raise DTypeError(f"cross_entropy: targets must be integer class ids, got dtype {t.dtype}")
    if logits.ndim < 1 or logits.ndim == 1 and t.ndim != 0 or \
            logits.ndim > 1 and (t.shape != logits.shape[:1] + logits.shape[2:]):
        raise ShapeError(f"cross_entropy: logits of shape {tuple(logits.shape)} need targets of "
                         f"shape {tuple(logits.shape[:1] + logits.shape[2:])}, got {tuple(t.shape)}")
    c = logits.shape[1] if logits.ndim > 1 else logits.shape[0]
    valid = t[t != ignore_index]
    if valid.size and (int(valid.min()) < 0 or int(valid.max()) >= c):
        bad = int(valid.max()) if int(valid.max()) >= c else int(valid.min())
        raise IndexOutOfRangeError(f"cross_entropy: target {bad} is out of range for {c} classes")
    out_shape = t.shape
    if logits.ndim == 1:                                  # one sample
        logits, t = logits.reshape(1, c), t.reshape(1)
    elif logits.ndim > 2:                                 # (N, C, d...) -> (N*d..., C)
        logits = logits.permute(0, *range(2, logits.ndim), 1).reshape(t.size, c)
        t = t.reshape(-1)
    if c == 0:              # no classes, so every target is ignore_index (others raised above)
        rows = logits.sum(axis=1)                         # zeros, on the logits' graph
        if label_smoothing:                               # the mean of no log-probabilities
            rows = rows * float("nan")
        if reduction == "none":
            return rows.reshape(out_shape)
        nan = label_smoothing or reduction == "mean"      # 0 / 0, even over no rows at all
        return rows.sum() * (float("nan") if nan else 1.0)
    if not fused_enabled():
        return _cross_entropy_reference(logits, t, ignore_index, label_smoothing, reduction, out_shape)
    out = CrossEntropy.apply(logits, targets=t, ignore_index=ignore_index,
                             label_smoothing=float(label_smoothing), reduction=reduction)
    return out.reshape(out_shape) if reduction == "none" else out


def _cross_entropy_reference(logits, t, ignore_index, eps, reduction, out_shape):
    """The same loss from primitive ops (used to check the fused kernel)."""
    from .softmax import log_softmax
    from .index import getitem
    xp = xp_of(logits.data)
    n, c = logits.shape
    logp = log_softmax(logits, -1)
    keep = t != ignore_index
    picked = getitem(logp, (xp.arange(n), xp.where(keep, t, 0)))
    loss = -(1.0 - eps) * picked - (eps / c) * logp.sum(-1)
    w = constant(keep.astype(logits.dtype))
    loss = loss * w
    if reduction == "none":
        return loss.reshape(out_shape)
    if reduction == "sum":
        return loss.sum()
    return loss.sum() / float(keep.sum())

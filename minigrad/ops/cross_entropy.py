"""Cross-entropy of raw logits against class ids, as torch.nn.functional.cross_entropy:

    loss_n = -(1 - eps) * log p_n[t_n] - (eps / C) * sum_c log p_n[c],   p_n = softmax(logits_n)

with label smoothing eps (Szegedy et al., 2016), rows whose target is `ignore_index`
weighing 0, and the mean taken over the rows that count. `cross_entropy_reference`
writes it with log_softmax and indexing; the fused kernel beside it pays twice: the
loss never exponentiates a large logit, and the gradient, softmax - target
distribution, comes out of one pass over the logits.
"""
import numpy as np

from ..amp.autocast_mode import autocast_op
from ..autograd import Function
from ..backend import int_range, xp_of
from ..dtype import is_half, kind_of
from ..errors import DTypeError, IndexOutOfRangeError, MinigradError, ShapeError
from ..tensor import constant, operand_array
from .dispatch import reference, why_not_fused
from .index import getitem
from .softmax import _shifted, log_softmax_reference


@reference("cross_entropy")
def cross_entropy_reference(logits, targets, ignore_index=-100, label_smoothing=0.0,
                            reduction="mean"):
    """The formula in this module's doc, from primitive ops (arguments as cross_entropy)."""
    logits, t, out_shape, no_classes = _rows(logits, targets, ignore_index, label_smoothing,
                                             reduction)
    if no_classes is not None:
        return no_classes
    eps, (n, c) = label_smoothing, logits.shape
    xp = xp_of(logits.array)
    keep = t != ignore_index                          # rows that count
    logp = log_softmax_reference(logits, -1)                                    # (N, C)
    picked = getitem(logp, (xp.arange(n), xp.where(keep, t, 0)))         # (N,) log p[t]
    loss = -(1.0 - eps) * picked
    if eps:                          # (not 0 * sum: a -inf logit would make it NaN)
        loss = loss - (eps / c) * logp.sum(-1)
    loss = loss * constant(keep.astype(logits.dtype))  # ignored rows weigh 0
    if reduction == "none":
        return loss.reshape(out_shape)
    if reduction == "sum":
        return loss.sum()
    count = int(keep.sum())
    if count == 0:          # the mean over no rows: NaN, as PyTorch, with a zero gradient
        return loss.sum() + float("nan")
    return loss.sum() / float(count)


class CrossEntropy(Function):
    # fused kernel: equal to cross_entropy_reference in value and gradient
    """logits (N, C), targets (N,) -> per-row loss or its sum / mean."""
    name = "cross_entropy"
    once_differentiable = True
    saves_inputs = False             # backward reads the softmax it kept, not the logits
    targets: object                  # (N,) int array of class ids
    ignore_index: int
    label_smoothing: float
    reduction: str                   # "mean", "sum" or "none"

    def forward(self, logits):
        xp = xp_of(logits)
        n, c = logits.shape
        eps = self.label_smoothing
        keep = self.targets != self.ignore_index
        safe_t = xp.where(keep, self.targets, 0)
        z = _shifted(logits, 1)                           # logits - row max
        ones = xp.ones(c, dtype=logits.dtype)
        z_target = z[xp.arange(n), safe_t]                # what exp is about to overwrite:
        z_sum = z @ ones if eps else None                 # (one (N, C) array, not two)
        p = xp.exp(z, out=z) if z is not logits else xp.exp(z)
        total = p @ ones                                  # row sums through BLAS
        p /= total[:, None]                               # softmax, kept for backward
        lse = xp.log(total)
        picked = z_target - lse                           # log-probability of the target
        loss = -(1.0 - eps) * picked
        if eps:                                           # smoothing: mean log-probability
            loss -= (eps / c) * (z_sum - c * lse)
        w = keep.astype(logits.dtype)
        loss *= w
        self.p, self.safe_t, self.w = p, safe_t, w
        if self.reduction == "none":
            return loss
        total = loss.sum()
        if self.reduction == "sum":
            return total
        if xp is not np:                 # the count stays on the GPU: no wait for it here
            self.count = w.sum()         # (0 rows: 0 / 0 = NaN, and a zero gradient below)
            return total / self.count
        self.count = float(w.sum())
        return total / logits.dtype.type(self.count) if self.count else total * logits.dtype.type(np.nan)

    def backward(self, grad):
        """d loss / d logits = softmax - target distribution, row-weighted."""
        xp = xp_of(self.p)
        g = grad.array
        n, c = self.p.shape
        d = self.p if not getattr(self, "retained", True) else self.p.copy()
        eps = self.label_smoothing
        if eps:
            d -= eps / c
        d[xp.arange(n), self.safe_t] -= (1.0 - eps)
        if self.reduction == "mean" and xp is not np:
            scale = self.w * xp.where(self.count > 0, g / xp.maximum(self.count, 1), 0)
        elif self.reduction == "mean":
            scale = self.w * (g / g.dtype.type(self.count) if self.count else g * 0)
        else:
            scale = self.w * g
        d *= scale[:, None]
        return constant(d)


@autocast_op("float32")
def cross_entropy(logits, targets, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
    """Cross-entropy of raw logits (N, C) or (N, C, d1, ...) against class ids (N,) or
    (N, d1, ...) (or one sample: logits (C,), a 0-d target), as
    torch.nn.functional.cross_entropy.

    Returns a 0-d tensor (reduction "mean" or "sum") or the per-target losses shaped as
    `targets` ("none"), in the logits' dtype (float16/bfloat16 computed in float32). The mean of
    no counted targets is NaN (with a zero gradient), as PyTorch.
    Raises DTypeError (non-float logits, non-integer targets), ShapeError (shapes that do
    not fit), IndexOutOfRangeError (a target outside [0, C)), MinigradError (reduction,
    label_smoothing).
    """
    if is_half(logits.dtype):        # a row's sum of log-probabilities passes float16's 65504 at
        _check_settings(logits, label_smoothing, reduction)   # logits of 1e4: compute in
        return cross_entropy(                                  # float32, round once (as PyTorch)
            logits.astype(np.float32), targets, ignore_index, label_smoothing,
            reduction).astype(logits.dtype)
    if why_not_fused("cross_entropy", logits) is not None:
        return cross_entropy_reference(logits, targets, ignore_index, label_smoothing, reduction)
    logits, t, out_shape, no_classes = _rows(logits, targets, ignore_index, label_smoothing,
                                             reduction)
    if no_classes is not None:
        return no_classes
    out = CrossEntropy.apply(logits, targets=t, ignore_index=ignore_index,
                             label_smoothing=float(label_smoothing), reduction=reduction)
    return out.reshape(out_shape) if reduction == "none" else out


def _check_settings(logits, label_smoothing, reduction):
    if reduction not in ("mean", "sum", "none"):
        raise MinigradError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if not 0.0 <= label_smoothing <= 1.0:
        raise MinigradError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    if kind_of(logits.dtype) != "f":
        raise DTypeError(f"cross_entropy: logits must be floating point, got {logits.dtype}")


def _rows(logits, targets, ignore_index, label_smoothing, reduction):
    """Check the arguments; return logits as (rows, C), targets as (rows,) ids, the shape
    of the per-target losses, and the result itself when there are no classes (else None)."""
    _check_settings(logits, label_smoothing, reduction)
    t = operand_array(targets, logits, "cross_entropy", "target")
    if t.dtype.kind not in "iu":
        raise DTypeError(f"cross_entropy: targets must be integer class ids, got dtype {t.dtype}")
    if logits.ndim < 1 or logits.ndim == 1 and t.ndim != 0 or \
            logits.ndim > 1 and (t.shape != logits.shape[:1] + logits.shape[2:]):
        raise ShapeError(f"cross_entropy: logits of shape {tuple(logits.shape)} need targets of "
                         f"shape {tuple(logits.shape[:1] + logits.shape[2:])}, got {tuple(t.shape)}")
    c = logits.shape[1] if logits.ndim > 1 else logits.shape[0]
    bounds = int_range(t, ignore_index)
    if bounds is not None and (bounds[0] < 0 or bounds[1] >= c):
        bad = bounds[1] if bounds[1] >= c else bounds[0]
        raise IndexOutOfRangeError(f"cross_entropy: target {bad} is out of range for {c} classes")
    out_shape = t.shape
    if logits.ndim == 1:                                  # one sample
        logits, t = logits.reshape(1, c), t.reshape(1)
    elif logits.ndim > 2:                                 # (N, C, d...) -> (N*d..., C)
        logits = logits.permute(0, *range(2, logits.ndim), 1).reshape(t.size, c)
        t = t.reshape(-1)
    if c:
        return logits, t, out_shape, None
    # no classes, so every target is ignore_index (others raised above)
    rows = logits.sum(axis=1)                             # zeros, on the logits' graph
    if label_smoothing:                                   # the mean of no log-probabilities
        rows = rows * float("nan")
    if reduction == "none":
        return logits, t, out_shape, rows.reshape(out_shape)
    nan = label_smoothing or reduction == "mean"          # 0 / 0, even over no rows at all
    return logits, t, out_shape, rows.sum() * (float("nan") if nan else 1.0)

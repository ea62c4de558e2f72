"""PyTorch's functional API (`import minigrad.nn.functional as F`), with torch's signatures.

The fused ops of `minigrad.ops` (softmax, layer_norm, dropout, cross_entropy,
attention, ...) are re-exported under their torch names; the rest are written
here from primitive ops, readably, so autograd differentiates them for free:
silu, pad, normalize, one_hot, nll_loss, mse_loss, l1_loss, kl_div,
binary_cross_entropy(_with_logits). Each names its `torch.nn.functional`
counterpart; differences from torch are listed in docs/torch_compat.md.

The losses (`_reduce`) share torch's `reduction` argument: 'mean' (default),
'sum' or 'none' (kl_div also 'batchmean'). Over float16/bfloat16 input they compute in
float32 and round the loss once to the input's dtype (as PyTorch's CPU kernels, which
accumulate in float32); under `minigrad.autocast` they run in float32 and return float32
(torch.autocast's float32 list).
"""
import functools
import math

import numpy as np

from minigrad import methods as _methods
from minigrad import ops as _ops
from minigrad.amp.autocast_mode import autocast_op
from minigrad.backend import int_range, xp_of
from minigrad.dtype import is_half, kind_of
from minigrad.errors import DTypeError, IndexOutOfRangeError, MinigradError, ShapeError
from minigrad.ops import scaled_dot_product_attention, sigmoid, tanh  # noqa: F401
from minigrad.ops.linalg import matmul  # noqa: F401
from minigrad.ops.linear import linear as _linear
from minigrad.tensor import Tensor, constant

# ---------------------------------------------------------------- activations


def _in_place(name, fn, input, *args):
    """fn(input, *args) written into `input` (an activation's inplace=True), as the Tensor
    methods' in-place forms do (minigrad/methods.py): recorded on input's old value when
    autograd records (kept for the backward only if it reads it), refused on a leaf that
    requires grad, straight into memory otherwise. Returns input."""
    return _methods.in_place(name, lambda t: fn(t, *args))(input)


def relu(input, inplace=False):
    """max(input, 0) (torch.nn.functional.relu; inplace=True writes into input)."""
    if inplace:
        return _in_place("relu_", relu, input)
    return _ops.relu(input)


def gelu(input, approximate="none"):
    """x * Phi(x); approximate='tanh' is the GPT-2 form (torch.nn.functional.gelu)."""
    if approximate not in ("none", "tanh"):
        raise MinigradError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _ops.gelu(input, approximate)


def silu(input, inplace=False):
    """x * sigmoid(x), also called swish (torch.nn.functional.silu)."""
    if inplace:
        return _in_place("silu_", silu, input)
    return input * _ops.sigmoid(input)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x for x > 0, negative_slope * x otherwise (torch.nn.functional.leaky_relu; the
    gradient at 0 is negative_slope, as torch's)."""
    if inplace:
        return _in_place("leaky_relu_", leaky_relu, input, negative_slope)
    return _ops.where(input > 0, input, input * negative_slope)


def elu(input, alpha=1.0, inplace=False):
    """x for x > 0, alpha * (exp(x) - 1) otherwise (torch.nn.functional.elu)."""
    if inplace:
        return _in_place("elu_", elu, input, alpha)
    # exp of the clamped input: the branch not taken must not overflow to inf (inf * 0 = nan)
    return _ops.where(input > 0, input, alpha * (_ops.clamp(input, max=0.0).exp() - 1.0))


def softplus(input, beta=1.0, threshold=20.0):
    """log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold
    (torch.nn.functional.softplus): one op (ops/activation.py), exact for large negative
    x and with torch's derivative sigmoid(beta * x), 0.5 at 0."""
    return _ops.softplus(input, beta, threshold)


def logsigmoid(input):
    """log(sigmoid(x)) = -softplus(-x), without overflow or cancellation
    (torch.nn.functional.logsigmoid); derivative sigmoid(-x)."""
    return -_ops.softplus(-input, 1.0, math.inf)


def mish(input, inplace=False):
    """x * tanh(softplus(x)) (torch.nn.functional.mish)."""
    if inplace:
        return _in_place("mish_", mish, input)
    return input * _ops.tanh(softplus(input))


def glu(input, dim=-1):
    """a * sigmoid(b), a and b the two halves of `input` along `dim` (torch.nn.functional.glu).
    Raises ShapeError when that dim's size is odd."""
    if input.shape[dim] % 2:
        raise ShapeError(f"glu: dim {dim} must have an even size, got shape {tuple(input.shape)}")
    a, b = input.chunk(2, dim=dim)
    return a * _ops.sigmoid(b)


def prelu(input, weight):
    """x for x > 0, weight * x otherwise; weight has 1 or C (= input's dim 1) entries
    (torch.nn.functional.prelu)."""
    if weight.numel() > 1 and input.dim() > 1:
        weight = weight.reshape((1, weight.numel()) + (1,) * (input.dim() - 2))
    return _ops.where(input > 0, input, input * weight)


def hardtanh(input, min_val=-1.0, max_val=1.0, inplace=False):
    """input clamped to [min_val, max_val] (torch.nn.functional.hardtanh). Its gradient
    is 1 strictly between the bounds and 0 at and beyond them, as torch's (clamp's
    passes at the bounds themselves)."""
    if inplace:
        return _in_place("hardtanh_", hardtanh, input, min_val, max_val)
    inside = (input > min_val) & (input < max_val)
    return _ops.where(inside, input, _ops.clamp(input.detach(), min_val, max_val))


def relu6(input, inplace=False):
    """min(max(x, 0), 6) (torch.nn.functional.relu6, which is hardtanh(x, 0, 6): gradient 0
    at 0 and 6)."""
    return hardtanh(input, 0.0, 6.0, inplace)


def selu(input, inplace=False):
    """scale * elu(x, alpha) with the self-normalising constants of Klambauer et al., 2017
    (torch.nn.functional.selu)."""
    if inplace:
        return _in_place("selu_", selu, input)
    return elu(input, alpha=_SELU_ALPHA) * _SELU_SCALE


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def celu(input, alpha=1.0, inplace=False):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)) (torch.nn.functional.celu)."""
    if inplace:
        return _in_place("celu_", celu, input, alpha)
    if alpha == 0:
        raise MinigradError("celu: alpha must not be 0")
    return _ops.where(input > 0, input, alpha * (_ops.clamp(input / alpha, max=0.0).exp() - 1.0))


def hardsigmoid(input, inplace=False):
    """relu6(x + 3) / 6 (torch.nn.functional.hardsigmoid); gradient 1/6 strictly inside
    (-3, 3), 0 elsewhere (at +-3 too), as torch's."""
    if inplace:
        return _in_place("hardsigmoid_", hardsigmoid, input)
    inside = (input > -3.0) & (input < 3.0)
    outside = _ops.clamp((input.detach() + 3.0) / 6.0, 0.0, 1.0)
    return _ops.where(inside, (input + 3.0) / 6.0, outside)


def hardswish(input, inplace=False):
    """x * relu6(x + 3) / 6 (Howard et al., 2019; torch.nn.functional.hardswish): 0 up to
    -3, x from 3 on, x (x + 3) / 6 between; the gradient is torch's, 0 at -3 and 1 at 3."""
    if inplace:
        return _in_place("hardswish_", hardswish, input)
    middle = _ops.where(input > -3.0, input * (input + 3.0) / 6.0, 0.0)
    return _ops.where(input >= 3.0, input, middle)


def softsign(input):
    """x / (1 + |x|) (torch.nn.functional.softsign)."""
    return input / (1.0 + input.abs())


def threshold(input, threshold, value, inplace=False):
    """x where x > threshold, else `value` (torch.nn.functional.threshold)."""
    if inplace:
        return _in_place("threshold_", lambda t: _ops.where(t > threshold, t, value), input)
    return _ops.where(input > threshold, input, value)


def softmin(input, dim=None, _stacklevel=3, dtype=None):
    """softmax(-x) along `dim` (torch.nn.functional.softmin)."""
    x = input if dtype is None else input.astype(dtype)
    return _ops.softmax(-x, _softmax_dim(input, dim, "softmin"))


def _softmax_dim(input, dim, op):
    """torch's rule when `dim` is not given (deprecated there): 0 for 0-, 1- and 3-D inputs, else 1."""
    if dim is None:
        return 0 if input.ndim in (0, 1, 3) else 1
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise MinigradError(f"{op}: dim must be an int, got {dim!r}")
    return int(dim)


def softmax(input, dim=None, dtype=None):
    """exp(x) / sum(exp(x)) along `dim`, stable (torch.nn.functional.softmax)."""
    if dtype is not None:
        input = input.astype(dtype)
    return _ops.softmax(input, _softmax_dim(input, dim, "softmax"))


def log_softmax(input, dim=None, dtype=None):
    """x - logsumexp(x) along `dim`, stable (torch.nn.functional.log_softmax)."""
    if dtype is not None:
        input = input.astype(dtype)
    return _ops.log_softmax(input, _softmax_dim(input, dim, "log_softmax"))


def dropout(input, p=0.5, training=True, inplace=False):
    """Zero each element with probability p and scale the rest by 1/(1-p) (torch.nn.functional.dropout)."""
    if not 0.0 <= p <= 1.0:
        raise MinigradError(f"dropout: p must be in [0, 1], got {p}")
    if inplace and training and p > 0:
        return _in_place("dropout_", _ops.dropout, input, p, training)
    return _ops.dropout(input, p, training)


# ---------------------------------------------------------------- layers


def linear(input, weight, bias=None):
    """input @ weight^T + bias; input (..., in), weight (out, in), bias (out,) (torch.nn.functional.linear).

    One fused op: the leading axes fold into rows, so a (B, T, in) input makes one GEMM.
    """
    return _linear(input, weight, bias)


def embedding(input, weight, padding_idx=None):
    """weight[input]: int ids (...) -> (..., embedding_dim); the `padding_idx` row gets no gradient."""
    if padding_idx is not None and padding_idx < 0:
        padding_idx += weight.shape[0]
    return _ops.embedding(input, weight, padding_idx)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the last len(normalized_shape) axes, then scale and shift (fused)."""
    return _ops.layer_norm(input, normalized_shape, weight, bias, eps)


def pad(input, pad, mode="constant", value=0.0):
    """Pad (or, with negative amounts, crop) the last len(pad)/2 axes, as torch.nn.functional.pad.

    pad = (left_of_last, right_of_last, left_of_second_last, ...). Only mode='constant'.
    Built from slicing and concatenation, so the gradient is the matching slice.
    """
    if mode != "constant":
        raise MinigradError(f"pad: only mode='constant' is supported, got {mode!r}")
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > input.ndim:
        raise ShapeError(f"pad: pad must have an even length of at most 2 * {input.ndim}, got {pad}")
    out = input
    for i in range(len(pad) // 2):
        axis = input.ndim - 1 - i
        before, after = pad[2 * i], pad[2 * i + 1]
        n = out.shape[axis]
        if n + min(before, 0) + min(after, 0) < 0:
            raise ShapeError(f"pad: cropping {pad} leaves a negative size on axis {axis} of shape "
                             f"{tuple(input.shape)}")
        crop = [slice(None)] * out.ndim
        crop[axis] = slice(max(-before, 0), n - max(-after, 0))
        out = out[tuple(crop)]
        parts = []
        for amount in (before, after):
            shape = list(out.shape)
            shape[axis] = max(amount, 0)
            parts.append(constant(out.xp.full(shape, value, dtype=out.dtype)))
        out = _ops.concat([parts[0], out, parts[1]], axis)
    return out


def normalize(input, p=2.0, dim=1, eps=1e-12):
    """input / max(||input||_p, eps) along `dim` (torch.nn.functional.normalize)."""
    norm = (_ops.abs(input) ** p).sum(dim, True) ** (1.0 / p)
    return input / _ops.clip(norm, eps, None)


def one_hot(tensor, num_classes=-1):
    """int64 (..., num_classes) with a 1 at each id (torch.nn.functional.one_hot); no gradient."""
    ids = tensor.array if isinstance(tensor, Tensor) else np.asarray(tensor)
    if ids.dtype.kind not in "iu":
        raise DTypeError(f"one_hot: expected an integer tensor, got dtype {ids.dtype}")
    bounds = int_range(ids)
    if num_classes == -1:
        num_classes = bounds[1] + 1 if bounds else 0
    if bounds and (bounds[0] < 0 or bounds[1] >= num_classes):
        raise IndexOutOfRangeError(f"one_hot: class ids must be in [0, {num_classes}), got "
                                   f"{bounds[0]}..{bounds[1]}")
    xp = tensor.xp if isinstance(tensor, Tensor) else np
    return constant((ids[..., None] == xp.arange(num_classes)).astype(np.int64))


# ---------------------------------------------------------------- losses


def _float32_for_half(loss_fn):
    """Run a loss over float16/bfloat16 input in float32 and round the loss once to the
    input's dtype: a half-precision chain of primitive ops rounds each step (its mean's
    1/N is a float16 subnormal), where PyTorch's fused loss kernels round once."""
    def up(t):
        return t.astype(np.float32) if isinstance(t, Tensor) and is_half(t.dtype) else t

    @functools.wraps(loss_fn)
    def run(input, target, *args, **kwargs):
        if not (isinstance(input, Tensor) and is_half(input.dtype)):
            return loss_fn(input, target, *args, **kwargs)
        out = loss_fn(up(input), up(target), *[up(a) for a in args],
                      **{k: up(v) for k, v in kwargs.items()})
        return out.astype(input.dtype)
    return run


def _reduce(loss, reduction, op):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise MinigradError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _legacy_reduction(size_average, reduce, reduction):
    """torch's deprecated size_average / reduce flags, mapped to `reduction` as torch maps them."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return "none" if not reduce else "mean" if size_average else "sum"


def _same_shape(input, target, op):
    if tuple(input.shape) != tuple(target.shape):
        raise ShapeError(f"{op}: input {tuple(input.shape)} and target {tuple(target.shape)} "
                         "must have the same shape")


@autocast_op("float32")
@_float32_for_half
def mse_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """(input - target)^2, reduced (torch.nn.functional.mse_loss)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _same_shape(input, target, "mse_loss")
    diff = input - target
    return _reduce(diff * diff, reduction, "mse_loss")


@autocast_op("float32")
@_float32_for_half
def l1_loss(input, target, size_average=None, reduce=None, reduction="mean"):
    """|input - target|, reduced (torch.nn.functional.l1_loss)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _same_shape(input, target, "l1_loss")
    return _reduce(_ops.abs(input - target), reduction, "l1_loss")


@autocast_op("float32")
@_float32_for_half
def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """-input[n, target[n]] * weight[target[n]] for log-probabilities input (N, C) or (N, C, d...).

    'mean' divides by the total weight of the targets that are not `ignore_index`,
    as torch.nn.functional.nll_loss. The pick is a gather.
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    t = target.array if isinstance(target, Tensor) else input.xp.asarray(target)
    if t.dtype.kind not in "iu":
        raise DTypeError(f"nll_loss: target must be integer class ids, got dtype {t.dtype}")
    c = input.shape[1] if input.ndim > 1 else input.shape[0]
    want = tuple(input.shape[:1] + input.shape[2:]) if input.ndim > 1 else ()
    if tuple(t.shape) != want:
        raise ShapeError(f"nll_loss: input {tuple(input.shape)} needs target of shape {want}, "
                         f"got {tuple(t.shape)}")
    keep = t != ignore_index
    bounds = int_range(t, ignore_index)
    if bounds and (bounds[0] < 0 or bounds[1] >= c):
        raise IndexOutOfRangeError(f"nll_loss: target ids must be in [0, {c}) or ignore_index, "
                                   f"got {bounds[0]}..{bounds[1]}")
    xp = input.xp
    w = xp.ones(c, dtype=input.dtype) if weight is None else \
        (weight.array if isinstance(weight, Tensor) else xp.asarray(weight)).astype(input.dtype)
    safe = xp.where(keep, t, 0)
    row_w = _target_weights(w, t, ignore_index)
    class_axis = 1 if input.ndim > 1 else 0
    # the target's entry by a gather (a product with a one-hot mask would turn a -inf
    # elsewhere in the row, a masked-out class, into 0 * -inf = NaN); ignored rows 0
    picked = input.gather(class_axis, constant(xp.expand_dims(safe, class_axis)))
    picked = _ops.where(constant(keep), picked.squeeze(class_axis), 0.0)
    loss = -picked * constant(row_w)
    if reduction == "mean":
        return _mean_over_weight(loss, row_w)
    return _reduce(loss, reduction, "nll_loss")


def _target_weights(w, t, ignore_index):
    """Each target's class weight w[t], 0 where t is ignore_index (an array of t's shape)."""
    keep = t != ignore_index
    return w[xp_of(t).where(keep, t, 0)] * keep


def _mean_over_weight(loss, row_w):
    """loss.sum() / row_w.sum(), torch's "mean" of weighted targets; with nothing counted,
    NaN with zero gradients, as torch."""
    total = float(row_w.sum())
    return loss.sum() / total if total else loss.sum() * 0.0 + float("nan")


@autocast_op("float32")
@_float32_for_half
def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Cross-entropy of raw logits (N, C) / (N, C, d...) against class ids or class probabilities.

    Class ids: the fused op (log-softmax and the loss in one pass); with `weight`,
    nll_loss(log_softmax(input)). Probabilities (a float target of input's shape):
    -sum(target * log_softmax(input), class axis). As torch.nn.functional.cross_entropy.
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    t = target.array if isinstance(target, Tensor) else input.xp.asarray(target)
    class_axis = 1 if input.ndim > 1 else 0
    c = input.shape[class_axis]
    if weight is not None:          # class weights, broadcast along the class axis
        weight = weight if isinstance(weight, Tensor) else Tensor(input.xp.asarray(weight))
        if tuple(weight.shape) != (c,):
            raise ShapeError(f"cross_entropy: weight of shape {tuple(weight.shape)} for {c} "
                             "classes: expected one weight per class")
        weight = weight.astype(input.dtype)
        w_b = weight.reshape((c,) + (1,) * (input.ndim - 2)) if input.ndim > 1 else weight
    if kind_of(t.dtype) == "f":                                  # class probabilities
        _same_shape(input, target, "cross_entropy")
        if label_smoothing:
            target = target * (1.0 - label_smoothing) + label_smoothing / c
        picked = log_softmax(input, class_axis) * target
        if weight is not None:
            picked = picked * w_b
        return _reduce(-picked.sum(class_axis), reduction, "cross_entropy")
    if weight is None:
        return _ops.cross_entropy(input, target, ignore_index, label_smoothing, reduction)
    logp = log_softmax(input, class_axis)
    nll = nll_loss(logp, target, weight, ignore_index=ignore_index, reduction=reduction)
    if not label_smoothing:
        return nll
    # label smoothing with class weights, as PyTorch: the smoothing term weighs every
    # class's log-probability by its weight; "mean" divides by the counted targets'
    # total weight, as the nll term does
    keep = t != ignore_index
    smooth = -(logp * w_b).sum(class_axis) * constant(keep.astype(input.dtype))
    if reduction == "mean":
        smooth = _mean_over_weight(smooth, _target_weights(weight.array, t, ignore_index))
    elif reduction == "sum":
        smooth = smooth.sum()
    return nll * (1.0 - label_smoothing) + smooth * (label_smoothing / c)


def _xlogy(x, y):
    """x * log(y), 0 where x == 0 (so a zero target adds nothing and no NaN gradient)."""
    positive = x.array > 0
    safe_y = _ops.where(constant(positive), y, 1.0)
    return _ops.where(constant(positive), x * _ops.log(safe_y), 0.0)


@autocast_op("float32")
@_float32_for_half
def kl_div(input, target, size_average=None, reduce=None, reduction="mean", log_target=False):
    """KL(target || exp(input)) pointwise: target * (log target - input), input log-probabilities.

    reduction='batchmean' divides the sum by the batch size (the true KL divergence);
    'mean' divides by the number of elements, as torch.nn.functional.kl_div.
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _same_shape(input, target, "kl_div")
    if log_target:
        loss = _ops.exp(target) * (target - input)
    else:
        loss = _xlogy(target, target) - target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction, "kl_div")


@autocast_op("float32")
@_float32_for_half
def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """-[pos_weight * t * log sigmoid(x) + (1 - t) * log(1 - sigmoid(x))], computed stably as

        (1 - t) * x + (1 + (pos_weight - 1) * t) * softplus(-x)

    (-log sigmoid(x) = softplus(-x): the softplus op, exact for large |x|, with torch's
    gradient at x = 0) (torch.nn.functional.binary_cross_entropy_with_logits).
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _same_shape(input, target, "binary_cross_entropy_with_logits")
    log_sigmoid_neg = _ops.softplus(-input, 1.0, math.inf)                # -log sigmoid(x)
    scale = 1.0 if pos_weight is None else 1.0 + (pos_weight - 1.0) * target
    loss = (1.0 - target) * input + scale * log_sigmoid_neg
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


@autocast_op("float32")
@_float32_for_half
def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None,
                         reduction="mean"):
    """-[t * log(p) + (1 - t) * log(1 - p)] for probabilities p; logs clamped at -100 as in torch."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _same_shape(input, target, "binary_cross_entropy")
    loss = _BinaryCrossEntropy.apply(input, target)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy")


def smooth_l1_loss(input, target, size_average=None, reduce=None, reduction="mean", beta=1.0):
    """0.5 * d^2 / beta where |d| < beta, else |d| - 0.5 * beta, d = input - target
    (torch.nn.functional.smooth_l1_loss; beta=0 is the L1 loss)."""
    reduction = _legacy_reduction(size_average, reduce, reduction)
    _same_shape(input, target, "smooth_l1_loss")
    d = _ops.abs(input - target)
    if beta == 0:
        return _reduce(d, reduction, "smooth_l1_loss")
    return _reduce(_ops.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta), reduction,
                   "smooth_l1_loss")


def huber_loss(input, target, reduction="mean", delta=1.0):
    """0.5 * d^2 where |d| <= delta, else delta * (|d| - 0.5 * delta), d = input - target
    (torch.nn.functional.huber_loss)."""
    _same_shape(input, target, "huber_loss")
    d = _ops.abs(input - target)
    return _reduce(_ops.where(d <= delta, 0.5 * d * d, delta * (d - 0.5 * delta)), reduction,
                   "huber_loss")


from minigrad.ops.more_math import cosine_similarity, pairwise_distance  # noqa: E402,F401


def rms_norm(input, normalized_shape, weight=None, eps=None):
    """x / sqrt(mean(x^2 over the last len(normalized_shape) dims) + eps) * weight
    (torch.nn.functional.rms_norm; Zhang and Sennrich, 2019). eps None: the machine
    epsilon of the input's dtype (of float32 for float16 and bfloat16, which are
    normalised in float32), as torch. Raises ShapeError when the input does not
    end in normalized_shape (or weight has another shape)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    n = len(shape)
    if tuple(input.shape[input.dim() - n:]) != shape or input.dim() < n:
        raise ShapeError(f"rms_norm: expected input ending in {shape}, got shape "
                         f"{tuple(input.shape)}")
    if weight is not None and tuple(weight.shape) != shape:
        raise ShapeError(f"rms_norm: weight of shape {tuple(weight.shape)} does not match "
                         f"normalized_shape {shape}")
    # as torch's kernel: half precision normalised in float32 (eps None: float32's
    # epsilon then), rounded back, then scaled by the weight
    x = input.astype(np.float32) if is_half(input.dtype) else input
    eps = eps if eps is not None else float(np.finfo(x.dtype).eps)
    dims = tuple(range(x.dim() - n, x.dim()))
    out = (x * _ops.rsqrt((x * x).mean(dim=dims, keepdim=True) + eps)).astype(input.dtype)
    return out * weight if weight is not None else out


from minigrad.autograd import Function  # noqa: E402  (only the Function below uses it)


class _BinaryCrossEntropy(Function):
    """The elementwise loss with torch's gradient: (p - t) / max(p * (1 - p), 1e-12) for p, so a
    saturated sigmoid (p exactly 0 or 1) gives a finite gradient, not 0 * inf = NaN; and
    -logit(p) for the target."""

    @staticmethod
    def forward(ctx, p, t):
        ctx.save_for_backward(p, t)
        return -(t * _ops.clip(_ops.log(p), -100.0, None) +
                 (1.0 - t) * _ops.clip(_ops.log(1.0 - p), -100.0, None))

    @staticmethod
    def backward(ctx, grad):
        p, t = ctx.saved_tensors
        grad_p = grad * (p - t) / _ops.clip(p * (1.0 - p), 1e-12, None) \
            if ctx.needs_input_grad[0] else None
        grad_t = grad * (_ops.log(1.0 - p) - _ops.log(p)) if ctx.needs_input_grad[1] else None
        return grad_p, grad_t


from .batchnorm import batch_norm  # noqa: E402,F401  (defined beside BatchNorm1d; torch's F name)

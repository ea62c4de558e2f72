"""Everyday torch math found missing by PyTorch users' programs (second round): log10,
exp2, logit, xlogy, logaddexp, hypot, nansum / nanmean, addcmul / addcdiv, addmm /
baddbmm, take_along_dim, tensor_split, broadcast_tensors, and the distances
cosine_similarity, pairwise_distance and cdist.

log10, exp2, xlogy, logaddexp and hypot are primitive ops whose backward is written with
tensor ops (so it is differentiable again), each with PyTorch's derivative. The rest are
built from ops that have their gradients already (where, sum, gather, narrow,
vector_norm, ...), so their gradients come for free and equal PyTorch's.
"""
import math
from collections import namedtuple

import numpy as np

from ..autograd import Function
from ..backend import to_device, to_numpy, xp_of
from ..dtype import is_half, kind_of
from ..errors import DTypeError, MinigradError, ShapeError
from ..tensor import Tensor
from .compare import ne
from .dims import torch_dims
from .elementwise import _float, clip, log, mul, sigmoid, where
from .gather_scatter import gather
from .math_extra import isnan, trunc
from .norms import vector_norm
from .promotion import binary
from .reduce import normalize_axes
from .reduce import sum as _sum
from .shape import broadcast_to, reshape, stack
from .sorting import sort
from .views_extra import bmm, mm, narrow


# ------------------------------------------------------------------ primitive ops
class Log10(Function):
    name = "log10"

    def forward(self, a):
        with np.errstate(all="ignore"):         # log 0 = -inf, of a negative NaN
            return xp_of(a).log10(a)

    def backward(self, grad):
        return grad / (self.inputs[0] * math.log(10.0))   # d log10 x = dx / (x ln 10)


class Exp2(Function):
    name = "exp2"

    def forward(self, a):
        with np.errstate(over="ignore"):
            return xp_of(a).exp2(a)

    def backward(self, grad):
        return grad * exp2(self.inputs[0]) * math.log(2.0)  # d 2^x = 2^x ln 2 dx


class Xlogy(Function):
    """x * log(y), and 0 where x == 0 unless y is NaN (torch.xlogy)."""
    name = "xlogy"

    def forward(self, x, y):
        xp = xp_of(x)
        with np.errstate(all="ignore"):
            out = x * xp.log(y)
        return xp.where((x == 0) & ~xp.isnan(y), out.dtype.type(0), out)

    def backward(self, grad):
        x, y = self.inputs
        # torch's derivatives: d/dx = xlogy(x != 0, y) (0 where x == 0), d/dy = x / y
        gx = grad * xlogy(ne(x, 0).astype(x.dtype), y) if self.needs_input_grad[0] else None
        gy = grad * x / y if self.needs_input_grad[1] else None
        return gx, gy


class LogAddExp(Function):
    """log(exp(a) + exp(b)) without overflow (torch.logaddexp)."""
    name = "logaddexp"

    def forward(self, a, b):
        return xp_of(a).logaddexp(a, b)

    def backward(self, grad):
        a, b = self.inputs
        # d/da = exp(a) / (exp(a) + exp(b)) = sigmoid(a - b), and the same for b
        return (grad * sigmoid(a - b) if self.needs_input_grad[0] else None,
                grad * sigmoid(b - a) if self.needs_input_grad[1] else None)


class Hypot(Function):
    """sqrt(a^2 + b^2) without overflow (torch.hypot)."""
    name = "hypot"

    def forward(self, a, b):
        return xp_of(a).hypot(a, b)

    def backward(self, grad):
        a, b = self.inputs
        r = hypot(a, b)
        return (grad * a / r if self.needs_input_grad[0] else None,
                grad * b / r if self.needs_input_grad[1] else None)


def log10(a):
    """torch.log10: the base-10 logarithm elementwise; integers give the default float dtype."""
    return Log10.apply(_float(a))


def exp2(a):
    """torch.exp2: 2 ** a elementwise; integers give the default float dtype."""
    return Exp2.apply(_float(a))


def xlogy(input, other):
    """torch.xlogy: input * log(other), 0 where input is 0 (unless other is NaN); either
    may be a Python number; broadcasts; integers give the default float dtype."""
    return binary(Xlogy, input, other, float_result=True)


def logaddexp(input, other):
    """torch.logaddexp: log(exp(input) + exp(other)) elementwise, with broadcasting."""
    return binary(LogAddExp, input, other, float_result=True)


def hypot(input, other):
    """torch.hypot: sqrt(input^2 + other^2) elementwise, with broadcasting."""
    return binary(Hypot, input, other, float_result=True)


# ------------------------------------------------------------------ built from other ops
def logit(input, eps=None):
    """torch.logit: log(z / (1 - z)), z = input clamped to [eps, 1 - eps] when eps is
    given (else input itself: NaN outside [0, 1]); the gradient is 0 where the clamp bit."""
    z = _float(input)
    if eps is not None:
        z = clip(z, eps, 1.0 - eps)
    return log(z / (1 - z))


@torch_dims
def nansum(input, axis=None, keepdims=False, dtype=None):
    """torch.nansum: sum treating NaN as 0 (its gradient there is 0)."""
    if kind_of(input.dtype) == "f":
        input = where(isnan(input), 0.0, input)
    return _sum(input, axis, keepdims, dtype=dtype)


@torch_dims
def nanmean(input, axis=None, keepdims=False, dtype=None):
    """torch.nanmean: the mean of the entries that are not NaN (NaN where all are).
    Raises DTypeError for an integer tensor, as torch."""
    if kind_of(input.dtype) != "f":
        raise DTypeError(f"nanmean: expected a floating point tensor, got {input.dtype}")
    if dtype is not None:
        input = input.astype(dtype)
    count = _sum(~isnan(input), axis, keepdims).astype(input.dtype)
    return nansum(input, axis, keepdims) / count


def _addc(op, input, tensor1, tensor2, value):
    """input + value * tensor1 (op) tensor2, as torch's addcmul / addcdiv kernels: a
    half-precision result computed in float32 and rounded once."""
    out_dtype = np.result_type(*(t.dtype for t in (input, tensor1, tensor2)
                                 if isinstance(t, Tensor)))
    half = is_half(out_dtype) and xp_of(getattr(input, "array", input)) is np
    if half:
        input, tensor1, tensor2 = (t.astype(np.float32) if isinstance(t, Tensor) else t
                                   for t in (input, tensor1, tensor2))
    scaled = tensor1 if value == 1 else mul(tensor1, value)
    out = input + op(scaled, tensor2)
    return out.astype(out_dtype) if half else out


def addcmul(input, tensor1, tensor2, *, value=1):
    """torch.addcmul: input + value * tensor1 * tensor2, with broadcasting."""
    return _addc(mul, input, tensor1, tensor2, value)


def addcdiv(input, tensor1, tensor2, *, value=1):
    """torch.addcdiv: input + value * tensor1 / tensor2, with broadcasting. Raises
    DTypeError when tensor1 and tensor2 are both integer (torch does too)."""
    if all(isinstance(t, Tensor) and kind_of(t.dtype) in "biu" for t in (tensor1, tensor2)):
        raise DTypeError("addcdiv: integer division of tensor1 by tensor2 is not supported "
                         f"(got {tensor1.dtype} and {tensor2.dtype}); use addcmul with "
                         "1 / tensor2, or float tensors")
    return _addc(lambda a, b: a / b, input, tensor1, tensor2, value)


@torch_dims
def take_along_dim(input, indices, axis=None):
    """torch.take_along_dim: values of `input` at `indices` along `dim` (the two broadcast
    against each other in the other dims); dim None takes from the flattened input.
    Differentiable in input (a gather). Raises ShapeError when the ranks differ."""
    if axis is None:
        return gather(reshape(input, -1), 0, reshape(indices, -1))
    if input.ndim != indices.ndim:
        raise ShapeError(f"take_along_dim: input and indices need the same number of dims, "
                         f"got {input.ndim} and {indices.ndim}")
    ax = normalize_axes(axis, input.ndim, "take_along_dim")[0]
    batch = np.broadcast_shapes(input.shape[:ax] + (1,) + input.shape[ax + 1:],
                                indices.shape[:ax] + (1,) + indices.shape[ax + 1:])
    def along(t):
        return broadcast_to(t, batch[:ax] + (t.shape[ax],) + batch[ax + 1:])
    return gather(along(input), ax, along(indices))


@torch_dims
def tensor_split(input, indices_or_sections, axis=0):
    """torch.tensor_split: views of `input` along `dim`, either n sections (an int: the
    first size % n of them one longer) or cut at the given indices (a list or 1-D
    tensor; indices past the end give empty pieces)."""
    ax = normalize_axes(axis, input.ndim, "tensor_split")[0]
    size = input.shape[ax]
    cuts = indices_or_sections
    if isinstance(cuts, Tensor):
        cuts = cuts.tolist() if cuts.ndim else int(cuts.item())
    if isinstance(cuts, (int, np.integer)):
        n = int(cuts)
        if n < 1:
            raise ShapeError(f"tensor_split: number of sections must be at least 1, got {n}")
        longer, base = size % n, size // n
        cuts = list(np.cumsum([base + (i < longer) for i in range(n - 1)]))
    bounds = [0] + [min(max(int(c), 0), size) for c in cuts] + [size]
    return tuple(narrow(input, ax, a, max(b - a, 0)) for a, b in zip(bounds[:-1], bounds[1:]))


def broadcast_tensors(*tensors):
    """torch.broadcast_tensors: each tensor expanded (a view) to their common shape."""
    shape = np.broadcast_shapes(*(tuple(t.shape) for t in tensors))
    return tuple(broadcast_to(t, shape) for t in tensors)


def _scaled_sum(op, input, product, beta, alpha):
    """beta * input + alpha * product, as torch's addmm family: input must broadcast to the
    product's shape; beta=0 ignores input (NaN and inf in it included)."""
    if np.broadcast_shapes(tuple(input.shape), tuple(product.shape)) != tuple(product.shape):
        raise ShapeError(f"{op}: input of shape {tuple(input.shape)} does not broadcast to the "
                         f"product's shape {tuple(product.shape)}")
    product = product if alpha == 1 else product * alpha
    if beta == 0:
        return product
    return product + (input if beta == 1 else input * beta)


def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    """torch.addmm: beta * input + alpha * (mat1 @ mat2) for mat1 (n, m) and mat2 (m, p),
    input broadcasting to (n, p). Raises ShapeError for other ranks or shapes."""
    return _scaled_sum("addmm", input, mm(mat1, mat2), beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1):
    """torch.baddbmm: beta * input + alpha * (batch1 @ batch2) for (b, n, m) and (b, m, p)
    batches, input broadcasting to (b, n, p). Raises ShapeError otherwise."""
    return _scaled_sum("baddbmm", input, bmm(batch1, batch2), beta, alpha)


# ------------------------------------------------------------------ distances
def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """torch.nn.functional.cosine_similarity: sum(x1 / |x1| * x2 / |x2|) along `dim`, the
    two broadcast first, each norm at least eps. As torch, the clamp to eps changes the
    value only: the gradient flows through the unclamped norm."""
    x1, x2 = broadcast_tensors(_float(x1), _float(x2))

    def norm(x):
        n = vector_norm(x, 2, axis=dim, keepdims=True)
        floor = n.detach()
        return n + (clip(floor, min=eps) - floor)       # value clamped, gradient of n
    return _sum((x1 / norm(x1)) * (x2 / norm(x2)), axis=dim)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """torch.nn.functional.pairwise_distance: the p-norm of x1 - x2 + eps along the last
    dim (of the broadcast shape)."""
    last = max(x1.ndim, x2.ndim) - 1
    return vector_norm(x1 - x2 + eps, p, axis=last, keepdims=keepdim)


def cdist(x1, x2, p=2.0, compute_mode=None):
    """torch.cdist: the p-norm distance of every row of x1 (..., P, M) to every row of x2
    (..., R, M), as a (..., P, R) tensor. Computed from the differences directly (torch
    switches to a matmul form for p=2 with more than 25 rows, which rounds differently),
    so it holds a (..., P, R, M) intermediate. Raises ShapeError when M differs."""
    if x1.ndim < 2 or x2.ndim < 2 or x1.shape[-1] != x2.shape[-1]:
        raise ShapeError(f"cdist: expected x1 (..., P, M) and x2 (..., R, M), got shapes "
                         f"{tuple(x1.shape)} and {tuple(x2.shape)}")
    diff = x1.unsqueeze(-2) - x2.unsqueeze(-3)
    return vector_norm(diff, p, axis=-1)


__all__ = ["log10", "exp2", "xlogy", "logaddexp", "hypot", "logit", "nansum", "nanmean",
           "addcmul", "addcdiv", "addmm", "baddbmm", "take_along_dim", "tensor_split", "broadcast_tensors",
           "cosine_similarity", "pairwise_distance", "cdist"]


# ------------------------------------------------------------------ order statistics, NaN-aware
def frac(input):
    """torch.frac: input - trunc(input), the part after the point (sign kept); gradient 1."""
    return input - trunc(input)


def fmax(input, other):
    """torch.fmax: the larger of the two, ignoring a NaN where only one is NaN. The
    gradient goes to input where input >= other (ties too) or other is NaN, as torch."""
    return where((input >= other) | isnan(other), input, other)


def fmin(input, other):
    """torch.fmin: the smaller of the two, ignoring a NaN where only one is NaN."""
    return where((input <= other) | isnan(other), input, other)


def dist(input, other, p=2):
    """torch.dist: the p-norm of input - other (broadcast), over every entry."""
    return vector_norm(input - other, p)


KthvalueResult = namedtuple("kthvalue", ["values", "indices"])
CummaxResult = namedtuple("cummax", ["values", "indices"])
CumminResult = namedtuple("cummin", ["values", "indices"])


@torch_dims
def kthvalue(input, k, axis=-1, keepdims=False):
    """torch.kthvalue: the k-th smallest entry along `dim` (k from 1) and its index, as a
    named tuple (values, indices). Raises ShapeError for k outside [1, size]."""
    ax = normalize_axes(axis, max(input.ndim, 1), "kthvalue")[0]
    n = input.shape[ax] if input.ndim else 1
    if not 1 <= k <= n:
        raise ShapeError(f"kthvalue: k={k} is out of range for a dimension of size {n}")
    values, indices = sort(input, ax)
    values, indices = narrow(values, ax, k - 1, 1), narrow(indices, ax, k - 1, 1)
    if not keepdims:
        values, indices = values.squeeze(ax), indices.squeeze(ax)
    return KthvalueResult(values, indices)


def _cumulative(input, axis, largest):
    ax = normalize_axes(axis, max(input.ndim, 1), "cummax" if largest else "cummin")[0]
    # the indices on the host (NumPy's ufunc.accumulate; CuPy's ufuncs may lack it), the
    # values then gathered on the tensor's device
    x = to_numpy(input.array).reshape(input.shape or (1,))
    running = (np.maximum if largest else np.minimum).accumulate(x, axis=ax)
    positions = np.arange(x.shape[ax]).reshape((-1,) + (1,) * (x.ndim - ax - 1))
    # an entry takes the index when it equals the running extreme (ties: the later one, as
    # torch) or is NaN (from then on the running value is NaN, with the NaN's index)
    takes = (x == running) | (np.isnan(x) if kind_of(x.dtype) == "f" else False)
    indices = np.maximum.accumulate(np.where(takes, positions, 0), axis=ax).astype(np.int64)
    indices = Tensor._make(to_device(indices.reshape(input.shape), input.device), False, None)
    values = gather(input, ax, indices) if input.ndim else input * 1
    return (CummaxResult if largest else CumminResult)(values, indices)


@torch_dims
def cummax(input, axis):
    """torch.cummax: the running maximum along `dim` and the index where it was reached
    (ties and NaN: the later index), as a named tuple (values, indices); the gradient goes
    to the entries the maxima came from."""
    return _cumulative(input, axis, True)


@torch_dims
def cummin(input, axis):
    """torch.cummin: the running minimum along `dim` and its index (see cummax)."""
    return _cumulative(input, axis, False)


def searchsorted(sorted_sequence, input, *, out_int32=False, right=False, side=None,
                 sorter=None):
    """torch.searchsorted: for each value of `input`, the index where it would go in
    `sorted_sequence` (1-D, or with the same leading dims as input: one sorted row per row);
    right=True (or side='right') places it after equal entries. int64 (int32 with
    out_int32); no gradient. Raises ShapeError when the leading dims differ."""
    if side is not None:
        if side not in ("left", "right") or (right and side == "left"):
            raise ShapeError(f"searchsorted: side must be 'left' or 'right' (and agree with "
                             f"right={right}), got {side!r}")
        right = side == "right"
    xp = sorted_sequence.xp
    seq = sorted_sequence.array
    values = input.array if isinstance(input, Tensor) else xp.asarray(input)
    if sorter is not None:
        seq = xp.take_along_axis(seq, sorter.array if isinstance(sorter, Tensor) else sorter, -1)
    how = "right" if right else "left"
    if seq.ndim == 1:
        out = xp.searchsorted(seq, values, side=how)
    else:
        if seq.shape[:-1] != values.shape[:-1]:
            raise ShapeError(f"searchsorted: sorted_sequence {tuple(seq.shape)} and input "
                             f"{tuple(values.shape)} must share their leading dims")
        rows_seq, rows_val = seq.reshape(-1, seq.shape[-1]), values.reshape(-1, values.shape[-1])
        out = xp.stack([xp.searchsorted(s, v, side=how) for s, v in zip(rows_seq, rows_val)])
        out = out.reshape(values.shape)
    return Tensor._make(xp.asarray(out).astype(xp.int32 if out_int32 else xp.int64), False, None)


def bucketize(input, boundaries, *, out_int32=False, right=False):
    """torch.bucketize: the bucket of each input value among the 1-D `boundaries`
    (right=False: boundaries[i-1] < x <= boundaries[i]); no gradient."""
    if boundaries.ndim != 1:
        raise ShapeError(f"bucketize: boundaries must be 1-D, got shape {tuple(boundaries.shape)}")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


def unique_consecutive(input, return_inverse=False, return_counts=False, dim=None):
    """torch.unique_consecutive: runs of equal entries (or equal slices along `dim`)
    collapsed to one; optionally each entry's run index (shaped as input, or as input's
    `dim`) and each run's length. No gradient."""
    xp = input.xp
    x = input.array
    if dim is None:
        rows = x.reshape(-1, 1)
    else:
        ax = normalize_axes(dim, input.ndim, "unique_consecutive")[0]
        rows = xp.moveaxis(x, ax, 0).reshape(x.shape[ax], -1)
    starts = xp.ones(rows.shape[0], dtype=bool)
    if rows.shape[0] > 1:
        starts[1:] = (rows[1:] != rows[:-1]).any(axis=1)
    if dim is None:
        out = x.reshape(-1)[starts]
    else:
        out = xp.moveaxis(xp.moveaxis(x, ax, 0)[starts], 0, ax)
    result = [Tensor._make(out, False, None)]
    if return_inverse:
        inverse = xp.cumsum(starts) - 1
        result.append(Tensor._make(inverse.reshape(x.shape if dim is None else -1).astype(
            xp.int64), False, None))
    if return_counts:
        first = xp.flatnonzero(starts)
        result.append(Tensor._make(xp.diff(xp.append(first, rows.shape[0])).astype(xp.int64),
                                   False, None))
    return result[0] if len(result) == 1 else tuple(result)


def quantile(input, q, dim=None, keepdim=False, *, interpolation="linear"):
    """torch.quantile: the q-quantiles (q a number or 1-D tensor in [0, 1]) along `dim` (of
    the flattened input when None), with torch's interpolation between the two nearest
    sorted entries ('linear', 'lower', 'higher', 'midpoint', 'nearest'); a 1-D q adds a
    leading dim. NaN in a slice gives NaN. Differentiable (sort and gather).
    Raises MinigradError for q outside [0, 1] or an unknown interpolation."""
    if interpolation not in ("linear", "lower", "higher", "midpoint", "nearest"):
        raise MinigradError(f"quantile: unknown interpolation {interpolation!r}")
    xp = input.xp
    qs = q.array if isinstance(q, Tensor) else xp.asarray(q, dtype=input.dtype)
    if qs.ndim > 1 or (qs.size and (float(qs.min()) < 0 or float(qs.max()) > 1)):
        raise MinigradError(f"quantile: q must be a number or 1-D tensor in [0, 1], got {q!r}")
    x = reshape(input, (-1,)) if dim is None else input
    ax = 0 if dim is None else normalize_axes(dim, input.ndim, "quantile")[0]
    n = x.shape[ax]
    values, _ = sort(x, ax)
    position = qs.astype(xp.float64) * (n - 1)
    low = xp.floor(position).astype(xp.int64)
    high = xp.ceil(position).astype(xp.int64)
    weight = (position - low).astype(input.dtype)
    if interpolation == "lower":
        high, weight = low, weight * 0
    elif interpolation == "higher":
        low, weight = high, weight * 0
    elif interpolation == "nearest":
        low = high = xp.round(position).astype(xp.int64)      # (half to even, as torch.round)
        weight = weight * 0
    elif interpolation == "midpoint":
        weight = xp.where(high > low, 0.5, 0.0).astype(input.dtype)
    has_nan = isnan(x).any(ax, keepdims=True) if kind_of(x.dtype) == "f" else None
    out = []
    for lo, hi, w in zip(low.reshape(-1), high.reshape(-1), weight.reshape(-1)):
        a, b = narrow(values, ax, int(lo), 1), narrow(values, ax, int(hi), 1)
        one = a + (b - a) * float(w)                       # size 1 along ax
        out.append(one if has_nan is None else where(has_nan, float("nan"), one))
    if qs.ndim == 1:                                       # the q dim goes first
        result, ax = stack(out, 0), ax + 1
    else:
        result = out[0]
    if not keepdim:
        return result.squeeze(ax)
    if dim is None:                                        # keepdim of all dims: all 1
        return reshape(result, tuple(result.shape[:1]) * (qs.ndim == 1) + (1,) * input.ndim)
    return result


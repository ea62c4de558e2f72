"""More everyday torch functions, found missing when plain PyTorch programs were run on
minigrad: unbind, repeat_interleave, nan_to_num, diff, median, isin, bincount,
triu_indices / tril_indices, and the xor pair (bitwise_xor, logical_xor, `^`).

The differentiable ones are built from ops that already have their gradients (select,
index_select, where, narrow, sub, concat, sort, gather), so their gradients (and
gradients of gradients) come for free; the counting and membership ones return
integer or bool tensors, without gradients, as in PyTorch.
"""
from collections import namedtuple

import numpy as np

from ..backend import xp_for, xp_of
from ..dtype import as_dtype, kind_of
from ..errors import DTypeError, IndexOutOfRangeError, MinigradError, ShapeError
from ..tensor import Tensor, constant, operand_array
from .compare import _compare
from .dims import torch_dims
from .gather_scatter import gather
from .rearrange import index_select
from .reduce import normalize_axes
from .selection import where
from .shape import concat, reshape, squeeze
from .sorting import sort_indices
from .views_extra import narrow, select

# torch.return_types.median: `values, indices = x.median(dim=0)`
MedianResult = namedtuple("median", ["values", "indices"])

bitwise_xor = _compare(np.bitwise_xor, "bitwise_xor", kinds="biu")
logical_xor = _compare(np.logical_xor, "logical_xor")


@torch_dims
def unbind(a, axis=0):
    """torch.unbind(input, dim=0): the slices along `dim`, as a tuple (each one
    select(dim, i), sharing a's memory). Raises IndexOutOfRangeError for a bad dim."""
    ax = normalize_axes(axis, a.ndim, "unbind")[0]
    return tuple(select(a, ax, i) for i in range(a.shape[ax]))


@torch_dims
def repeat_interleave(a, repeats, axis=None, output_size=None):
    """torch.repeat_interleave(input, repeats, dim=None): each entry along `dim` repeated
    `repeats` times (an int, or a 1-D tensor with one count per entry); dim None flattens
    first. Differentiable (an index_select). Raises ShapeError when the counts do not
    fit the dimension, MinigradError for a negative count."""
    if axis is None:
        a, axis = reshape(a, -1), 0
    ax = normalize_axes(axis, a.ndim, "repeat_interleave")[0]
    n = a.shape[ax]
    counts = repeats.array if isinstance(repeats, Tensor) else repeats
    counts = np.asarray(counts.get() if hasattr(counts, "get") else counts)   # (CuPy: host)
    if kind_of(counts.dtype) not in "iu":
        raise DTypeError(f"repeat_interleave: repeats must be integers, got {counts.dtype}")
    if counts.ndim > 1 or (counts.ndim == 1 and counts.size not in (1, n)):
        raise ShapeError(f"repeat_interleave: repeats of shape {counts.shape} do not fit "
                         f"dimension {ax} of size {n}")
    if (counts < 0).any():
        raise MinigradError("repeat_interleave: repeats must be non-negative")
    index = np.repeat(np.arange(n), np.broadcast_to(counts.reshape(-1), (n,)))
    if output_size is not None and output_size != index.size:
        raise ShapeError(f"repeat_interleave: output_size {output_size} but the repeats "
                         f"give {index.size}")
    return index_select(a, ax, constant(a.xp.asarray(index)))


def nan_to_num(a, nan=0.0, posinf=None, neginf=None):
    """torch.nan_to_num(input, nan=0.0, posinf=None, neginf=None): NaN, +inf and -inf
    replaced by `nan`, `posinf` and `neginf` (default: the dtype's largest and lowest
    finite values). Same dtype; the gradient passes where the input is finite and is 0
    at the replaced entries. Integer and bool inputs come back unchanged."""
    if kind_of(a.dtype) != "f":
        return a * 1 if a.dtype != np.bool_ else a
    info = np.finfo(a.dtype)
    top = info.max if posinf is None else posinf
    bottom = info.min if neginf is None else neginf
    x = a.array
    xp = xp_of(x)
    out = where(constant(xp.isnan(x)), nan, a)
    out = where(constant(x == np.inf), top, out)
    return where(constant(x == -np.inf), bottom, out).astype(a.dtype)


def diff(a, n=1, dim=-1, prepend=None, append=None):
    """torch.diff(input, n=1, dim=-1, prepend=None, append=None): the n-th forward
    difference out[i] = input[i + 1] - input[i] along `dim`, after joining `prepend` and
    `append` there (n=0: the input as it is). Differentiable. Raises ShapeError for a 0-d input, MinigradError
    for a negative n."""
    if a.ndim == 0:
        raise ShapeError("diff: expected a tensor of at least 1 dimension, got a 0-d one")
    if n < 0:
        raise MinigradError(f"diff: order n must be non-negative, got {n}")
    ax = normalize_axes(dim, a.ndim, "diff")[0]
    if n == 0:                       # the input itself, prepend and append unused (PyTorch)
        return a
    parts = [p if isinstance(p, Tensor) else Tensor(p) for p in (prepend, a, append)
             if p is not None]
    x = concat(parts, ax) if len(parts) > 1 else a
    for _ in range(n):
        length = x.shape[ax]
        if length == 0:
            break
        x = narrow(x, ax, 1, length - 1) - narrow(x, ax, 0, length - 1)
    return x


def median(a, dim=None, keepdim=False):
    """torch.median: the lower median (for an even count, the smaller of the two middle
    values, not their mean). dim None: of all elements, a 0-d tensor. With `dim`: the
    named tuple (values, indices) along it. A NaN makes the median NaN (its index is
    that of a NaN), as in PyTorch; nanmedian is not provided. Differentiable through the
    values (the gradient goes to the element picked)."""
    if dim is None:
        flat = reshape(a, -1)
        if flat.shape[0] == 0:
            raise IndexOutOfRangeError("median: of an empty tensor (no elements)")
        return median(flat, 0).values
    ax = normalize_axes(dim, a.ndim, "median")[0] if a.ndim else None
    if a.ndim == 0:
        return MedianResult(a * 1 if kind_of(a.dtype) == "f" else a,
                            constant(a.xp.zeros((), dtype=np.int64)))
    n = a.shape[ax]
    if n == 0:
        raise IndexOutOfRangeError(f"median: dimension {ax} has no entries")
    x = a.array
    xp = xp_of(x)
    order = sort_indices(x, ax, False)                   # NaN sort last
    index = xp.take(order, [(n - 1) // 2], axis=ax)
    if kind_of(a.dtype) == "f":                          # a NaN in the row: its index
        nans = xp.isnan(x)
        first_nan = xp.argmax(nans, axis=ax, keepdims=True).astype(np.int64)
        index = xp.where(nans.any(axis=ax, keepdims=True), first_nan, index)
    index = constant(index)
    values = gather(a, ax, index)
    if not keepdim:
        values, index = squeeze(values, ax), squeeze(index, ax)
    return MedianResult(values, index)


def isin(elements, test_elements, assume_unique=False, invert=False):
    """torch.isin(elements, test_elements, invert=False): a bool tensor of elements'
    shape, True where the element occurs in test_elements (either may be a scalar)."""
    if not isinstance(elements, Tensor):
        elements = Tensor(elements)
    tests = test_elements.array if isinstance(test_elements, Tensor) else \
        elements.xp.asarray(test_elements)
    xp = elements.xp
    return constant(xp.isin(elements.array, tests, assume_unique=assume_unique, invert=invert))


def bincount(a, weights=None, minlength=0):
    """torch.bincount(input, weights=None, minlength=0): counts of each value of a 1-D
    non-negative integer tensor, in max(input) + 1 (at least minlength) bins; int64, or
    with `weights` their sums (float32 weights: float32, others: float64, as PyTorch).
    Raises DTypeError / ShapeError / IndexOutOfRangeError for other inputs."""
    x = a.array
    if kind_of(x.dtype) not in "iu":
        raise DTypeError(f"bincount: expected a 1-D integer tensor, got dtype {x.dtype}")
    if x.ndim != 1:
        raise ShapeError(f"bincount: expected a 1-D tensor, got shape {tuple(x.shape)}")
    if x.size and int(x.min()) < 0:
        raise IndexOutOfRangeError(f"bincount: values must be non-negative, got {int(x.min())}")
    xp = xp_of(x)
    if weights is None:
        return constant(xp.bincount(x, minlength=minlength).astype(np.int64))
    w = operand_array(weights, a, "bincount", "weights")
    if w.shape != x.shape:
        raise ShapeError(f"bincount: weights of shape {tuple(w.shape)} for an input of "
                         f"shape {tuple(x.shape)}")
    dtype = np.float32 if w.dtype == np.float32 else np.float64
    return constant(xp.bincount(x, weights=w, minlength=minlength).astype(dtype))


def _pair_indices(kind, row, col, offset, dtype, device):
    xp = xp_for(device)
    rows, cols = (np.triu_indices if kind == "triu" else np.tril_indices)(row, offset, col)
    return Tensor(xp.asarray(np.stack([rows, cols]).astype(as_dtype(dtype) or np.int64)))


def triu_indices(row, col, offset=0, dtype=None, device=None):
    """torch.triu_indices(row, col, offset=0): the (2, N) int64 coordinates of the upper
    triangle (on and above diagonal `offset`) of a row x col matrix, row by row."""
    return _pair_indices("triu", row, col, offset, dtype, device)


def tril_indices(row, col, offset=0, dtype=None, device=None):
    """torch.tril_indices(row, col, offset=0): the (2, N) int64 coordinates of the lower
    triangle (on and below diagonal `offset`) of a row x col matrix, row by row."""
    return _pair_indices("tril", row, col, offset, dtype, device)

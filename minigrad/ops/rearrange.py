"""Rearranging ops PyTorch users reach for: flip, roll, repeat (tile), unflatten,
expand_as, mT / mH, trace, index_select and masked_select.

Each moves values without arithmetic (trace sums a diagonal), so each gradient moves
the gradient back: flip flips it again, roll rolls it back, repeat sums the copies,
the selections scatter-add it into zeros (through getitem's backward).
"""
import numpy as np

from ..autograd import Function
from ..backend import xp_of
from ..errors import DTypeError, IndexOutOfRangeError, ShapeError
from ..tensor import operand_array
from .dims import torch_dims
from .index import getitem
from .reduce import normalize_axes
from .shape import _shape_arg, reshape


class Flip(Function):
    name = "flip"
    saves_inputs = False
    axes: tuple

    def forward(self, a):
        return xp_of(a).flip(a, axis=self.axes) if self.axes else a

    def backward(self, grad):
        return Flip.apply(grad, axes=self.axes)


class Roll(Function):
    name = "roll"
    saves_inputs = False
    shifts: tuple
    axes: object                 # a tuple of axes, or None: the flattened tensor

    def forward(self, a):
        return xp_of(a).roll(a, self.shifts if self.axes is not None else self.shifts[0],
                             axis=self.axes)

    def backward(self, grad):
        return Roll.apply(grad, shifts=tuple(-s for s in self.shifts), axes=self.axes)


def _dims_tuple(dims, op):
    """(2,), ((0, 1),) or ([0, 1],) as a flat tuple of dims."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    return dims


def flip(a, *dims_args, dims=None):
    """torch.flip / Tensor.flip(dims): reverse the order along each of `dims` (an int, a
    tuple or several ints; negatives count from the end). Raises ShapeError for a dim out
    of range or repeated. Gradient: the gradient flipped back."""
    if dims is not None and dims_args:
        raise ShapeError("flip: got dims both as arguments and as dims=")
    dims = _dims_tuple(dims_args if dims is None else (dims,), "flip")
    if not dims:
        raise ShapeError("flip: expected dims (an int or a tuple of ints), got none")
    axes = normalize_axes(dims, a.ndim, "flip") if a.ndim else ()
    return Flip.apply(a, axes=axes)


def roll(a, shifts, dims=None):
    """torch.roll: shift the elements along `dims` by `shifts` (ints or equal-length
    tuples), wrapping around; with dims=None the tensor is rolled as if flattened and
    keeps its shape. Raises ShapeError when shifts and dims differ in length."""
    shifts = tuple(int(s) for s in (shifts if isinstance(shifts, (tuple, list)) else (shifts,)))
    if dims is None:
        if len(shifts) != 1:
            raise ShapeError(f"roll: with dims=None, shifts must be one int, got {shifts}")
        return Roll.apply(a, shifts=shifts, axes=None)
    dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
    if len(dims) != len(shifts):
        raise ShapeError(f"roll: shifts {shifts} and dims {dims} must have the same length")
    ndim = max(a.ndim, 1)
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or not -ndim <= d < ndim:
            raise ShapeError(f"roll: dim {d!r} is out of range for a tensor of {a.ndim} "
                             "dimensions")
    if a.ndim == 0:
        return Roll.apply(a, shifts=shifts[:1], axes=None)
    return Roll.apply(a, shifts=shifts, axes=tuple(int(d) % a.ndim for d in dims))


def repeat(a, *sizes):
    """Tensor.repeat(*sizes): tile the tensor `sizes[i]` times along dim i (NumPy's tile;
    not NumPy's repeat). `sizes` may have more entries than a has dims (new leading
    dims); fewer raise ShapeError. Built from reshape and broadcast_to, so the gradient
    sums the copies."""
    sizes = _shape_arg(sizes)
    if len(sizes) < a.ndim:
        raise ShapeError(f"repeat: got {len(sizes)} repeat counts {sizes} for a tensor of "
                         f"{a.ndim} dimensions; give at least one per dimension")
    if any(s < 0 for s in sizes):
        raise ShapeError(f"repeat: repeat counts must be non-negative, got {sizes}")
    shape = (1,) * (len(sizes) - a.ndim) + tuple(a.shape)
    # (s0, s1, ...) -> (1, s0, 1, s1, ...) -> (r0, s0, r1, s1, ...) -> (r0*s0, r1*s1, ...)
    spread = sum(((1, s) for s in shape), ())
    tiled = sum(((r, s) for r, s in zip(sizes, shape)), ())
    out = reshape(a, spread).broadcast_to(tiled)
    return reshape(out, tuple(r * s for r, s in zip(sizes, shape)))


@torch_dims
def unflatten(a, axis, sizes):
    """torch.unflatten / Tensor.unflatten(dim, sizes): split dimension `dim` into `sizes`
    (one entry may be -1). Raises ShapeError when the sizes do not multiply to its length."""
    ax = normalize_axes(axis, a.ndim, "unflatten")[0]
    sizes = tuple(int(s) for s in sizes)
    known = int(np.prod([s for s in sizes if s != -1]))
    n = a.shape[ax]
    if sizes.count(-1) > 1 or (-1 not in sizes and known != n) or \
            (-1 in sizes and (known == 0 or n % known)):
        raise ShapeError(f"unflatten: sizes {sizes} do not fit dim {ax} of length {n} "
                         f"(shape {tuple(a.shape)})")
    sizes = tuple(n // known if s == -1 else s for s in sizes)
    return reshape(a, a.shape[:ax] + sizes + a.shape[ax + 1:])


def expand_as(a, other):
    """Tensor.expand_as(other): a.expand(other.shape)."""
    return a.expand(*other.shape)


def matrix_transpose(a):
    """Tensor.mT (and mH, for real tensors): the last two dims swapped; needs 2+ dims."""
    if a.ndim < 2:
        raise ShapeError(f"mT: expected a tensor of at least 2 dimensions, got shape "
                         f"{tuple(a.shape)}")
    return a.transpose(-2, -1)


def trace(a):
    """torch.trace: the sum of the main diagonal of a 2-D tensor (integers sum to int64).
    Raises ShapeError for other ranks."""
    if a.ndim != 2:
        raise ShapeError(f"trace: expected a 2-D tensor, got shape {tuple(a.shape)}")
    diag = a.xp.arange(min(a.shape))
    return getitem(a, (diag, diag)).sum()


@torch_dims
def index_select(a, axis, index):
    """torch.index_select(input, dim, index): the entries at `index` (a 1-D or 0-D integer
    tensor) along `dim`; the result has len(index) there. Raises IndexOutOfRangeError for
    an index out of range or not integer, ShapeError for a 2-D+ index."""
    idx = operand_array(index, a, "index_select", "index")
    if idx.dtype.kind not in "iu":
        raise IndexOutOfRangeError(f"index_select: index must be an integer tensor, got "
                                   f"{idx.dtype}")
    if idx.ndim > 1:
        raise ShapeError(f"index_select: index must be 0-D or 1-D, got shape "
                         f"{tuple(idx.shape)}")
    if idx.size and int(idx.min()) < 0:              # torch does not wrap negatives here
        raise IndexOutOfRangeError(f"index_select: index {int(idx.min())} is out of range "
                                   "(negative indices are not allowed)")
    if a.ndim == 0:
        return getitem(a.reshape(1), (idx.reshape(-1),)).reshape(())
    ax = normalize_axes(axis, a.ndim, "index_select")[0]
    return getitem(a, (slice(None),) * ax + (idx.reshape(-1).astype(np.int64),))


def masked_select(a, mask):
    """torch.masked_select: the entries of `a` where the boolean `mask` is True, as a 1-D
    tensor (a and mask broadcast together). Raises DTypeError for a non-boolean mask."""
    m = operand_array(mask, a, "masked_select", "mask")
    if m.dtype != np.bool_:
        raise DTypeError(f"masked_select: mask must be a bool tensor, got {m.dtype}")
    try:
        shape = np.broadcast_shapes(a.shape, m.shape)
    except ValueError:
        raise ShapeError(f"masked_select: mask of shape {tuple(m.shape)} does not broadcast "
                         f"with the input's {tuple(a.shape)}") from None
    if not shape:
        return getitem(a.reshape(1), m.reshape(1))
    return getitem(a.broadcast_to(shape), a.xp.broadcast_to(m, shape))

"""Views, products and selections PyTorch programs reach for (issue 15, alias15): t,
narrow, select, diag, diagonal, tile, movedim, masked_scatter, mm, bmm, dot, outer,
tensordot, meshgrid, unique, argwhere.

Each is built from ops that already carry gradients (getitem, permute, reshape,
broadcast_to, matmul, where), so each gradient, and each gradient of a gradient, comes
from theirs; only diag of a vector has its own Function (its backward is diagonal).
"""
import numpy as np

from ..autograd import Function
from ..backend import xp_of
from ..errors import DTypeError, IndexOutOfRangeError, ShapeError
from ..tensor import Tensor, operand_array
from .dims import torch_dims
from .elementwise import mul, operands
from .gather_scatter import nonzero
from .index import getitem
from .linalg import matmul
from .reduce import normalize_axes
from .rearrange import repeat
from .selection import where
from .shape import _shape_arg, permute, reshape, transpose


# ------------------------------------------------------------------ views
def t(a):
    """torch.t / Tensor.t(): a 2-D tensor transposed; 0-D and 1-D come back as they are.
    Raises ShapeError for more than 2 dimensions."""
    if a.ndim > 2:
        raise ShapeError(f"t: expects a tensor with <= 2 dimensions, got shape {tuple(a.shape)}"
                         " (use transpose(dim0, dim1) or mT)")
    return transpose(a, 0, 1) if a.ndim == 2 else a


def _one_dim(a, dim, op):
    if a.ndim == 0:
        raise ShapeError(f"{op}: cannot be applied to a 0-dim tensor")
    return normalize_axes(dim, a.ndim, op)[0]


@torch_dims
def narrow(a, axis, start, length):
    """torch.narrow(input, dim, start, length): entries start .. start + length - 1 along
    `dim` (a view, as a[..., start:start + length]); a negative start counts from the end.
    Raises IndexOutOfRangeError when the range leaves the dimension."""
    ax = _one_dim(a, axis, "narrow")
    n = a.shape[ax]
    start = int(start.item() if isinstance(start, Tensor) else start)
    if not -n <= start <= n:
        raise IndexOutOfRangeError(f"narrow: start {start} is out of range for dimension {ax} "
                                   f"of size {n}")
    start %= n if n else 1
    if length < 0 or start + length > n:
        raise IndexOutOfRangeError(f"narrow: start ({start}) + length ({length}) exceeds "
                                   f"dimension {ax} of size {n}")
    return getitem(a, (slice(None),) * ax + (slice(start, start + length),))


@torch_dims
def select(a, axis, index):
    """torch.select(input, dim, index): the slice at `index` along `dim`, which goes
    (a[..., index] along that dim). Raises IndexOutOfRangeError for an index out of range."""
    ax = _one_dim(a, axis, "select")
    n = a.shape[ax]
    if not -n <= index < n:
        raise IndexOutOfRangeError(f"select: index {index} is out of range for dimension "
                                   f"{ax} of size {n}")
    return getitem(a, (slice(None),) * ax + (int(index) % n,))


def diagonal(a, offset=0, dim1=0, dim2=1):
    """torch.diagonal(input, offset=0, dim1=0, dim2=1): the diagonal of the (dim1, dim2)
    planes, as a new last dimension; offset > 0 above the main diagonal, < 0 below.
    Raises ShapeError for fewer than 2 dimensions or dim1 == dim2."""
    if a.ndim < 2:
        raise ShapeError(f"diagonal: expected a tensor of at least 2 dimensions, got shape "
                         f"{tuple(a.shape)}")
    d1, d2 = (normalize_axes(d, a.ndim, "diagonal")[0] for d in (dim1, dim2))
    if d1 == d2:
        raise ShapeError(f"diagonal: dim1 and dim2 cannot be the same dimension ({dim1}, {dim2})")
    rest = [i for i in range(a.ndim) if i not in (d1, d2)]
    moved = permute(a, *rest, d1, d2)                   # (..., rows, cols)
    rows, cols = moved.shape[-2:]
    n = max(0, min(rows + min(offset, 0), cols - max(offset, 0)))
    i = a.xp.arange(n) - min(offset, 0)
    j = a.xp.arange(n) + max(offset, 0)
    return getitem(moved, (Ellipsis, i, j))             # the diagonal's positions, gathered


class DiagEmbed(Function):
    """A vector laid on a matrix's diagonal `offset` (torch.diag of a 1-D tensor)."""
    name = "diag"
    saves_inputs = False
    offset: int

    def forward(self, v):
        return xp_of(v).diag(v, self.offset)

    def backward(self, grad):
        return _diagonal(grad, self.offset)             # only the diagonal was written


_diagonal = diagonal          # (diag's argument is named `diagonal`, as torch's)


def diag(a, diagonal=0):
    """torch.diag(input, diagonal=0): a 1-D tensor becomes the square matrix with it on
    diagonal `diagonal`; a 2-D tensor gives that diagonal as a 1-D tensor. Raises
    ShapeError for other ranks."""
    k = int(diagonal)
    if a.ndim == 1:
        return DiagEmbed.apply(a, offset=k)
    if a.ndim == 2:
        return _diagonal(a, k)
    raise ShapeError(f"diag: expected a 1-D or 2-D tensor, got shape {tuple(a.shape)}")


def tile(a, *dims):
    """torch.tile(input, dims): repeat the tensor dims[i] times along dim i; fewer dims than
    the tensor has are padded with 1s in front (unlike Tensor.repeat)."""
    dims = _shape_arg(dims)
    dims = (1,) * (a.ndim - len(dims)) + dims
    return repeat(a, *dims)


def movedim(a, source, destination):
    """torch.movedim(input, source, destination): move the dims `source` (an int or a
    sequence) to the positions `destination`; the others keep their order."""
    src = (source,) if isinstance(source, (int, np.integer)) else tuple(source)
    dst = (destination,) if isinstance(destination, (int, np.integer)) else tuple(destination)
    if len(src) != len(dst):
        raise ShapeError(f"movedim: source {src} and destination {dst} must have the same "
                         "number of dims")
    n = max(a.ndim, 1)
    src = [normalize_axes(s, a.ndim, "movedim")[0] for s in src]
    dst = [normalize_axes(d, a.ndim, "movedim")[0] for d in dst]
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ShapeError(f"movedim: repeated dim in source {src} or destination {dst}")
    if a.ndim == 0:
        return a
    order = [i for i in range(n) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute(a, *order)


def masked_scatter(a, mask, source):
    """torch.masked_scatter(input, mask, source): input with the positions where `mask`
    (bool, broadcast to input's shape) is True filled, in row-major order, by the first
    entries of `source`. Gradients: input's where mask is False, source's first entries.
    Raises DTypeError for a non-bool mask or a source of another dtype, ShapeError when
    source has too few entries."""
    m = operand_array(mask, a, "masked_scatter", "mask")
    if m.dtype != np.bool_:
        raise DTypeError(f"masked_scatter: mask must be a bool tensor, got dtype {m.dtype}")
    if source.dtype != a.dtype:
        raise DTypeError(f"masked_scatter: source dtype {source.dtype} differs from the "
                         f"input's {a.dtype}")
    try:
        m = a.xp.broadcast_to(m, a.shape)
    except ValueError:
        raise ShapeError(f"masked_scatter: mask of shape {tuple(m.shape)} does not broadcast "
                         f"to the input's shape {tuple(a.shape)}") from None
    count = int(m.sum())
    if count > source.numel():
        raise ShapeError(f"masked_scatter: mask has {count} True entries but source has "
                         f"only {source.numel()} elements")
    if count == 0:
        return where(m, a, a)
    # position p takes source's entry number (how many Trues come before p); others pick
    # entry 0 and are discarded by where (so they take no gradient)
    order = a.xp.cumsum(m.reshape(-1)) - 1
    picks = getitem(reshape(source, -1), (a.xp.maximum(order, 0).reshape(a.shape),))
    return where(m, picks, a)


# ------------------------------------------------------------------ products
def _need(op, t, ndim, what):
    if t.ndim != ndim:
        raise ShapeError(f"{op}: {what} must be a {ndim}-D tensor, got shape {tuple(t.shape)}")


def mm(a, b):
    """torch.mm: (n, m) @ (m, p) -> (n, p); no broadcasting. Raises ShapeError for other
    ranks or mismatched inner sizes."""
    _need("mm", a, 2, "self"), _need("mm", b, 2, "mat2")
    if a.shape[1] != b.shape[0]:
        raise ShapeError(f"mm: mat1 and mat2 shapes cannot be multiplied ({a.shape[0]}x"
                         f"{a.shape[1]} and {b.shape[0]}x{b.shape[1]})")
    return matmul(a, b)


def bmm(a, b):
    """torch.bmm: (b, n, m) @ (b, m, p) -> (b, n, p); batch sizes must match (no
    broadcasting). Raises ShapeError otherwise."""
    _need("bmm", a, 3, "batch1"), _need("bmm", b, 3, "batch2")
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ShapeError(f"bmm: shapes {tuple(a.shape)} and {tuple(b.shape)} cannot be "
                         "batch-multiplied (need (b, n, m) and (b, m, p))")
    return matmul(a, b)


def dot(a, b):
    """torch.dot: the inner product of two 1-D tensors of the same length and dtype (a 0-D
    tensor). Raises ShapeError or DTypeError otherwise."""
    _need("dot", a, 1, "self"), _need("dot", b, 1, "tensor")
    if a.shape != b.shape:
        raise ShapeError(f"dot: inconsistent tensor size, expected tensors of the same "
                         f"length, got {a.shape[0]} and {b.shape[0]}")
    if a.dtype != b.dtype:
        raise DTypeError(f"dot: expected both vectors to have the same dtype, got {a.dtype} "
                         f"and {b.dtype}")
    return matmul(a, b)


def outer(a, b):
    """torch.outer: a[i] * b[j] as an (n, m) matrix, for 1-D a and b."""
    _need("outer", a, 1, "self"), _need("outer", b, 1, "vec2")
    return mul(a.reshape(-1, 1), b.reshape(1, -1))


def tensordot(a, b, dims=2):
    """torch.tensordot(a, b, dims): contract a's last `dims` dims with b's first `dims`
    (an int), or the listed pairs (dims=([a dims], [b dims])). Raises ShapeError when the
    contracted sizes differ."""
    if isinstance(dims, (int, np.integer)):
        if dims < 0 or dims > min(a.ndim, b.ndim):
            raise ShapeError(f"tensordot: dims={dims} is out of range for shapes "
                             f"{tuple(a.shape)} and {tuple(b.shape)}")
        da, db = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        da, db = ([d] if isinstance(d, (int, np.integer)) else list(d) for d in dims)
        da = [normalize_axes(d, a.ndim, "tensordot")[0] for d in da]
        db = [normalize_axes(d, b.ndim, "tensordot")[0] for d in db]
    if [a.shape[i] for i in da] != [b.shape[j] for j in db]:
        raise ShapeError(f"tensordot: contracted dims {da} of {tuple(a.shape)} and {db} of "
                         f"{tuple(b.shape)} differ in size")
    free_a = [i for i in range(a.ndim) if i not in da]
    free_b = [j for j in range(b.ndim) if j not in db]
    k = int(np.prod([a.shape[i] for i in da]))
    rows = int(np.prod([a.shape[i] for i in free_a]))
    cols = int(np.prod([b.shape[j] for j in free_b]))
    a2 = reshape(permute(a, *free_a, *da), rows, k)     # (free of a, contracted)
    b2 = reshape(permute(b, *db, *free_b), k, cols)     # (contracted, free of b)
    out = matmul(*operands(a2, b2))
    return reshape(out, *[a.shape[i] for i in free_a], *[b.shape[j] for j in free_b])


def meshgrid(*tensors, indexing="ij"):
    """torch.meshgrid(*tensors, indexing='ij'): N 1-D (or 0-D) tensors of lengths n_i become
    N tensors of shape (n_0, ..., n_N-1) ('xy' swaps the first two dims, as NumPy's
    default). Gradients sum over the broadcast dims."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    for t_ in tensors:
        if t_.ndim > 1:
            raise ShapeError(f"meshgrid: expected 0-D or 1-D tensors, got shape {tuple(t_.shape)}")
    sizes = [t_.numel() for t_ in tensors]
    pos = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) >= 2:
        pos[0], pos[1] = 1, 0
    shape = [0] * len(tensors)
    for i, p in enumerate(pos):
        shape[p] = sizes[i]
    outs = []
    for t_, p in zip(tensors, pos):
        view = [1] * len(tensors)
        view[p] = -1
        outs.append(reshape(t_, *view).broadcast_to(tuple(shape)))
    return tuple(outs)


# ------------------------------------------------------------------ no gradient
def unique(a, sorted=True, return_inverse=False, return_counts=False, dim=None):
    """torch.unique: the distinct values of `a` (sorted; flattened unless `dim` is given,
    then the distinct slices along dim), and on request the inverse indices (int64, each
    entry's position in the result; a's shape, or (a.shape[dim],) with dim) and the counts
    (int64). No gradient."""
    xp = a.xp
    axis = None if dim is None else normalize_axes(dim, a.ndim, "unique")[0]
    values, inverse, counts = xp.unique(a.array, return_inverse=True, return_counts=True,
                                        axis=axis)
    inverse = inverse.reshape(a.shape if axis is None else (a.shape[axis],)).astype(np.int64)
    out = [Tensor._make(values, False, None)]
    if return_inverse:
        out.append(Tensor._make(inverse, False, None))
    if return_counts:
        out.append(Tensor._make(counts.astype(np.int64), False, None))
    return out[0] if len(out) == 1 else tuple(out)


def argwhere(a):
    """torch.argwhere: the indices of the non-zero entries, an (n, a.ndim) int64 tensor."""
    return nonzero(a)

"""Putting tensors together and turning them around, as torch has them: hstack, vstack
(row_stack), column_stack, dstack, atleast_1d/2d/3d, fliplr, flipud, rot90, kron,
block_diag and cartesian_prod.

Each is built from ops that carry gradients (cat, reshape, unsqueeze, flip, transpose,
mul, pad by concatenation, meshgrid), so its gradient is theirs, torch's.
"""
from ..errors import ShapeError
from ..tensor import Tensor
from .shape import concat, reshape, stack, transpose, unsqueeze
from .views_extra import meshgrid


def _tensors(op, tensors):
    tensors = list(tensors)
    if not tensors or not all(isinstance(t, Tensor) for t in tensors):
        raise ShapeError(f"{op}: expected a non-empty sequence of tensors")
    return tensors


def atleast_1d(*tensors):
    """torch.atleast_1d: 0-d tensors as shape (1,); one tensor in, one out, else a tuple."""
    out = tuple(reshape(t, (1,)) if t.ndim == 0 else t for t in _flat(tensors))
    return out[0] if len(out) == 1 else out


def atleast_2d(*tensors):
    """torch.atleast_2d: (n,) as (1, n), a 0-d tensor as (1, 1)."""
    out = tuple(reshape(t, (1, 1)) if t.ndim == 0 else unsqueeze(t, 0) if t.ndim == 1 else t
                for t in _flat(tensors))
    return out[0] if len(out) == 1 else out


def atleast_3d(*tensors):
    """torch.atleast_3d: (n,) as (1, n, 1), (m, n) as (m, n, 1), a 0-d tensor as (1, 1, 1)."""
    def three(t):
        if t.ndim == 0:
            return reshape(t, (1, 1, 1))
        if t.ndim == 1:
            return reshape(t, (1, t.shape[0], 1))
        return unsqueeze(t, -1) if t.ndim == 2 else t
    out = tuple(three(t) for t in _flat(tensors))
    return out[0] if len(out) == 1 else out


def _flat(tensors):
    """atleast_*(a, b) and atleast_*([a, b]) alike."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tensors[0]
    return _tensors("atleast_nd", tensors)


def hstack(tensors):
    """torch.hstack: concatenated along dim 1 (dim 0 for 1-D tensors)."""
    tensors = [atleast_1d(t) for t in _tensors("hstack", tensors)]
    return concat(tensors, 0 if tensors[0].ndim == 1 else 1)


def vstack(tensors):
    """torch.vstack (row_stack): 1-D tensors as rows, concatenated along dim 0."""
    return concat([atleast_2d(t) for t in _tensors("vstack", tensors)], 0)


def column_stack(tensors):
    """torch.column_stack: 0-d and 1-D tensors as columns, concatenated along dim 1."""
    def column(t):
        return reshape(t, (t.numel(), 1)) if t.ndim <= 1 else t
    return concat([column(t) for t in _tensors("column_stack", tensors)], 1)


def dstack(tensors):
    """torch.dstack: concatenated along dim 2 after atleast_3d."""
    return concat([atleast_3d(t) for t in _tensors("dstack", tensors)], 2)


def fliplr(input):
    """torch.fliplr: the columns (dim 1) reversed; needs at least 2 dims."""
    if input.ndim < 2:
        raise ShapeError(f"fliplr: input must be at least 2-D, got shape {tuple(input.shape)}")
    return input.flip(1)


def flipud(input):
    """torch.flipud: the rows (dim 0) reversed; needs at least 1 dim."""
    if input.ndim < 1:
        raise ShapeError("flipud: input must be at least 1-D, got a 0-d tensor")
    return input.flip(0)


def rot90(input, k=1, dims=(0, 1)):
    """torch.rot90: rotated by 90 degrees k times in the plane of `dims`, from the first
    towards the second. Raises ShapeError for dims that are not two different axes."""
    if len(dims) != 2:
        raise ShapeError(f"rot90: dims must name two axes, got {dims!r}")
    a, b = (d % input.ndim for d in dims) if input.ndim >= 2 else (None, None)
    if a is None or a == b:
        raise ShapeError(f"rot90: dims {tuple(dims)} must be two different axes of a tensor of "
                         f"at least 2 dims, got shape {tuple(input.shape)}")
    k %= 4
    if k == 0:
        return input
    if k == 2:
        return input.flip((a, b))
    if k == 1:
        return transpose(input.flip(b), a, b)
    return transpose(input, a, b).flip(b)


def kron(input, other):
    """torch.kron: the Kronecker product; the shorter shape is padded with leading 1s, and
    each dim's size is the product of the two."""
    n = max(input.ndim, other.ndim)
    a = reshape(input, (1,) * (n - input.ndim) + tuple(input.shape))
    b = reshape(other, (1,) * (n - other.ndim) + tuple(other.shape))
    # a's dims interleaved with new axes of 1 for b's, and the other way round
    a_shape = sum(((s, 1) for s in a.shape), ())
    b_shape = sum(((1, s) for s in b.shape), ())
    out = reshape(a, a_shape) * reshape(b, b_shape)
    return reshape(out, tuple(x * y for x, y in zip(a.shape, b.shape)))


def block_diag(*tensors):
    """torch.block_diag: the tensors (0-, 1- or 2-D, taken as matrices) down the diagonal
    of one matrix, zeros elsewhere."""
    blocks = [reshape(t, (1, 1)) if t.ndim == 0 else unsqueeze(t, 0) if t.ndim == 1 else t
              for t in _tensors("block_diag", tensors)]
    if any(b.ndim != 2 for b in blocks):
        raise ShapeError("block_diag: inputs must have at most 2 dims")
    width = sum(b.shape[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        pieces = [b.new_zeros(b.shape[0], left), b, b.new_zeros(b.shape[0], width - left - b.shape[1])]
        rows.append(concat([p for p in pieces if p.shape[1]] or [b], 1))
        left += b.shape[1]
    return concat(rows, 0)


def cartesian_prod(*tensors):
    """torch.cartesian_prod: every combination of the 1-D tensors' entries, one per row
    (a single tensor comes back as it is)."""
    tensors = _tensors("cartesian_prod", tensors)
    if len(tensors) == 1:
        return tensors[0]
    grids = meshgrid(*tensors, indexing="ij")
    return stack([reshape(g, (-1,)) for g in grids], 1)

"""gather and scatter along one dimension (torch.gather, Tensor.scatter_, scatter_add_).

out[i][j][k] = a[i][index[i][j][k]][k] for dim 1 (gather); scatter writes the other way.
The gradient of gather is a scatter-add of the gradient into zeros of the input's shape
(an index may repeat, so the gradient adds up).
"""
import numpy as np

from ..autograd import Function
from ..backend import scatter_add, xp_of
from ..errors import IndexOutOfRangeError, ShapeError
from ..tensor import Tensor, constant, operand_array


def _grid(xp, index, dim):
    """The full index tuple of a gather along `dim`: broadcast grids elsewhere."""
    # np.indices(shape, sparse=True), written out: CuPy's indices has no `sparse`
    n = index.ndim
    grid = [xp.arange(size).reshape((1,) * axis + (size,) + (1,) * (n - axis - 1))
            for axis, size in enumerate(index.shape)]
    grid[dim] = index
    return tuple(grid)


def add_at(out, index, src):
    """out[index] += src in place, repeated positions adding up. Half precision adds in
    float32 and rounds once at the end (issue 21's rule; torch's scatter_add does too)."""
    if out.dtype.kind == "f" and out.dtype.itemsize < 4 or out.dtype.name == "bfloat16":
        acc = out.astype(np.float32)
        scatter_add(acc, index, src.astype(np.float32))
        out[...] = acc
    else:
        scatter_add(out, index, src)
    return out


def scatter_add_array(out, dim, index, src):
    """out[.., index[i, j], ..] += src[i, j] along `dim`, in place; repeats add up."""
    return add_at(out, _grid(xp_of(out), index, dim), src)


class Gather(Function):
    """out = a gathered along `dim` at `index` (same number of dims as a)."""
    name = "gather"
    saves_inputs = False
    dim: int
    index: object                # the int64 index array

    def forward(self, a):
        self.in_shape, self.dtype = a.shape, a.dtype
        return a[_grid(xp_of(a), self.index, self.dim)]

    def backward(self, grad):
        out = grad.xp.zeros(self.in_shape, dtype=self.dtype)
        return constant(scatter_add_array(out, self.dim, self.index, grad.array))


def check_index(op, a, dim, index):
    """`index` as an int64 array with a's number of dims, in range along `dim`;
    `dim` as a non-negative int."""
    idx = operand_array(index, a, op, "index")
    if idx.dtype.kind not in "iu":
        raise IndexOutOfRangeError(f"{op}: index must be an integer tensor, got {idx.dtype}")
    ndim = max(a.ndim, 1)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not -ndim <= dim < ndim:
        raise ShapeError(f"{op}: dim {dim!r} out of range for a tensor of {a.ndim} dimensions")
    dim = int(dim) % ndim
    if idx.ndim != a.ndim:
        raise ShapeError(f"{op}: index must have as many dimensions as the input "
                         f"({a.ndim}), got shape {tuple(idx.shape)}")
    if idx.size and (int(idx.min()) < -a.shape[dim] or int(idx.max()) >= a.shape[dim]):
        raise IndexOutOfRangeError(f"{op}: index out of range [{int(idx.min())}, "
                                   f"{int(idx.max())}] for dim {dim} of size {a.shape[dim]}")
    return dim, idx.astype(np.int64, copy=False) % max(a.shape[dim], 1)


def gather(a, dim, index):
    """torch.gather: values of `a` along `dim` at `index` (int64, a's number of dims;
    the result has index's shape). Differentiable in `a`."""
    dim, idx = check_index("gather", a, dim, index)
    for d in range(a.ndim):
        if d != dim and idx.shape[d] > a.shape[d]:
            raise ShapeError(f"gather: index shape {tuple(idx.shape)} exceeds the input's "
                             f"{tuple(a.shape)} at dim {d}")
    return Gather.apply(a, dim=dim, index=idx)


def _scatter_source(op, a, index, src):
    if isinstance(src, Tensor):
        if src.ndim != index.ndim or any(s < i for s, i in zip(src.shape, index.shape)):
            raise ShapeError(f"{op}: src of shape {tuple(src.shape)} is smaller than index "
                             f"{tuple(index.shape)}")
        return src.array[tuple(slice(0, n) for n in index.shape)].astype(a.dtype, copy=False)
    return a.xp.full(index.shape, src, dtype=a.dtype)


def scatter_(a, dim, index, src=None, value=None):
    """Tensor.scatter_: a[.., index[i, j], ..] = src[i, j] (or the number `value`) along
    `dim`, in place (a's version goes up); returns a."""
    src = value if src is None else src
    dim, idx = check_index("scatter_", a, dim, index)
    source = _scatter_source("scatter_", a, idx, src)
    a._check_inplace("scatter_")
    a.array[_grid(a.xp, idx, dim)] = source
    return a


def scatter_add_(a, dim, index, src):
    """Tensor.scatter_add_: a[.., index[i, j], ..] += src[i, j] along `dim`, in place;
    repeated indices add up."""
    dim, idx = check_index("scatter_add_", a, dim, index)
    source = _scatter_source("scatter_add_", a, idx, src)
    a._check_inplace("scatter_add_")
    scatter_add_array(a.array, dim, idx, source)
    return a



def check_index_vector(op, a, dim, index, negative_ok=True):
    """For the index_* ops: `dim` as a non-negative int and `index` (an int, 0-d or 1-d
    integer tensor) as a 1-d int64 array of positions along it (negative ones count
    from the end when `negative_ok`, as torch's index_fill; index_add/index_copy refuse
    them, as torch)."""
    idx = operand_array(index, a, op, "index")
    ndim = max(a.ndim, 1)
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or not -ndim <= dim < ndim:
        raise ShapeError(f"{op}: dim {dim!r} out of range for a tensor of {a.ndim} "
                         "dimensions")
    if idx.dtype.kind not in "iu" or idx.ndim > 1:
        raise IndexOutOfRangeError(f"{op}: index must be a 0-d or 1-d integer tensor, "
                                   f"got dtype {idx.dtype} and shape {tuple(idx.shape)}")
    dim = int(dim) % ndim
    size = a.shape[dim] if a.ndim else 1
    low = -size if negative_ok else 0
    if idx.size and (int(idx.min()) < low or int(idx.max()) >= size):
        raise IndexOutOfRangeError(f"{op}: index out of range [{int(idx.min())}, "
                                   f"{int(idx.max())}] for dim {dim} of size {size}")
    return dim, idx.reshape(-1).astype(np.int64, copy=False) % max(size, 1)


def index_fill_(a, dim, index, value):
    """Tensor.index_fill_: every entry whose position along `dim` is in `index` (int, 0-d
    or 1-d) becomes `value`, in place (a's version goes up); returns a."""
    dim, idx = check_index_vector("index_fill_", a, dim, index)
    a._check_inplace("index_fill_")
    if a.ndim:
        a.array[(slice(None),) * dim + (idx,)] = value
    elif idx.size:
        a.array[...] = value
    return a


def nonzero(a, as_tuple=False):
    """torch.nonzero: the indices of the non-zero entries, int64 (n, a.ndim) in row-major
    order; `as_tuple=True` gives one 1-d index tensor per dimension instead."""
    found = xp_of(a.array).nonzero(a.array) if a.ndim else \
        xp_of(a.array).nonzero(a.array.reshape(1))[:0]
    found = tuple(constant(f.astype(np.int64)) for f in found)
    if as_tuple:
        return found
    xp = xp_of(a.array)
    n = int(xp.count_nonzero(a.array))
    return constant(xp.stack([f.array for f in found], axis=1) if found
                    else xp.zeros((n, 0), dtype=np.int64))

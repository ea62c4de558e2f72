"""Indexing: basic slices and integer-array (gather) indexing.

The backward of a gather is a scatter-add: where an index repeats, its
gradients add up (`np.add.at`, or `cupyx.scatter_add` on the GPU).
"""
import numpy as np

from ..autograd import Function
from ..backend import scatter_add, xp_of
from ..errors import IndexOutOfRangeError
from ..tensor import Tensor
from .gather_scatter import add_at
from .shape import sum_to


def as_index(index):
    """Replace Tensors (and lists) inside an index by arrays."""
    if isinstance(index, tuple):
        return tuple(as_index(i) for i in index)
    if isinstance(index, Tensor):
        return index.array
    if isinstance(index, list):
        return np.asarray(index)
    return index


def _is_advanced(index):
    parts = index if isinstance(index, tuple) else (index,)
    return any(hasattr(p, "dtype") and getattr(p, "ndim", 0) >= 0 and not np.isscalar(p)
               for p in parts)


class GetItem(Function):
    name = "getitem"
    saves_inputs = False
    index: object                # basic (slices, ints) or advanced (integer/bool arrays)
    advanced: bool               # True: a gather, whose backward is a scatter-add

    def forward(self, a):
        self.in_shape = a.shape
        return a[self.index]

    def backward(self, grad):
        return IndexBackward.apply(grad, index=self.index, shape=self.in_shape,
                                   advanced=self.advanced)


class IndexBackward(Function):
    """Scatter a gradient back into a zero tensor of the indexed input's shape."""
    name = "index_backward"
    saves_inputs = False
    index: object                # as GetItem's
    shape: tuple                 # the indexed input's shape
    advanced: bool

    def forward(self, g):
        out = xp_of(g).zeros(self.shape, dtype=g.dtype)
        if self.advanced:
            scatter_add(out, self.index, g)
        else:
            out[self.index] = g
        return out

    def backward(self, grad):
        return GetItem.apply(grad, index=self.index, advanced=self.advanced)


class IndexPut(Function):
    """out = a with out[index] = value (accumulate: value added there, repeats adding up):
    the out-of-place form of item assignment and index_put_, which autograd records when
    the value or the tensor requires grad (torch's CopySlices / index_put backward)."""
    name = "index_put"
    saves_inputs = False
    index: object                # as GetItem's
    accumulate: bool = False

    def forward(self, a, value):
        out = a.copy()
        if self.accumulate:
            add_at(out, self.index, xp_of(a).broadcast_to(value, out[self.index].shape))
        else:
            out[self.index] = value
        return out

    def backward(self, grad):
        a, value = self.inputs
        ga = gv = None
        if self.needs_input_grad[0]:   # overwritten positions get no gradient, added ones all of it
            ga = grad if self.accumulate else index_put(grad, self.index, 0.0)
        if self.needs_input_grad[1]:   # each written position hands its gradient to its value
            gv = sum_to(getitem(grad, self.index), value.shape)
        return ga, gv


def index_put(a, index, value, accumulate=False):
    """A copy of `a` with a[index] = value (accumulate=True: value added at index, repeated
    positions adding up), differentiable in both (torch.index_put, whose `indices` is a
    tuple of index tensors; any item-assignment index works here). `value` broadcasts to
    a[index]'s shape and takes a's dtype. Raises IndexOutOfRangeError for an index out of
    range."""
    if isinstance(index, list):
        index = tuple(index)
    index = as_index(index)
    _check_bounds(a, index)
    if not isinstance(value, Tensor):
        value = Tensor(a.xp.asarray(value, dtype=a.dtype))
    elif value.dtype != a.dtype:
        value = value.astype(a.dtype)
    return IndexPut.apply(a, value, index=index, accumulate=accumulate)


def _check_bounds(a, index):
    parts = index if isinstance(index, tuple) else (index,)
    dim = 0
    for pos, p in enumerate(parts):
        if p is None:
            continue
        if p is Ellipsis:            # the axes after it count from the end (a bool mask spans ndim)
            dim = a.ndim - sum(q.ndim if getattr(q, "dtype", None) == np.bool_ else 1
                               for q in parts[pos + 1:] if q is not None)
            continue
        if dim >= a.ndim:
            raise IndexOutOfRangeError(
                f"getitem: too many indices for a tensor of shape {tuple(a.shape)}")
        size = a.shape[dim]
        if isinstance(p, (int, np.integer)):
            if not -size <= p < size:
                raise IndexOutOfRangeError(
                    f"getitem: index {p} is out of range for axis {dim} of size {size} "
                    f"(shape {tuple(a.shape)})")
        elif hasattr(p, "dtype") and p.dtype.kind in "iu" and p.size:
            lo, hi = int(p.min()), int(p.max())
            if lo < -size or hi >= size:
                bad = hi if hi >= size else lo
                raise IndexOutOfRangeError(
                    f"getitem: index {bad} is out of range for axis {dim} of size {size} "
                    f"(shape {tuple(a.shape)})")
        elif hasattr(p, "dtype") and p.dtype == np.bool_:
            dim += p.ndim
            continue
        dim += 1


def getitem(a, index):
    index = as_index(index)
    _check_bounds(a, index)
    advanced = _is_advanced(index)
    if advanced and isinstance(index, tuple) and any(_is_int(p) for p in index):
        # PyTorch applies int indices first, as basic indexing. NumPy counts them among the
        # array indices, and moves all of those axes to the front when something stands
        # between them: x[None, ids, None, 0] would be (len(ids), 1, 1), not (1, len(ids), 1).
        arrays = [hasattr(p, "dtype") and not np.isscalar(p) for p in index]
        first = sum(((slice(None),) * (p.ndim if p.dtype == np.bool_ else 1) if is_array else (p,)
                     for p, is_array in zip(index, arrays)), ())
        then = tuple(p if is_array else Ellipsis if p is Ellipsis else slice(None)
                     for p, is_array in zip(index, arrays) if not _is_int(p))
        return getitem(getitem(a, first), then)
    return GetItem.apply(a, index=index, advanced=advanced)


def _is_int(p):
    return isinstance(p, (int, np.integer)) and not isinstance(p, (bool, np.bool_))


def take(a, indices, axis=0):
    """Gather along one axis (like numpy.take with an integer tensor)."""
    from .reduce import normalize_axes
    axis = normalize_axes(axis, a.ndim, "take")[0]
    return getitem(a, (slice(None),) * axis + (as_index(indices),))

"""Out-of-place scatter and index ops with gradients, as torch: scatter, scatter_add,
index_fill, index_add, index_copy (and the in-place index_add_, index_copy_).

Gradients (torch's formulas):
- scatter(a, dim, index, src): wrt a, the gradient with the overwritten positions set to
  0; wrt src, the gradient gathered at index (src larger than index: zeros beyond it).
- scatter_add: wrt a, the gradient itself; wrt src, gathered at index.
- index_add(a, dim, index, source, alpha): wrt a, the gradient; wrt source, alpha times
  the gradient's slices at index (index_select).
- index_copy: wrt a, the gradient with the copied-over slices set to 0; wrt source, the
  gradient's slices at index.
- index_fill(a, dim, index, value): wrt a, the gradient with the filled slices set to 0;
  wrt a 0-d tensor value, the sum of the gradient over the filled slices.
Indices must be in range; negative ones are refused, as torch does (index_fill allows
them, as torch). A repeated index in scatter / index_copy writes the last of its values
(torch leaves the choice open). Half precision adds up in float32 (issue 21).
"""

from ..autograd import Function
from ..backend import xp_of
from ..errors import DTypeError, IndexOutOfRangeError, MinigradError, ShapeError
from ..tensor import Tensor, constant, operand_array
from .gather_scatter import Gather, _grid, add_at, check_index, check_index_vector
from .selection import MaskedFill, Where, masked_fill


def _along(dim, index):
    """The index tuple that picks `index` along `dim` and everything elsewhere."""
    return (slice(None),) * dim + (index,)


# ------------------------------------------------------------ scatter, scatter_add
class Scatter(Function):
    """out = a with out[.., index[i, j], ..] = src[i, j] along `dim` (src has index's shape)."""
    name = "scatter"
    saves_inputs = False
    dim: int
    index: object                # int64, in range

    def forward(self, a, src):
        grid = _grid(xp_of(a), self.index, self.dim)
        out = a.copy()
        out[grid] = src
        if self.needs_input_grad and self.needs_input_grad[0]:
            self.written = xp_of(a).zeros(a.shape, dtype=bool)
            self.written[grid] = True
        return out

    def backward(self, grad):
        needs = self.needs_input_grad
        return (MaskedFill.apply(grad, mask=self.written, value=0) if needs[0] else None,
                Gather.apply(grad, dim=self.dim, index=self.index) if needs[1] else None)


class ScatterAdd(Function):
    """out = a with src[i, j] added at out[.., index[i, j], ..] along `dim`."""
    name = "scatter_add"
    saves_inputs = False
    dim: int
    index: object

    def forward(self, a, src):
        out = a.copy()
        return add_at(out, _grid(xp_of(a), self.index, self.dim), src)

    def backward(self, grad):
        needs = self.needs_input_grad
        return (grad if needs[0] else None,
                Gather.apply(grad, dim=self.dim, index=self.index) if needs[1] else None)


def _scatter_args(op, a, dim, index, src, value):
    """Check as torch does; src as a tensor of index's shape in a's dtype."""
    if isinstance(src, Tensor) and value is not None:
        raise MinigradError(f"{op}: give src or value, not both")
    if a.ndim == 0:
        raise ShapeError(f"{op}: a 0-d input is not supported (reshape it to 1-d)")
    raw = operand_array(index, a, op, "index")
    if raw.size and raw.dtype.kind in "iu" and int(raw.min()) < 0:
        raise IndexOutOfRangeError(f"{op}: index {int(raw.min())} is out of bounds (negative "
                                   "indices are not allowed, as in torch)")
    dim, idx = check_index(op, a, dim, raw)
    for d in range(a.ndim):
        if d != dim and idx.shape[d] > a.shape[d]:
            raise ShapeError(f"{op}: index of shape {tuple(idx.shape)} is larger than the "
                             f"input {tuple(a.shape)} at dim {d}")
    if not isinstance(src, Tensor):
        fill = src if value is None else value
        if fill is None or isinstance(fill, (str, bytes)):
            raise MinigradError(f"{op}: expected src (a tensor) or value (a number), got "
                                f"{fill!r}")
        return dim, idx, constant(a.xp.full(idx.shape, fill, dtype=a.dtype))
    if src.dtype != a.dtype:
        raise DTypeError(f"{op}: src has dtype {src.dtype}, the input {a.dtype}; they must "
                         "be the same (as in torch)")
    if src.ndim != idx.ndim or any(s < i for s, i in zip(src.shape, idx.shape)):
        raise ShapeError(f"{op}: index of shape {tuple(idx.shape)} must be no larger than "
                         f"src {tuple(src.shape)}, with as many dimensions")
    if tuple(src.shape) != tuple(idx.shape):             # only src's leading corner is read
        src = src[tuple(slice(0, n) for n in idx.shape)]
    return dim, idx, src


def scatter(input, dim, index, src=None, value=None, reduce=None):
    """torch.scatter / Tensor.scatter: a copy of `input` with input[.., index[i, j], ..] =
    src[i, j] along `dim` (or the number `value`; a number as src works too).

    index: integer tensor with input's number of dims, no larger than input (except along
    dim) nor than src; entries in [0, input.size(dim)). src: input's dtype. Differentiable
    in input and src. Raises ShapeError, DTypeError, IndexOutOfRangeError as torch would.
    `reduce=` is not supported (use scatter_add)."""
    if reduce is not None:
        raise MinigradError(f"scatter: reduce={reduce!r} is not supported; use scatter_add")
    dim, idx, src = _scatter_args("scatter", input, dim, index, src, value)
    return Scatter.apply(input, src, dim=dim, index=idx)


def scatter_add(input, dim, index, src):
    """torch.scatter_add: a copy of `input` with src[i, j] added at input[.., index[i, j], ..]
    along `dim` (repeats add up). Shapes and dtypes as `scatter`. Differentiable in both."""
    if not isinstance(src, Tensor):
        raise MinigradError(f"scatter_add: src must be a tensor, got {type(src).__name__}")
    dim, idx, src = _scatter_args("scatter_add", input, dim, index, src, None)
    return ScatterAdd.apply(input, src, dim=dim, index=idx)


# ------------------------------------------------------------ index_* along one dim
class IndexSelect(Function):
    """out = a's slices at `index` along `dim` (the gradient of index_add / index_copy)."""
    name = "index_select"
    saves_inputs = False
    dim: int
    index: object                # 1-d int64, in range

    def forward(self, a):
        self.in_shape = a.shape
        return xp_of(a).take(a, self.index, axis=self.dim)

    def backward(self, grad):
        zeros = constant(grad.xp.zeros(self.in_shape, dtype=grad.dtype))
        return IndexAdd.apply(zeros, grad, dim=self.dim, index=self.index, alpha=1)


class IndexAdd(Function):
    """out = a with alpha * source's slices added at `index` along `dim`."""
    name = "index_add"
    saves_inputs = False
    dim: int
    index: object
    alpha: object

    def forward(self, a, source):
        out = a.copy()
        return add_at(out, _along(self.dim, self.index),
                      source if self.alpha == 1 else source * self.alpha)

    def backward(self, grad):
        needs = self.needs_input_grad
        g_source = None
        if needs[1]:
            g_source = IndexSelect.apply(grad, dim=self.dim, index=self.index)
            g_source = g_source if self.alpha == 1 else g_source * self.alpha
        return grad if needs[0] else None, g_source


class IndexCopy(Function):
    """out = a with source's slices written at `index` along `dim`."""
    name = "index_copy"
    saves_inputs = False
    dim: int
    index: object
    written: object              # bool, True on the slices written (broadcasts to a)

    def forward(self, a, source):
        out = a.copy()
        out[_along(self.dim, self.index)] = source
        return out

    def backward(self, grad):
        needs = self.needs_input_grad
        return (MaskedFill.apply(grad, mask=self.written, value=0) if needs[0] else None,
                IndexSelect.apply(grad, dim=self.dim, index=self.index) if needs[1] else None)


def _slices_mask(a, dim, idx):
    """A bool array that broadcasts to a's shape: True on the slices at idx along dim."""
    mask = a.xp.zeros(a.shape[dim], dtype=bool)
    mask[idx] = True
    return mask.reshape((1,) * dim + (-1,) + (1,) * (a.ndim - dim - 1))


def _index_args(op, a, dim, index, source):
    """Check index_add / index_copy's arguments as torch does."""
    if a.ndim == 0:
        raise ShapeError(f"{op}: a 0-d input is not supported (reshape it to 1-d)")
    dim, idx = check_index_vector(op, a, dim, index, negative_ok=False)
    if not isinstance(source, Tensor):
        raise MinigradError(f"{op}: source must be a tensor, got {type(source).__name__}")
    want = a.shape[:dim] + (idx.size,) + a.shape[dim + 1:]
    if tuple(source.shape) != want:
        raise ShapeError(f"{op}: source of shape {tuple(source.shape)} should be {want} "
                         f"(the input {tuple(a.shape)} with {idx.size} indices along dim "
                         f"{dim})")
    if source.dtype != a.dtype:
        raise DTypeError(f"{op}: source has dtype {source.dtype}, the input {a.dtype}; they "
                         "must be the same (as in torch)")
    return dim, idx


def index_add(input, dim, index, source, alpha=1):
    """torch.index_add: a copy of `input` with alpha * source[.., i, ..] added at
    input[.., index[i], ..] along `dim` (repeats add up). index: int, 0-d or 1-d
    integer tensor in [0, input.size(dim)); source: input's shape and dtype except
    len(index) along dim. Differentiable in input and source."""
    dim, idx = _index_args("index_add", input, dim, index, source)
    return IndexAdd.apply(input, source, dim=dim, index=idx, alpha=alpha)


def index_copy(input, dim, index, source):
    """torch.index_copy: a copy of `input` with input[.., index[i], ..] = source[.., i, ..]
    along `dim`. Arguments as `index_add`. Differentiable in input and source."""
    dim, idx = _index_args("index_copy", input, dim, index, source)
    return IndexCopy.apply(input, source, dim=dim, index=idx,
                           written=_slices_mask(input, dim, idx))


def index_fill(input, dim, index, value):
    """torch.index_fill: a copy of `input` whose slices at `index` along `dim` hold
    `value` (a number, or a 0-d tensor: then differentiable in it too). index: int, 0-d or
    1-d integer tensor; negative entries count from the end (as torch)."""
    if input.ndim == 0:
        raise ShapeError("index_fill: a 0-d input is not supported (reshape it to 1-d)")
    dim, idx = check_index_vector("index_fill", input, dim, index)
    mask = _slices_mask(input, dim, idx)
    if not isinstance(value, Tensor):
        return masked_fill(input, constant(mask), value)
    if value.ndim != 0:
        raise ShapeError(f"index_fill: a tensor value must be 0-d, got shape "
                         f"{tuple(value.shape)}")
    return Where.apply(value.to(input.dtype), input, cond=mask)


def index_add_(self, dim, index, source, alpha=1):
    """Tensor.index_add_: index_add in place (self's version goes up); returns self."""
    dim, idx = _index_args("index_add_", self, dim, index, source)
    self._check_inplace("index_add_")
    add_at(self.array, _along(dim, idx), source.array if alpha == 1 else source.array * alpha)
    return self


def index_copy_(self, dim, index, source):
    """Tensor.index_copy_: index_copy in place (self's version goes up); returns self."""
    dim, idx = _index_args("index_copy_", self, dim, index, source)
    self._check_inplace("index_copy_")
    self.array[_along(dim, idx)] = source.array
    return self

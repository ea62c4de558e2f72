"""Movement ops: reshape, permute, broadcast, concat, stack, split. No arithmetic,
so each backward just moves the gradient back to where its input came from."""
import functools

import numpy as np

from ..autograd import Function
from ..backend import data_address, device_of, to_device, xp_of
from ..dtype import kind_of, result_type
from ..errors import ShapeError, ViewError
from ..tensor import Tensor
from .dims import torch_dims
from .reduce import normalize_axes


class Reshape(Function):
    name = "reshape"
    saves_inputs = False
    shape: tuple

    def forward(self, a):
        self.in_shape = a.shape
        return a.reshape(self.shape)

    def backward(self, grad):
        return grad.reshape(self.in_shape)


class Permute(Function):
    name = "permute"
    saves_inputs = False
    axes: tuple

    def forward(self, a):
        return a.transpose(self.axes)

    def backward(self, grad):
        return grad.permute(*np.argsort(self.axes).tolist())


class BroadcastTo(Function):
    name = "broadcast_to"
    saves_inputs = False
    shape: tuple

    def forward(self, a):
        self.in_shape = a.shape
        return xp_of(a).broadcast_to(a, self.shape)

    def backward(self, grad):
        return sum_to(grad, self.in_shape)


class SumTo(Function):
    """Sum a broadcast gradient back down to `shape` (the inverse of broadcasting)."""
    name = "sum_to"
    saves_inputs = False
    shape: tuple

    def forward(self, a):
        self.in_shape = a.shape
        lead = a.ndim - len(self.shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, s in enumerate(self.shape) if s == 1 and a.shape[lead + i] != 1)
        out = a.sum(axis=axes, keepdims=True) if axes else a
        return out.reshape(self.shape)

    def backward(self, grad):
        return grad.broadcast_to(self.in_shape)


class Concat(Function):
    name = "concat"
    saves_inputs = False
    axis: int

    def forward(self, *arrays):
        self.sizes = [a.shape[self.axis] for a in arrays]
        return xp_of(arrays[0]).concatenate(arrays, axis=self.axis)

    def backward(self, grad):
        grads, start = [], 0
        for size, need in zip(self.sizes, self.needs_input_grad):
            index = (slice(None),) * self.axis + (slice(start, start + size),)
            grads.append(grad[index] if need else None)
            start += size
        return tuple(grads)


class Stack(Function):
    name = "stack"
    saves_inputs = False
    axis: int

    def forward(self, *arrays):
        return xp_of(arrays[0]).stack(arrays, axis=self.axis)

    def backward(self, grad):
        return tuple(grad[(slice(None),) * self.axis + (i,)] if need else None
                     for i, need in enumerate(self.needs_input_grad))


class ToDevice(Function):
    name = "to_device"
    saves_inputs = False
    device: str                  # "cpu" or "cuda:N"

    def forward(self, a):
        self.source = device_of(a)
        return to_device(a, self.device)

    def backward(self, grad):
        return grad.to(self.source)


# ------------------------------------------------------------------ functional API
def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


def reshape(a, *shape):
    shape = _shape_arg(shape)
    if shape == a.shape:
        return a
    known = int(np.prod([s for s in shape if s != -1]))
    if shape.count(-1) > 1 or (-1 not in shape and known != a.numel()) or \
            (-1 in shape and (known == 0 or a.numel() % known)):
        raise ShapeError(f"reshape: cannot reshape a tensor of shape {tuple(a.shape)} "
                         f"({a.numel()} elements) into shape {shape}")
    return Reshape.apply(a, shape=shape)


def view(a, *shape):
    """torch.Tensor.view: `a` in another shape without copying; the result shares a's
    memory (a write through either shows in both) and its gradient flows as reshape's.
    Raises ShapeError when the element counts differ, and ViewError (a RuntimeError, as
    PyTorch's) when a's memory layout cannot be read in that shape (a transposed or
    sliced tensor): use reshape(), which copies then, or contiguous().view()."""
    out = reshape(a, *shape)
    if out.array.size and data_address(out.array) != data_address(a.array):   # a copy
        raise ViewError(f"view: a tensor of shape {tuple(a.shape)} and strides "
                        f"{tuple(s // a.array.itemsize for s in a.array.strides)} cannot be "
                        f"viewed as shape {tuple(out.shape)} without copying: use reshape() "
                        "(which copies), or .contiguous().view()")
    return out


@torch_dims
def flatten(a, start_axis=0, end_axis=-1):
    if a.ndim == 0:
        return a.reshape(1)
    s, e = normalize_axes(start_axis, a.ndim, "flatten")[0], normalize_axes(end_axis, a.ndim, "flatten")[0]
    if s > e:
        raise ShapeError(f"flatten: start axis {start_axis} comes after end axis {end_axis} for a "
                         f"tensor of shape {tuple(a.shape)}")
    shape = a.shape[:s] + (int(np.prod(a.shape[s:e + 1])),) + a.shape[e + 1:]
    return reshape(a, shape)


def permute(a, *axes):
    axes = _shape_arg(axes)
    if sorted(normalize_axes(axes, a.ndim, "permute")) != list(range(a.ndim)) or len(axes) != a.ndim:
        raise ShapeError(f"permute: axes {axes} are not a permutation of the "
                         f"{a.ndim} dimensions of shape {tuple(a.shape)}")
    axes = tuple(x % a.ndim for x in axes)
    if axes == tuple(range(a.ndim)):
        return a
    return Permute.apply(a, axes=axes)


@torch_dims
def transpose(a, axis0=-2, axis1=-1):
    return swapaxes(a, axis0, axis1)


@torch_dims
def swapaxes(a, axis0, axis1):
    if a.ndim < 2:                   # nothing to swap; the default pair (-2, -1) is a no-op
        if not (axis0 in (-2, -1) and axis1 in (-2, -1)):
            normalize_axes(axis0, a.ndim, "swapaxes"), normalize_axes(axis1, a.ndim, "swapaxes")
        return a
    i = normalize_axes(axis0, a.ndim, "swapaxes")[0]
    j = normalize_axes(axis1, a.ndim, "swapaxes")[0]
    axes = list(range(a.ndim))
    axes[i], axes[j] = axes[j], axes[i]
    return permute(a, *axes)


def broadcast_to(a, shape):
    shape = tuple(int(s) for s in shape)
    if shape == a.shape:
        return a
    try:
        if np.broadcast_shapes(a.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise ShapeError(f"broadcast_to: cannot broadcast shape {tuple(a.shape)} to {shape}") from None
    return BroadcastTo.apply(a, shape=shape)


def expand(a, *shape):
    """PyTorch's expand: -1 keeps a dimension's size."""
    shape = _shape_arg(shape)
    lead = len(shape) - a.ndim
    if lead < 0:
        raise ShapeError(f"expand: shape {shape} has fewer dimensions than the tensor's {tuple(a.shape)}")
    full = tuple(a.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(shape))
    return broadcast_to(a, full)


def sum_to(a, shape):
    shape = tuple(shape)
    if a.shape == shape:
        return a
    return SumTo.apply(a, shape=shape)


@torch_dims
def squeeze(a, axis=None):
    if axis is None:
        shape = tuple(s for s in a.shape if s != 1)
    else:
        axes = normalize_axes(axis, a.ndim, "squeeze")
        shape = tuple(s for i, s in enumerate(a.shape) if not (i in axes and s == 1))
    return reshape(a, shape)


@torch_dims
def unsqueeze(a, axis):
    if not -a.ndim - 1 <= axis <= a.ndim:
        raise ShapeError(f"unsqueeze: axis {axis} is out of range for a tensor of {a.ndim} "
                         f"dimensions (valid: {-a.ndim - 1} to {a.ndim})")
    axis = axis % (a.ndim + 1)
    return reshape(a, a.shape[:axis] + (1,) + a.shape[axis:])


def _check_joinable(tensors, op, axis, same_shape):
    if len(tensors) == 0:
        raise ShapeError(f"{op}: expected a non-empty sequence of tensors")
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    ref = tensors[0]
    ndim = ref.ndim + (1 if same_shape else 0)
    axis = normalize_axes(axis, ndim, op)[0]
    for t in tensors[1:]:
        if same_shape:
            bad = t.shape != ref.shape
        else:
            bad = t.ndim != ref.ndim or any(
                s != r for i, (s, r) in enumerate(zip(t.shape, ref.shape)) if i != axis)
        if bad:
            shapes = ", ".join(str(tuple(x.shape)) for x in tensors)
            what = "all tensors must have the same shape" if same_shape else \
                f"shapes must match except in axis {axis}"
            raise ShapeError(f"{op}: {what}, got {shapes}")
    floats = [t.dtype for t in tensors if kind_of(t.dtype) == "f"]   # as PyTorch: floats win, and
    dtype = functools.reduce(result_type, floats or [t.dtype for t in tensors])  # ints don't widen
    tensors = [t.astype(dtype) for t in tensors]
    return tensors, axis


@torch_dims
def concat(tensors, axis=0):
    tensors, axis = _check_joinable(list(tensors), "concat", axis, False)
    return Concat.apply(*tensors, axis=axis)


cat = concat


@torch_dims
def stack(tensors, axis=0):
    tensors, axis = _check_joinable(list(tensors), "stack", axis, True)
    return Stack.apply(*tensors, axis=axis)


@torch_dims
def split(a, split_size_or_sections, axis=0):
    """PyTorch's split: equal chunks of a given size, or a list of sizes."""
    _need_axes(a, "split")
    axis = normalize_axes(axis, a.ndim, "split")[0]
    n = a.shape[axis]
    if isinstance(split_size_or_sections, (int, np.integer)) and \
            not isinstance(split_size_or_sections, bool):
        size = int(split_size_or_sections)
        if size < 0 or size == 0 and n > 0:
            raise ShapeError(f"split: split size must be positive, got {size} (axis {axis} has "
                             f"size {n})")
        sizes = ([min(size, n - s) for s in range(0, n, size)] if size else []) or [0]
    elif isinstance(split_size_or_sections, (list, tuple)):
        sizes = [int(s) for s in split_size_or_sections]
        if any(s < 0 for s in sizes):
            raise ShapeError(f"split: section sizes must not be negative, got {sizes}")
        if sum(sizes) != n:
            raise ShapeError(f"split: sections {sizes} do not add up to the size {n} of axis {axis}")
    else:
        raise ShapeError(f"split: expected a split size (int) or a list of section sizes, got "
                         f"{split_size_or_sections!r}")
    out, start = [], 0
    for s in sizes:
        out.append(a[(slice(None),) * axis + (slice(start, start + s),)])
        start += s
    return tuple(out)


def _need_axes(a, op):
    if a.ndim == 0:
        raise ShapeError(f"{op}: expected a tensor with at least one dimension, got a 0-d tensor")


@torch_dims
def chunk(a, chunks, axis=0):
    _need_axes(a, "chunk")
    axis = normalize_axes(axis, a.ndim, "chunk")[0]
    if not isinstance(chunks, (int, np.integer)) or isinstance(chunks, bool) or chunks <= 0:
        raise ShapeError(f"chunk: number of chunks must be positive, got {chunks}")
    n = a.shape[axis]
    if n == 0:                       # as in PyTorch: `chunks` empty pieces
        return split(a, [0] * chunks, axis)
    return split(a, -(-n // chunks), axis)

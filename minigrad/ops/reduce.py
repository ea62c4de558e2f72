"""Reductions over axes: sum, mean, var, max, min, argmax, argmin.

float16 and bfloat16 (`is_half`): sum, mean, var and std accumulate in float32 and round
to the input's dtype once at the end, as PyTorch does on the CPU. In float16 a running
sum passes 65504 (inf) after a few thousand terms of 10, a count such as 70000 is inf,
and 1/70000 is below float16's smallest normal: mean's gradient would be 0 and var NaN.
float32 and float64 inputs are reduced in their own dtype (no hidden upcast).
"""
import builtins
from collections import namedtuple

import numpy as np

from ..amp.autocast_mode import autocast_op
from ..autograd import Function
from ..dtype import is_half, kind_of
from ..errors import DTypeError, ShapeError
from ..tensor import Tensor
from .dims import torch_dims
from .gather_scatter import gather

# What max(dim) / min(dim) return, as torch.return_types.max: `values, indices = x.max(1)`.
MaxResult = namedtuple("max", ["values", "indices"])
MinResult = namedtuple("min", ["values", "indices"])


def normalize_axes(axis, ndim, op):
    """`axis` (None, int or tuple, negatives allowed) as a sorted tuple of positive axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axes = (axis,)
    elif isinstance(axis, (tuple, list)):
        axes = tuple(axis)
    else:
        raise ShapeError(f"{op}: axis must be an int or a tuple of ints, got {axis!r}")
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
            raise ShapeError(f"{op}: axis must be an int or a tuple of ints, got {axis!r}")
        if not -builtins.max(ndim, 1) <= a < builtins.max(ndim, 1):   # 0-d: 0 or -1, as PyTorch
            raise ShapeError(f"{op}: axis {a} is out of range for a tensor of {ndim} "
                             f"dimension{'s' if ndim != 1 else ''}")
        out.append(int(a) % builtins.max(ndim, 1))
    if len(set(out)) != len(out):
        raise ShapeError(f"{op}: axis {axis!r} repeats a dimension")
    return tuple(sorted(out))


def _round(x, dtype):
    """A float32 result rounded to the half dtype; past its range it is inf, as in PyTorch
    (no NumPy overflow warning)."""
    with np.errstate(over="ignore"):
        return x.astype(dtype)


def _kept_shape(shape, axes):
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def _expand_back(grad, in_shape, axes, keepdims):
    """Spread a reduced gradient back over the reduced axes (differentiably)."""
    if not keepdims:
        grad = grad.reshape(_kept_shape(in_shape, axes))
    return grad.broadcast_to(in_shape)


class Sum(Function):
    name = "sum"
    saves_inputs = False
    axes: tuple                  # sorted, non-negative
    keepdims: bool

    def forward(self, a):
        self.in_shape = a.shape
        if is_half(a.dtype):         # accumulate in float32, round once
            return _round(a.sum(axis=self.axes, keepdims=self.keepdims, dtype=np.float32), a.dtype)
        return a.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, grad):
        return _expand_back(grad, self.in_shape, self.axes, self.keepdims)


class Mean(Function):
    name = "mean"
    saves_inputs = False
    axes: tuple
    keepdims: bool

    def forward(self, a):
        self.in_shape = a.shape
        self.count = int(np.prod([a.shape[i] for i in self.axes]))
        if self.count == 0:          # the mean of nothing is NaN, as in PyTorch (no NumPy warning)
            return a.sum(axis=self.axes, keepdims=self.keepdims) * a.dtype.type(np.nan)
        if is_half(a.dtype):         # accumulate in float32, round once
            return _round(a.mean(axis=self.axes, keepdims=self.keepdims, dtype=np.float32), a.dtype)
        return a.mean(axis=self.axes, keepdims=self.keepdims)

    def backward(self, grad):
        # divide the reduced gradient, then spread it (the same numbers, fewer divisions)
        count = builtins.max(self.count, 1)
        if is_half(grad.dtype):      # a count over 65504 is inf in float16: divide in float32
            share = (grad.astype(np.float32) / count).astype(grad.dtype)
        else:
            share = grad / count
        return _expand_back(share, self.in_shape, self.axes, self.keepdims)


class Max(Function):
    """max (or min) over axes; ties share the gradient equally (PyTorch's amax)."""
    name = "max"
    saves_inputs = False
    axes: tuple
    keepdims: bool
    smallest: bool               # True: min

    def forward(self, a):
        out = a.min(axis=self.axes, keepdims=True) if self.smallest else \
            a.max(axis=self.axes, keepdims=True)
        winners = (a == out).astype(a.dtype)
        with np.errstate(invalid="ignore", divide="ignore"):  # a NaN max: no winner, 0 / 0
            self.share = winners / winners.sum(axis=self.axes, keepdims=True)
        self.in_shape = a.shape
        return out if self.keepdims else out.reshape(
            tuple(s for i, s in enumerate(a.shape) if i not in self.axes))

    def backward(self, grad):
        spread = _expand_back(grad, self.in_shape, self.axes, self.keepdims)
        return spread * Tensor._make(self.share, False, None)


def _reduce_input(a, op):
    if not isinstance(a, Tensor):
        a = Tensor(a)
    return a


def _check_floating(a, op):
    if kind_of(a.dtype) != "f":
        raise DTypeError(f"{op}: expected a floating point tensor, got {a.dtype} (as PyTorch: "
                         "std and var only support floating point dtypes; use .float() first)")


def _reduced_axes(axis, a, op):
    """The axes to reduce; a 0-d tensor accepts axis 0 or -1 and has none to reduce."""
    axes = normalize_axes(axis, a.ndim, op)
    return axes if a.ndim else ()


@torch_dims
@autocast_op("float32")
def sum(a, axis=None, keepdims=False, dtype=None):
    """torch.sum(input, dim=None, keepdim=False, dtype=None): bool and integer inputs sum
    in int64; `dtype` casts the input first (as PyTorch: 1.5 + 2.0 summed as int64 is 3)."""
    a = _reduce_input(a, "sum")
    if dtype is not None:
        from ..dtype import as_dtype
        a = a.astype(as_dtype(dtype))
    axes = _reduced_axes(axis, a, "sum")
    if a.dtype.kind in "bu" or a.dtype.kind == "i" and a.dtype != np.int64:
        a = a.astype(np.int64)
    return Sum.apply(a, axes=axes, keepdims=keepdims)


@torch_dims
def mean(a, axis=None, keepdims=False):
    a = _reduce_input(a, "mean")
    axes = _reduced_axes(axis, a, "mean")
    if kind_of(a.dtype) != "f":
        from ..dtype import get_default_dtype
        a = a.astype(get_default_dtype())
    return Mean.apply(a, axes=axes, keepdims=keepdims)


@torch_dims
def var(a, axis=None, keepdims=False, correction=1, unbiased=None):
    """Variance with PyTorch's default Bessel correction (torch.var; `unbiased=False` or
    `correction=0` divides by n, NumPy's)."""
    if unbiased is not None:
        correction = int(bool(unbiased))
    a = _reduce_input(a, "var")
    _check_floating(a, "var")
    if is_half(a.dtype):             # the sum of squares and the count overflow float16
        return var(a.astype(np.float32), axis, keepdims, correction).astype(a.dtype)
    axes = _reduced_axes(axis, a, "var")
    count = int(np.prod([a.shape[i] for i in axes]))
    centred = a - mean(a, axes, keepdims=True)
    return sum(centred * centred, axes, keepdims) / builtins.max(count - correction, 0)


@torch_dims
def std(a, axis=None, keepdims=False, correction=1, unbiased=None):
    """Standard deviation, sqrt(var) with torch's Bessel correction (torch.std;
    `unbiased=False` or `correction=0` divides by n)."""
    if unbiased is not None:
        correction = int(bool(unbiased))
    a = _reduce_input(a, "std")
    _check_floating(a, "std")
    if is_half(a.dtype):             # in float32, rounded once (as var)
        return std(a.astype(np.float32), axis, keepdims, correction).astype(a.dtype)
    return var(a, axis, keepdims, correction=correction) ** 0.5


@torch_dims
def var_mean(a, axis=None, keepdims=False, correction=1, unbiased=None):
    """torch.var_mean: (var, mean) over the same dims, as two tensors."""
    return var(a, axis, keepdims, correction, unbiased), mean(a, axis, keepdims)


@torch_dims
def std_mean(a, axis=None, keepdims=False, correction=1, unbiased=None):
    """torch.std_mean: (std, mean) over the same dims, as two tensors."""
    return std(a, axis, keepdims, correction, unbiased), mean(a, axis, keepdims)


def _extreme(a, axis, keepdims, smallest, op):
    a = _reduce_input(a, op)
    axes = _reduced_axes(axis, a, op)
    if builtins.any(a.shape[i] == 0 for i in axes):
        raise ShapeError(f"{op}: cannot reduce over an empty axis of a tensor of shape "
                         f"{tuple(a.shape)} (axis {axis!r})")
    return Max.apply(a, axes=axes, keepdims=keepdims, smallest=smallest)


@torch_dims
def amax(a, axis=None, keepdims=False):
    """The largest value over `dim` (an int, a tuple, or None: all); ties share the gradient
    equally (torch.amax)."""
    return _extreme(a, axis, keepdims, False, "amax")


@torch_dims
def amin(a, axis=None, keepdims=False):
    """The smallest value over `dim`; ties share the gradient (torch.amin)."""
    return _extreme(a, axis, keepdims, True, "amin")


def _max_or_min(a, axis, keepdims, other, smallest):
    """torch.max / torch.min: with no dim the value; with `dim` (one int) the named tuple
    (values, indices), the gradient going to the element each index names; with a
    tensor as the second argument the elementwise maximum / minimum."""
    op = "min" if smallest else "max"
    if isinstance(axis, Tensor) or other is not None:
        from .elementwise import maximum, minimum
        return (minimum if smallest else maximum)(a, axis if other is None else other)
    if axis is None:
        if keepdims:
            raise ShapeError(f"{op}: keepdim needs a dim")
        return _extreme(a, None, False, smallest, op)
    indices = _arg(a, axis, True, "argmin" if smallest else "argmax")
    a = _reduce_input(a, op)
    values = gather(a, axis, indices) if a.ndim else a
    if not keepdims:
        values, indices = values.squeeze(axis), indices.squeeze(axis)
    return (MinResult if smallest else MaxResult)(values, indices)


@torch_dims
def max(a, axis=None, keepdims=False, other=None):
    return _max_or_min(a, axis, keepdims, other, False)


@torch_dims
def min(a, axis=None, keepdims=False, other=None):
    return _max_or_min(a, axis, keepdims, other, True)


def _arg(a, axis, keepdims, op):
    a = _reduce_input(a, op)
    if isinstance(axis, bool) or (axis is not None and not isinstance(axis, (int, np.integer))):
        raise ShapeError(f"{op}: axis must be one int (or None), got {axis!r}")
    axes = _reduced_axes(axis, a, op)
    if builtins.any(a.shape[i] == 0 for i in axes) or axis is None and a.numel() == 0:
        raise ShapeError(f"{op}: cannot reduce over an empty axis of a tensor of shape "
                         f"{tuple(a.shape)} (axis {axis!r})")
    if axis is None:
        out = getattr(a.array.reshape(-1), op)()
        if keepdims:
            out = a.xp.asarray(out).reshape((1,) * a.ndim)
    elif not axes:                                   # a 0-d tensor: its one element
        out = a.xp.zeros((), dtype=np.int64)
    else:
        out = getattr(a.array, op)(axis=axes[0], keepdims=keepdims)
    return Tensor._make(a.xp.asarray(out).astype(np.int64), False, None)


@torch_dims
def argmax(a, axis=None, keepdims=False):
    return _arg(a, axis, keepdims, "argmax")


@torch_dims
def argmin(a, axis=None, keepdims=False):
    return _arg(a, axis, keepdims, "argmin")


@torch_dims
def any(a, axis=None, keepdims=False):
    axes = _reduced_axes(axis, a, "any")
    return Tensor._make(a.array.any(axis=axes, keepdims=keepdims), False, None)


@torch_dims
def all(a, axis=None, keepdims=False):
    axes = _reduced_axes(axis, a, "all")
    return Tensor._make(a.array.all(axis=axes, keepdims=keepdims), False, None)

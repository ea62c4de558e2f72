"""Running and whole products and sums: cumsum, cumprod, prod (torch's semantics).

dtypes as in PyTorch: integer and bool inputs give int64; `dtype=` casts the input
first. float16 (and any half type) accumulates in float32 and rounds to float16 once
per output value, as PyTorch does on the CPU (issue 21's half precision rule).

Gradients:
- cumsum: the reversed running sum of the gradient (differentiable again);
- prod and cumprod: exact where the input holds zeros (where dividing the product by
  the input would give 0/0), by torch's case analysis; once-differentiable.
"""
import numpy as np

from ..autograd import Function
from ..backend import xp_of
from ..dtype import as_dtype, is_half, kind_of
from ..errors import ShapeError
from ..tensor import Tensor, constant
from .dims import torch_dims
from .reduce import normalize_axes


def accumulation_dtype(dtype):
    """The dtype to add or multiply `dtype` values in: float32 for half types."""
    return np.dtype(np.float32) if is_half(dtype) else dtype


def _reverse_cumsum(xp, a, axis):
    return xp.flip(xp.cumsum(xp.flip(a, axis), axis=axis), axis)


class Cumsum(Function):
    name = "cumsum"
    saves_inputs = False
    axis: int

    def forward(self, a):
        acc = accumulation_dtype(a.dtype)
        return xp_of(a).cumsum(a, axis=self.axis, dtype=acc).astype(a.dtype, copy=False)

    def backward(self, grad):
        # d out_i / d a_k = 1 for i >= k: the gradient summed from the end
        return Cumsum.apply(grad.flip(self.axis), axis=self.axis).flip(self.axis)


class Cumprod(Function):
    name = "cumprod"
    saves_output = True          # backward reads the result
    once_differentiable = True
    axis: int

    def forward(self, a):
        acc = accumulation_dtype(a.dtype)
        self.out = xp_of(a).cumprod(a, axis=self.axis, dtype=acc)
        return self.out.astype(a.dtype, copy=False)

    def backward(self, grad):
        (x,) = self.inputs
        xp, ax = x.xp, self.axis
        acc = self.out.dtype
        a, g, out = x.array.astype(acc, copy=False), grad.array.astype(acc), self.out
        # dL/da_k = sum_{i>=k} g_i prod_{j<=i, j!=k} a_j. Before the first zero z of a
        # slice, a_k != 0 and that is revcumsum(g * out)_k / a_k; at z it is
        # revcumsum(g * cumprod(a with a_z := 1))_z; after z every term holds a_z = 0.
        zero = a == 0
        pos = xp.arange(a.shape[ax]).reshape((-1,) + (1,) * (a.ndim - ax - 1))
        first = xp.where(zero.any(axis=ax, keepdims=True),
                         xp.argmax(zero, axis=ax).reshape(_kept(a.shape, ax)), a.shape[ax])
        before, at = pos < first, pos == first
        with np.errstate(all="ignore"):
            by_division = _reverse_cumsum(xp, g * out, ax) / xp.where(before, a, 1)
        at_zero = _reverse_cumsum(xp, g * xp.cumprod(xp.where(at, 1, a), axis=ax), ax)
        result = xp.where(before, by_division, xp.where(at, at_zero, 0))
        return constant(result.astype(x.dtype, copy=False))


def _kept(shape, axis):
    return tuple(1 if i == axis else s for i, s in enumerate(shape))


class Prod(Function):
    """The product over one axis (or all, axis=None)."""
    name = "prod"
    saves_output = True          # backward reads the result
    once_differentiable = True
    axis: object                 # int, or None: every element
    keepdims: bool

    def forward(self, a):
        acc = accumulation_dtype(a.dtype)
        self.out = xp_of(a).prod(a, axis=self.axis, dtype=acc, keepdims=True)
        out = self.out.astype(a.dtype, copy=False)
        return out if self.keepdims else out.reshape(
            () if self.axis is None else tuple(s for i, s in enumerate(a.shape) if i != self.axis))

    def backward(self, grad):
        (x,) = self.inputs
        xp = x.xp
        acc = self.out.dtype
        a = x.array.astype(acc, copy=False)
        g = grad.array.astype(acc).reshape(self.out.shape)
        # The product of the others: prod / a_k without zeros; with exactly one zero the
        # zero's entry is the product of the non-zeros and the rest 0; with two or more, 0.
        zeros = (a == 0).sum(axis=self.axis, keepdims=True)
        with np.errstate(all="ignore"):
            others = xp.where(zeros == 0, self.out / xp.where(a == 0, 1, a), 0)
        nonzero_prod = xp.prod(xp.where(a == 0, 1, a), axis=self.axis, keepdims=True)
        others = xp.where((zeros == 1) & (a == 0), nonzero_prod, others)
        return constant((g * others).astype(x.dtype, copy=False))


def _prepare(a, dtype, op):
    if not isinstance(a, Tensor):
        a = Tensor(a)
    if dtype is not None:
        a = a.to(as_dtype(dtype))
    elif a.dtype.kind in "biu":            # integers and bools add up in int64 (torch)
        a = a.astype(np.int64)
    return a


def _one_axis(a, axis, op):
    if axis is None or isinstance(axis, (tuple, list)):
        raise ShapeError(f"{op}: dim must be one int, got {axis!r}")
    ax = normalize_axes(axis, a.ndim, op)[0]
    return ax


def _running(fn, a, axis, dtype, op):
    a = _prepare(a, dtype, op)
    ax = _one_axis(a, axis, op)
    if a.ndim == 0:                        # a 0-d tensor: its one running value
        return fn.apply(a.reshape(1), axis=0).reshape(())
    return fn.apply(a, axis=ax)


@torch_dims
def cumsum(a, axis, dtype=None):
    """torch.cumsum(input, dim, dtype=None): running sums along `dim` (same shape).
    Integers and bools give int64; float16 adds in float32. Raises ShapeError for a bad dim."""
    return _running(Cumsum, a, axis, dtype, "cumsum")


@torch_dims
def cumprod(a, axis, dtype=None):
    """torch.cumprod(input, dim, dtype=None): running products along `dim`; the gradient is
    exact where the input holds zeros. dtypes as cumsum."""
    return _running(Cumprod, a, axis, dtype, "cumprod")


@torch_dims
def prod(a, axis=None, keepdims=False, dtype=None):
    """torch.prod(input, dim=None, keepdim=False, dtype=None): the product of all elements,
    or over one `dim`. Integers and bools give int64; float16 multiplies in float32.
    The gradient is exact with zeros in the input."""
    a = _prepare(a, dtype, "prod")
    if axis is None:
        if keepdims:
            raise ShapeError("prod: keepdim needs a dim")
        return Prod.apply(a, axis=None, keepdims=False)
    ax = _one_axis(a, axis, "prod")
    if a.ndim == 0:
        return Prod.apply(a, axis=None, keepdims=False)
    return Prod.apply(a, axis=ax, keepdims=keepdims)

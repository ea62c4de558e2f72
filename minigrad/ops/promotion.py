"""Type promotion as PyTorch does it, and how a binary op applies a scalar.

Which dtype does `a op b` have? torch.result_type's answer, in three steps:

1. Dtypes fall in categories: bool < integer < floating.
2. Operands have priorities: tensors with dimensions > 0-dim tensors > Python
   scalars ("weak": `int` counts as int64, `float` as the default float dtype, and
   neither widens a tensor of its own category: float16 tensor * 2.5 is float16,
   int32 tensor + 2 is int32, but int tensor + 2.5 is float32).
3. Each priority group is promoted within itself; a lower group matters only when
   it is of a higher category (int tensor + 0-dim float64 tensor: float64).

Within and across categories dtypes promote as torch.promote_types: bool with
anything gives the other, two integers as NumPy, an integer with a float gives the
float (int64 + float16 is float16: NumPy would say float64), two floats the wider
(float16 + bfloat16: float32).

How a scalar is applied (issue 21). PyTorch (CPU) multiplies and divides a float16
(or bfloat16) tensor by a scalar, a Python number or a 0-dim tensor as the second
operand, in float32 ("opmath") with the scalar's original value, and rounds once:
`x / 70000` for float16 `x` is 1.43e-05, not x / float16(70000) = x / inf = 0.
`binary(..., opmath=True)` does the same: when the scalar is not exactly a float16
number it computes in `opmath_dtype(dtype)` and rounds the result (a scalar that is
exact, such as 2 or 0.5, gives the same result either way and costs no extra pass).
Every other op (+, -, **, a scalar first, comparisons, maximum, where) rounds the
scalar to the tensor's dtype first, as PyTorch's kernels do (checked bit for bit in
tests/minigrad/test_promotion.py); `s / x` is torch's `x.reciprocal() * s`.
float32 and float64 ops are unaffected.
"""
import numpy as np

from ..dtype import finfo, get_default_dtype, is_floating
from ..errors import DTypeError
from ..tensor import Tensor

_BOOL = np.dtype(np.bool_)
_INT64 = np.dtype(np.int64)
_FLOAT32 = np.dtype(np.float32)
_SCALARS = (int, float, bool, np.generic)


def promote_types(a, b):
    """torch.promote_types for two dtypes (None stands for "no operand")."""
    if a is None or a == b:
        return b
    if b is None or b == _BOOL:
        return a
    if a == _BOOL:
        return b
    fa, fb = is_floating(a), is_floating(b)
    if fa and fb:                  # the wider float; two different 2-byte floats: float32
        if a.itemsize != b.itemsize:
            return a if a.itemsize > b.itemsize else b
        return _FLOAT32
    if fa or fb:                   # an integer with a float: the float
        return a if fa else b
    return np.promote_types(a, b)


def _combine(higher, lower):
    """Merge the result of a higher-priority group with a lower one (torch's
    combine_categories): the lower only counts when it is of a higher category."""
    if higher is None:
        return lower
    if lower is None or is_floating(higher):
        return higher
    if higher == _BOOL or is_floating(lower):
        return promote_types(higher, lower)
    return higher


def scalar_dtype(value):
    """The dtype a Python scalar stands for: bool, int64, or the default float dtype."""
    if isinstance(value, (bool, np.bool_)):
        return _BOOL
    if isinstance(value, (int, np.integer)):
        return _INT64
    if isinstance(value, (float, np.floating)):
        return get_default_dtype()
    raise DTypeError(f"expected a tensor or a Python number, got {type(value).__name__}")


def result_type(*operands):
    """The dtype of an elementwise op on `operands` (Tensors and Python scalars), as
    torch.result_type."""
    dim = zero = weak = None
    for x in operands:
        if isinstance(x, Tensor):
            if x.ndim:
                dim = promote_types(dim, x.dtype)
            else:
                zero = promote_types(zero, x.dtype)
        else:
            weak = promote_types(weak, scalar_dtype(x))
    return _combine(dim, _combine(zero, weak))


def opmath_dtype(dtype):
    """The dtype PyTorch computes an op on `dtype` in: float32 for the 2-byte floats
    (float16, bfloat16), `dtype` itself otherwise."""
    if dtype.itemsize == 2 and is_floating(dtype):
        return _FLOAT32
    return dtype


def constant(value, dtype, like):
    """A Python scalar as a 0-dim constant tensor of `dtype` on `like`'s device. A float
    too large for `dtype` becomes inf quietly, as in PyTorch."""
    xp = like.xp if isinstance(like, Tensor) else np
    if not -6e4 < value < 6e4 and is_floating(dtype):     # may overflow float16: quietly
        with np.errstate(over="ignore"):
            array = xp.asarray(value, dtype=dtype)
    else:
        try:
            array = xp.asarray(value, dtype=dtype)
        except OverflowError:                 # 1000 next to an int8 tensor (torch wraps)
            raise DTypeError(f"value {value!r} cannot be converted to {dtype} without "
                             "overflow") from None
    t = Tensor._make(array, False, None)
    t.name = f"{value:.4g}" if isinstance(value, float) else str(value)
    return t


def as_operand(x, dtype, like):
    """`x` (Tensor or Python scalar) as a tensor of `dtype` (a recorded cast for a
    float tensor that requires grad)."""
    if isinstance(x, Tensor):
        return x if x.dtype == dtype else x.astype(dtype)
    if _is_scalar(x):
        return constant(x, dtype, like)
    return Tensor(x, dtype=dtype, device=like.device if isinstance(like, Tensor) else None)


def check_fits(op, dtype, *values):
    """Raise as torch does for a finite Python number a float dtype cannot hold
    (`clamp(-70000.0, 1.0)` on float16); None and inf pass."""
    if not is_floating(dtype):
        return
    top = float(finfo(dtype).max)
    for v in values:
        if v is not None and top < abs(float(v)) < float("inf"):
            raise DTypeError(f"{op}: value {v!r} cannot be converted to {dtype} without "
                             f"overflow (largest {top})")


def _exact(x, dtype):
    """Whether scalar operand `x` (Python number or 0-dim tensor) is exactly a value of
    `dtype`, so that rounding it to `dtype` first changes nothing."""
    v = x.item() if isinstance(x, Tensor) else x
    with np.errstate(over="ignore"):
        return float(dtype.type(v)) == v      # (a float16 compared with v would round v)


def binary(op, a, b, float_result=False, opmath=False):
    """Apply the binary Function `op` to `a` and `b` (Tensors or Python scalars) as
    PyTorch does: promote both to the result dtype, and compute a 2-byte float op with
    an inexact scalar operand in float32, rounding once (see the module's docstring).
    `float_result`: an integer or bool result dtype becomes the default float dtype
    (true division). `opmath`: a scalar second operand is applied in float32 (mul, div)."""
    ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)
    if ta and tb and a.dtype == b.dtype and (not float_result or is_floating(a.dtype)):
        return op.apply(a, b)                             # the common case: nothing to do
    if not (ta and tb):
        a, b, ta, tb = _arrays_as_tensors(a, b, ta, tb)
    if ta and not tb and type(b) in (float, int) and is_floating(a.dtype):
        dtype = a.dtype                                   # float tensor op Python number
    elif tb and not ta and type(a) in (float, int) and is_floating(b.dtype):
        dtype = b.dtype
    else:
        dtype = result_type(a, b)
    if float_result and not is_floating(dtype):
        dtype = get_default_dtype()
    compute = dtype
    if opmath and opmath_dtype(dtype) != dtype:
        scalar = _second_scalar(a, b, ta, tb)
        if scalar is not None and not _exact(scalar, dtype):
            compute = opmath_dtype(dtype)
    like = a if ta else b
    out = op.apply(as_operand(a, compute, like), as_operand(b, compute, like))
    if compute == dtype:
        return out
    with np.errstate(over="ignore"):                      # rounding to float16 overflows
        return out.astype(dtype)                          # to inf quietly, as in PyTorch


def _second_scalar(a, b, ta, tb):
    """`b` when it is a scalar next to tensor `a` (a Python number, or a 0-dim tensor
    next to one with dimensions), else None."""
    if ta and (not tb or (a.ndim and not b.ndim)):
        return b
    return None


def _is_scalar(x):
    return isinstance(x, _SCALARS) and np.ndim(x) == 0


def _arrays_as_tensors(a, b, ta, tb):
    """Lists and NumPy arrays among the operands become tensors (on the other operand's
    device); Python numbers stay scalars."""
    if not ta and not _is_scalar(a):
        a, ta = Tensor(a, device=b.device if tb else None), True
    if not tb and not _is_scalar(b):
        b, tb = Tensor(b, device=a.device if ta else None), True
    return a, b, ta, tb


def operands(a, b):
    """`a` and `b` as two tensors of their result dtype (torch.result_type): for ops
    that compare or select (comparisons, maximum, where), where PyTorch rounds a
    scalar to that dtype first."""
    ta, tb = isinstance(a, Tensor), isinstance(b, Tensor)
    if ta and tb and a.dtype == b.dtype:
        return a, b
    if not (ta and tb):
        a, b, ta, tb = _arrays_as_tensors(a, b, ta, tb)
    dtype = result_type(a, b)
    like = a if ta else b
    return as_operand(a, dtype, like), as_operand(b, dtype, like)


def lift(value, like):
    """Make `value` a Tensor on `like`'s device (a constant in the dtype PyTorch gives a
    Python scalar next to `like`)."""
    if isinstance(value, Tensor):
        return value
    if _is_scalar(value):
        return constant(value, result_type(like, value), like)
    return Tensor(value, device=like.device)

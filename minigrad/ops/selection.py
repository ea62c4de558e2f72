"""Selection ops: elementwise maximum / minimum (ties share the gradient, as in
PyTorch), where, and masked_fill. Operands are lifted and promoted as in elementwise.py.
"""
import numpy as np

from ..autograd import Function
from ..backend import xp_of
from ..dtype import finfo, get_default_dtype, kind_of
from ..errors import DTypeError, ShapeError
from ..tensor import Tensor, operand_array
from .elementwise import lift, operands


class Maximum(Function):
    """Elementwise max; on ties the gradient is shared equally, as in PyTorch."""
    name = "maximum"
    saves_inputs = False

    def forward(self, a, b):
        xp = xp_of(a)
        self.share_a = _share(a > b, a == b, np.result_type(a.dtype, b.dtype))
        return xp.maximum(a, b)

    def backward(self, grad):
        share = Tensor._make(self.share_a, False, None)
        return grad * share, grad * (1 - share)


class Minimum(Function):
    name = "minimum"
    saves_inputs = False

    def forward(self, a, b):
        xp = xp_of(a)
        self.share_a = _share(a < b, a == b, np.result_type(a.dtype, b.dtype))
        return xp.minimum(a, b)

    def backward(self, grad):
        share = Tensor._make(self.share_a, False, None)
        return grad * share, grad * (1 - share)


def _share(wins, ties, dtype):
    """a's share of the gradient: 1 where it wins, 1/2 on ties, in the op's dtype
    (bool + 0.5 * bool would build a float64 array first)."""
    return wins.astype(dtype) + ties.astype(dtype) * dtype.type(0.5)


class Where(Function):
    """cond ? a : b, with `cond` a constant boolean array."""
    name = "where"
    saves_inputs = False
    cond: object                 # boolean array, broadcasts against a and b

    def forward(self, a, b):
        return xp_of(a).where(self.cond, a, b)

    def backward(self, grad):
        zero = Tensor._make(grad.xp.zeros((), dtype=grad.dtype), False, None)
        return (Where.apply(grad, zero, cond=self.cond) if self.needs_input_grad[0] else None,
                Where.apply(zero, grad, cond=self.cond) if self.needs_input_grad[1] else None)


class MaskedFill(Function):
    """Put `value` where `mask` is True (mask broadcasts against the input)."""
    name = "masked_fill"
    saves_inputs = False
    mask: object                 # boolean array
    value: float

    def forward(self, a):
        xp = xp_of(a)
        return xp.where(self.mask, xp.asarray(self.value, dtype=a.dtype), a)

    def backward(self, grad):
        return MaskedFill.apply(grad, mask=self.mask, value=0)


def maximum(a, b):
    return Maximum.apply(*operands(a, b))


def minimum(a, b):
    return Minimum.apply(*operands(a, b))


_NOT_GIVEN = object()


def where(cond, a=_NOT_GIVEN, b=_NOT_GIVEN):
    """torch.where: elements of `a` where `cond` is True, else of `b`. Two Python scalars
    give bool (two bools), int64 (ints) or the default float dtype, as torch. With the
    condition alone: its indices, as nonzero(cond, as_tuple=True)."""
    if a is _NOT_GIVEN and b is _NOT_GIVEN:
        from .gather_scatter import nonzero
        return nonzero(cond if isinstance(cond, Tensor) else Tensor(cond), as_tuple=True)
    if a is _NOT_GIVEN or b is _NOT_GIVEN:
        raise TypeError("where: give the condition alone, or the condition and both values")
    like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else None
    if like is None:            # two scalars: the result lives where the condition does
        like = Tensor(np.asarray(a, dtype=_scalars_dtype(a, b)))
        if isinstance(cond, Tensor) and cond.device != "cpu":
            like = like.to(cond.device)
    a, b = operands(lift(a, like), lift(b, like))
    c = operand_array(cond, like, "where", "condition")
    if c.dtype != np.bool_:
        raise DTypeError(f"where: condition must be a bool tensor, got dtype {c.dtype}")
    return Where.apply(a, b, cond=c)


def _scalars_dtype(a, b):
    """torch's result dtype of two Python scalars: bool, int64 or the default float."""
    if all(isinstance(x, (bool, np.bool_)) for x in (a, b)):
        return np.dtype(np.bool_)
    if all(isinstance(x, (bool, int, np.bool_, np.integer)) for x in (a, b)):
        return np.dtype(np.int64)
    return get_default_dtype()


def masked_fill(a, mask, value):
    """`a` with `value` wherever `mask` (bool, broadcastable to `a`) is True."""
    m = operand_array(mask, a, "masked_fill", "mask")
    if m.dtype != np.bool_:
        raise DTypeError(f"masked_fill: mask must be a bool tensor, got dtype {m.dtype}")
    try:
        np.broadcast_shapes(m.shape, a.shape)
    except ValueError:
        raise ShapeError(f"masked_fill: mask of shape {tuple(m.shape)} does not broadcast to "
                         f"the input's shape {tuple(a.shape)}") from None
    if np.broadcast_shapes(m.shape, a.shape) != tuple(a.shape):
        raise ShapeError(f"masked_fill: mask of shape {tuple(m.shape)} would enlarge the input "
                         f"of shape {tuple(a.shape)}")
    info = finfo(a.dtype) if kind_of(a.dtype) == "f" else np.iinfo(a.dtype) \
        if a.dtype.kind in "iu" else None
    if info is not None and (np.isfinite(value) or kind_of(a.dtype) != "f") and \
            not float(info.min) <= float(value) <= float(info.max):
        hint = "; use -inf, or a smaller value" if kind_of(a.dtype) == "f" else ""
        raise DTypeError(f"masked_fill: value {value!r} does not fit dtype {a.dtype} (range "
                         f"{info.min} to {info.max}){hint}")
    return MaskedFill.apply(a, mask=m, value=float(value) if kind_of(a.dtype) == "f" else value)

"""Comparisons and logical ops: no gradient, a bool (or integer, for the bitwise ops)
result; operands promoted as the arithmetic ops promote them."""
import numpy as np

from ..dtype import kind_of
from ..errors import DTypeError, ShapeError
from ..tensor import Tensor
from .elementwise import operands


def _compare(fn, name, kinds="biuf"):
    def op(a, b):
        given = a, b
        a, b = operands(a, b)
        if kind_of(a.dtype) not in kinds or kind_of(b.dtype) not in kinds:
            got = [f"{x.dtype} {tuple(x.shape)}" if isinstance(x, Tensor) else repr(x)
                   for x in given]
            raise DTypeError(f"{name}: expected bool or integer tensors, got {got[0]} and {got[1]}")
        try:
            out = fn(a.array, b.array)
        except ValueError:
            raise ShapeError(f"{name}: shapes {tuple(a.shape)} and {tuple(b.shape)} do not "
                             "broadcast") from None
        return Tensor._make(out, False, None)
    op.__name__ = name
    return op


lt = _compare(np.less, "lt")
le = _compare(np.less_equal, "le")
gt = _compare(np.greater, "gt")
ge = _compare(np.greater_equal, "ge")
eq = _compare(np.equal, "eq")
ne = _compare(np.not_equal, "ne")
logical_and = _compare(np.logical_and, "logical_and")
logical_or = _compare(np.logical_or, "logical_or")
# & | ~ are bitwise, as in PyTorch: the same as logical on bool tensors, bit by bit on ints
bitwise_and = _compare(np.bitwise_and, "bitwise_and", kinds="biu")
bitwise_or = _compare(np.bitwise_or, "bitwise_or", kinds="biu")


def logical_not(a):
    return Tensor._make(~a.array if a.dtype == np.bool_ else a.array == 0, False, None)


def bitwise_not(a):
    if a.dtype.kind not in "biu":
        raise DTypeError(f"bitwise_not: expected a bool or integer tensor, got {a.dtype}")
    return Tensor._make(~a.array, False, None)


def isfinite(a):
    return Tensor._make(a.xp.isfinite(a.array), False, None)

"""Elementwise ops: arithmetic with broadcasting and unary math.

Broadcasting is free in forward (NumPy does it); in backward the engine sums
each gradient back to its input's shape, so these backward rules ignore it.
"""
import math

import numpy as np

from ..autograd import Function, is_grad_enabled
from ..backend import xp_of
from ..dtype import get_default_dtype, is_half, kind_of
from ..errors import DTypeError
from ..tensor import Tensor


# Operands are promoted as PyTorch promotes them, and scalars applied as PyTorch applies
# them (float16 op Python number in float32, rounded once): see promotion.py.
from .promotion import (as_operand, binary, check_fits, lift, operands,  # noqa: E402,F401
                        opmath_dtype, result_type)


# ------------------------------------------------------------------ arithmetic
class Add(Function):
    name = "add"
    saves_inputs = False

    def forward(self, a, b):
        if a.dtype.itemsize == 2:            # float16 overflows to inf quietly, as in PyTorch
            with np.errstate(over="ignore"):
                return a + b
        return a + b

    def backward(self, grad):
        return grad, grad


class Sub(Function):
    name = "sub"
    saves_inputs = False

    def forward(self, a, b):
        if a.dtype.itemsize == 2:
            with np.errstate(over="ignore"):
                return a - b
        return a - b

    def backward(self, grad):
        return grad, (-grad if self.needs_input_grad[1] else None)


class Mul(Function):
    name = "mul"
    saves_inputs = "others"

    def forward(self, a, b):
        if a.dtype.itemsize == 2:
            with np.errstate(over="ignore"):
                return a * b
        return a * b

    def backward(self, grad):
        a, b = self.inputs
        return (grad * b if self.needs_input_grad[0] else None,
                grad * a if self.needs_input_grad[1] else None)


class Div(Function):
    name = "div"

    def forward(self, a, b):
        with np.errstate(all="ignore"):         # x / 0 is inf, 0 / 0 NaN, as in PyTorch
            return a / b

    def backward(self, grad):
        a, b = self.inputs
        ga = grad / b if self.needs_input_grad[0] else None
        gb = -grad * a / (b * b) if self.needs_input_grad[1] else None
        return ga, gb


class Neg(Function):
    name = "neg"
    saves_inputs = False

    def forward(self, a):
        return -a

    def backward(self, grad):
        return -grad


class PowScalar(Function):
    """x ** p for a constant exponent p."""
    name = "pow"
    exponent: float

    def forward(self, a):
        with np.errstate(all="ignore"):         # 0 ** -1 is inf, (-1) ** 0.5 NaN
            out = a ** self.exponent
        # NumPy takes bfloat16 ** 0.5 to float32: round back once (as torch's opmath)
        return out.astype(a.dtype) if out.dtype != a.dtype and is_half(a.dtype) else out

    def backward(self, grad):
        (a,) = self.inputs
        p = self.exponent
        if p == 0:                   # constant 1: zero gradient, not 0 * a**-1 (NaN at a = 0)
            return Tensor._make(grad.xp.zeros(grad.shape, grad.dtype), False, None)
        if p == 2:
            return grad * (2 * a)
        return grad * (p * a ** (p - 1))


class Pow(Function):
    """a ** b with both a tensor; the exponent's gradient is b's: a**b * log a."""
    name = "pow"

    def forward(self, a, b):
        with np.errstate(all="ignore"):
            return a ** b

    def backward(self, grad):
        a, b = self.inputs
        ga = None
        if self.needs_input_grad[0]:     # a ** 0 is constant: gradient 0, not 0 * 0 ** -1 = NaN
            ga = where(b.detach() == 0, 0.0, grad * b * a ** (b - 1))
        gb = None
        if self.needs_input_grad[1]:
            # 0 ** b has a zero derivative in b where b >= 0; for b < 0 it is
            # inf * log 0 = -inf (as in PyTorch), not the NaN of inf * log 1
            safe_a = where((a.detach() == 0) & (b.detach() >= 0), 1.0, a)
            gb = grad * a ** b * log(safe_a)
        return ga, gb


class Cast(Function):
    name = "cast"
    saves_inputs = False
    dtype: object                # the numpy dtype to cast to

    def forward(self, a):
        self.in_dtype = a.dtype
        if self.dtype.itemsize < a.dtype.itemsize:    # too large for float16: inf, quietly
            with np.errstate(over="ignore"):
                return a.astype(self.dtype)
        return a.astype(self.dtype)

    def backward(self, grad):
        return grad.astype(self.in_dtype)


# ------------------------------------------------------------------ unary math
class Exp(Function):
    name = "exp"
    saves_output = True          # backward reads the result

    def forward(self, a):
        with np.errstate(all="ignore"):         # overflow gives inf, as in PyTorch
            self.out = xp_of(a).exp(a)
        return self.out

    def backward(self, grad):
        return grad * _output(self, exp)


class Log(Function):
    name = "log"

    def forward(self, a):
        with np.errstate(all="ignore"):         # log 0 = -inf, log of a negative NaN
            return xp_of(a).log(a)

    def backward(self, grad):
        return grad / self.inputs[0]


class Sqrt(Function):
    name = "sqrt"
    saves_output = True          # backward reads the result

    def forward(self, a):
        with np.errstate(all="ignore"):
            self.out = xp_of(a).sqrt(a)
        return self.out

    def backward(self, grad):
        y = _output(self, sqrt)
        return grad / (2 * y)


class Tanh(Function):
    name = "tanh"
    saves_output = True          # backward reads the result

    def forward(self, a):
        self.out = xp_of(a).tanh(a)
        return self.out

    def backward(self, grad):
        y = _output(self, tanh)
        return grad * (1 - y * y)


class Sigmoid(Function):
    name = "sigmoid"
    saves_output = True          # backward reads the result

    def forward(self, a):
        xp = xp_of(a)
        # split by sign so exp never overflows
        e = xp.exp(-xp.abs(a))
        self.out = xp.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)
        return self.out

    def backward(self, grad):
        y = _output(self, sigmoid)
        return grad * (y * (1 - y))


class Relu(Function):
    name = "relu"
    saves_inputs = False         # backward reads the mask forward kept

    def forward(self, a):
        self.mask = a > 0
        xp = xp_of(a)
        if xp is np and a.ndim and a.shape[-1] >= 64 and kind_of(a.dtype) == "f":
            # optimisation: NumPy 2's maximum against a scalar does not vectorise; against
            # a row of zeros it does ((1024, 512) float32: 105 us instead of 194)
            return np.maximum(a, np.zeros(a.shape[-1], dtype=a.dtype))
        return xp.maximum(a, 0)

    def backward(self, grad):
        if is_grad_enabled():        # create_graph: a recorded multiply, differentiable again
            return grad * Tensor._make(self.mask.astype(grad.dtype), False, None)
        return Tensor._make(grad.array * self.mask, False, None)


class Abs(Function):
    name = "abs"
    saves_inputs = False

    def forward(self, a):
        self.sign = xp_of(a).sign(a)
        return xp_of(a).abs(a)

    def backward(self, grad):
        return grad * Tensor._make(self.sign, False, None)


class Clip(Function):
    name = "clip"
    saves_inputs = False
    lo: float                    # None: no lower bound
    hi: float                    # None: no upper bound

    def forward(self, a):
        xp = xp_of(a)
        lo = -math.inf if self.lo is None else self.lo
        hi = math.inf if self.hi is None else self.hi
        self.inside = (a >= lo) & (a <= hi)
        return xp.clip(a, lo, hi).astype(a.dtype, copy=False)

    def backward(self, grad):
        return grad * Tensor._make(self.inside.astype(grad.dtype), False, None)


def _output(fn, op):
    """The forward's result `fn.out` as a Tensor for backward. Under create_graph the op
    is recomputed from the input, so that the gradient is itself differentiable."""
    if is_grad_enabled():
        return op(fn.inputs[0])
    return Tensor._make(fn.out, False, None)


class Reciprocal(Function):
    """1 / x; backward -grad * y * y from the output, as PyTorch's (so float16 gradients
    round as torch's do)."""
    name = "reciprocal"
    saves_output = True          # backward reads the result

    def forward(self, a):
        with np.errstate(all="ignore"):         # 1 / 0 = inf
            self.out = 1 / a
        return self.out

    def backward(self, grad):
        y = _output(self, reciprocal)
        return -grad * (y * y)


class Clone(Function):
    """A copy with its own memory (torch.Tensor.clone)."""
    name = "clone"
    saves_inputs = False

    def forward(self, a):
        return a.copy()

    def backward(self, grad):
        return grad


# ------------------------------------------------------------------ functional API
def add(a, b):
    return binary(Add, a, b)


def sub(a, b):
    for x in (a, b):
        if isinstance(x, Tensor) and x.dtype == np.bool_:
            raise DTypeError("sub: subtraction, the `-` operator, with a bool tensor is not "
                             "supported (as in PyTorch); use `^` or logical_xor, or `~` to "
                             "invert a mask")
    return binary(Sub, a, b)


def mul(a, b):
    if not isinstance(a, Tensor) and isinstance(b, Tensor):
        a, b = b, a                  # 2.5 * x is x * 2.5 (torch's __rmul__): the scalar second
    return binary(Mul, a, b, opmath=True)


def div(a, b):
    """True division: integers divide into the default float dtype, as in PyTorch; a
    Python number divided by a tensor is torch's `b.reciprocal() * a` (same rounding)."""
    if isinstance(b, Tensor) and not isinstance(a, Tensor) and np.ndim(a) == 0:
        return mul(reciprocal(b), a)
    return binary(Div, a, b, float_result=True, opmath=True)


def neg(a):
    if a.dtype == np.bool_:
        raise DTypeError("neg: negation, the `-` operator, on a bool tensor is not supported "
                         "(as in PyTorch); use `~` or logical_not")
    return Neg.apply(a)


def pow(a, b):
    """a ** b with PyTorch's dtypes; an integer tensor to a negative integer power raises."""
    if isinstance(a, Tensor) and isinstance(b, (int, float)) and not isinstance(b, bool):
        dtype = result_type(a, b)
        if dtype.kind in "iu" and b < 0:
            raise DTypeError(f"pow: integers to negative integer powers are not allowed "
                             f"(got a {a.dtype} tensor ** {b}, as PyTorch refuses too)")
        # (the exponent is rounded to the tensor's dtype first, as PyTorch's kernel does)
        return PowScalar.apply(as_operand(a, dtype, a), exponent=b)
    if result_type(a, b) == np.bool_:    # bool ** bool, tensors or Python bools: bool, as
        return binary(Pow, a, b).astype(np.bool_)   # PyTorch and logic (NumPy gives int8)
    return binary(Pow, a, b)


def reciprocal(a):
    """1 / a; integers give the default float dtype (torch.reciprocal)."""
    return Reciprocal.apply(_float(a))


def exp(a):
    return Exp.apply(_float(a))


def log(a):
    return Log.apply(_float(a))


def sqrt(a):
    return Sqrt.apply(_float(a))


def tanh(a):
    return Tanh.apply(_float(a))


def sigmoid(a):
    return Sigmoid.apply(_float(a))


def relu(a):
    return Relu.apply(a)


def abs(a):
    return Abs.apply(a)


def clip(a, min=None, max=None):
    for bound in (min, max):         # bounds promote as in PyTorch: int tensor, float bound: float
        if isinstance(bound, (float, np.floating)) and kind_of(a.dtype) != "f":
            a = a.astype(get_default_dtype())
        elif isinstance(bound, (int, np.integer)) and not isinstance(bound, bool) and \
                a.dtype == np.bool_:
            a = a.astype(np.int64)
    if a.dtype.itemsize == 2:        # torch refuses a bound float16 cannot hold (no inf)
        check_fits("clamp", a.dtype, min, max)
    return Clip.apply(a, lo=min, hi=max)


clamp = clip


def _float(a):
    """`a` as a float tensor (integers and bools become the default float dtype, as in PyTorch)."""
    if not isinstance(a, Tensor):
        a = Tensor(a)
    if kind_of(a.dtype) != "f":
        return a.astype(get_default_dtype())
    return a


# Selection (maximum, minimum, where, masked_fill) and comparisons live in their own
# files; they are re-exported here, where the ops of this family have always been found.
from .selection import (Maximum, MaskedFill, Minimum, Where, masked_fill,  # noqa: E402,F401
                        maximum, minimum, where)
from .compare import (bitwise_and, bitwise_not, bitwise_or, eq, ge, gt,  # noqa: E402,F401
                      isfinite, le, logical_and, logical_not, logical_or, lt, ne)

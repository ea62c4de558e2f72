"""Tensor's operators and methods, bound to the ops and the engine.

tensor.py sits below the ops and the engine (they import it), so it cannot call
them; this module, above all three, gives Tensor its `+`, `@`, `.sum()`,
`.backward()` and the rest. Each entry is one line: the method name and the op
it calls. minigrad/__init__.py imports this module, so every Tensor has them.
"""
import numpy as np

from . import autograd
from .backend import parse_device
from .dtype import as_dtype, is_floating, kind_of
from .errors import DTypeError, ShapeError
from .ops import elementwise as ew
from .ops import gather_scatter as gs
from .ops import index, linalg, reduce, shape, triangular, unary
from .ops.softmax import log_softmax, softmax
from .tensor import Tensor


# ------------------------------------------------------------------ conversion
def to(self, *args, dtype=None, device=None):
    """`.to("cuda")`, `.to(minigrad.float64)`, `.to("cpu", minigrad.float32)`."""
    for a in args:
        if isinstance(a, str) and not a.startswith(("float", "int", "uint", "bool", "half",
                                                     "double", "long", "bfloat16")):
            device = a
        else:
            dtype = a
    out = self
    if device is not None and parse_device(device) != self.device:
        out = shape.ToDevice.apply(out, device=parse_device(device))
    if dtype is not None and as_dtype(dtype) != out.dtype:
        out = out.astype(dtype)
    return out


def astype(self, dtype):
    if dtype is None:
        raise DTypeError("astype: expected a dtype, got None")
    dtype = as_dtype(dtype)
    if dtype == self.dtype:
        return self
    if kind_of(dtype) != "f":        # integers and bools carry no gradient (as in PyTorch)
        return Tensor._make(self.array.astype(dtype), False, None)
    return ew.Cast.apply(self, dtype=dtype)


def type_(self, dtype=None):
    """`x.type(minigrad.uint8)`: `x` in that dtype (torch.Tensor.type); with no argument
    the dtype's name."""
    return str(self.dtype) if dtype is None else self.to(dtype)


def backward(self, gradient=None, retain_graph=None, create_graph=False):
    """Accumulate the gradient of this tensor into every leaf's `.grad`
    (see minigrad/autograd/engine.py for the walk)."""
    autograd.backward(self, gradient, retain_graph, create_graph)


def setitem(self, index_, value):
    self._check_inplace("setitem")
    value = value.array if isinstance(value, Tensor) else value
    self.array[index.as_index(index_)] = value


def clone(self):
    """A copy with its own memory; gradients flow back to `self` (torch.Tensor.clone)."""
    return ew.Clone.apply(self)


# ------------------------------------------------------------------ in place
def _in_place(name, op):
    """`x.add_(y)` and `x += y`: compute `op`, write the result into x's own memory.

    As in PyTorch the tensor keeps its dtype and shape (a result that would widen
    either is an error) and its version goes up, so a backward that saved it raises.
    In-place ops are not recorded: on a leaf that requires grad they need no_grad()
    (as PyTorch); `+=` on a tensor inside the graph falls back to `x = x + y`.
    """
    def method(self, other, *args, **kwargs):
        self._check_inplace(name)
        with autograd.no_grad():
            out = op(self.detach(), other, *args, **kwargs)
        if out.shape != self.shape:
            raise ShapeError(f"{name}: the result's shape {tuple(out.shape)} differs from the "
                             f"tensor's {tuple(self.shape)} (in-place ops cannot broadcast it)")
        if kind_of(out.dtype) == "f" and kind_of(self.dtype) != "f":
            raise DTypeError(f"{name}: result type {out.dtype} can't be cast to the tensor's "
                             f"dtype {self.dtype}")
        self.array[...] = out.array
        return self

    def operator(self, other):
        if self._ctx is not None:
            return NotImplemented          # x inside the graph: Python does x = x op y
        return method(self, other)
    method.__name__ = name
    return method, operator


def _add(a, b, alpha=1):
    return ew.add(a, b if alpha == 1 else b * alpha)


def _sub(a, b, alpha=1):
    return ew.sub(a, b if alpha == 1 else b * alpha)


add_, iadd = _in_place("add_", _add)
sub_, isub = _in_place("sub_", _sub)
mul_, imul = _in_place("mul_", ew.mul)
div_, idiv = _in_place("div_", ew.div)
clamp_, _ = _in_place("clamp_", ew.clip)
masked_fill_, _ = _in_place("masked_fill_", ew.masked_fill)

METHODS = {
    "add_": add_, "sub_": sub_, "mul_": mul_, "div_": div_, "clamp_": clamp_, "clip_": clamp_,
    "masked_fill_": masked_fill_,
    "__iadd__": iadd, "__isub__": isub, "__imul__": imul, "__itruediv__": idiv,
    "to": to, "astype": astype, "type": type_,
    "type_as": lambda self, other: self.to(other.dtype), "backward": backward, "__setitem__": setitem, "clone": clone,
    "cpu": lambda self: self.to("cpu"),
    "cuda": lambda self, index=0: self.to(f"cuda:{index}"),
    "float": lambda self: self.astype(np.float32),
    "double": lambda self: self.astype(np.float64),
    "half": lambda self: self.astype(np.float16),
    "bfloat16": lambda self: self.astype("bfloat16"),    # DTypeError without ml_dtypes
    "is_floating_point": lambda self: is_floating(self.dtype),
    "long": lambda self: self.astype(np.int64),
    "int": lambda self: self.astype(np.int32),
    "bool": lambda self: self.astype(np.bool_),
    "T": property(lambda self: self.permute(*reversed(range(self.ndim)))),
    # operators
    "__add__": ew.add, "__radd__": lambda self, other: ew.add(other, self),
    "__sub__": ew.sub, "__rsub__": lambda self, other: ew.sub(other, self),
    "__mul__": ew.mul, "__rmul__": lambda self, other: ew.mul(other, self),
    "__truediv__": ew.div, "__rtruediv__": lambda self, other: ew.div(other, self),
    "__pow__": ew.pow, "__rpow__": lambda self, other: ew.pow(other, self),
    "__neg__": ew.neg, "__abs__": ew.abs,
    "__matmul__": linalg.matmul, "__rmatmul__": lambda self, other: linalg.matmul(other, self),
    "__lt__": ew.lt, "__le__": ew.le, "__gt__": ew.gt, "__ge__": ew.ge,
    "__eq__": ew.eq, "__ne__": ew.ne,
    "__invert__": ew.bitwise_not,
    "__and__": ew.bitwise_and, "__rand__": lambda self, other: ew.bitwise_and(other, self),
    "__or__": ew.bitwise_or, "__ror__": lambda self, other: ew.bitwise_or(other, self),
    "__getitem__": index.getitem,
    # elementwise
    "exp": ew.exp, "log": ew.log, "sqrt": ew.sqrt, "tanh": ew.tanh, "sigmoid": ew.sigmoid,
    "relu": ew.relu, "abs": ew.abs,
    "clip": ew.clip, "clamp": ew.clip, "maximum": ew.maximum, "minimum": ew.minimum,
    "masked_fill": ew.masked_fill, "matmul": linalg.matmul,
    # reductions
    "sum": reduce.sum, "mean": reduce.mean, "var": reduce.var, "max": reduce.max,
    "min": reduce.min, "argmax": reduce.argmax, "argmin": reduce.argmin,
    "any": reduce.any, "all": reduce.all, "std": reduce.std, "amax": reduce.amax,
    "amin": reduce.amin,
    # gather / scatter
    "gather": gs.gather, "index_fill_": gs.index_fill_, "nonzero": gs.nonzero,
    "softmax": softmax, "log_softmax": log_softmax,
    "sin": unary.sin, "cos": unary.cos, "rsqrt": unary.rsqrt,
    "tril": triangular.tril, "triu": triangular.triu,
    "scatter_": gs.scatter_, "scatter_add_": gs.scatter_add_,
    # shape
    "reshape": shape.reshape, "view": shape.reshape, "flatten": shape.flatten,
    "permute": shape.permute,
    "transpose": shape.transpose,
    "swapaxes": shape.swapaxes, "expand": shape.expand, "broadcast_to": shape.broadcast_to,
    "squeeze": shape.squeeze, "unsqueeze": shape.unsqueeze, "split": shape.split,
    "chunk": shape.chunk, "contiguous": lambda self: self,
    "view_as": lambda self, other: shape.reshape(self, other.shape),
    "sum_to_size": lambda self, *size: shape.sum_to(self, shape._shape_arg(size)),
}

for _name, _method in METHODS.items():
    setattr(Tensor, _name, _method)

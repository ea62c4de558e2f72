"""Tensor's operators and methods, bound to the ops and the engine.

tensor.py sits below the ops and the engine (they import it), so it cannot call
them; this module, above all three, gives Tensor its `+`, `@`, `.sum()`,
`.backward()` and the rest. Each entry is one line: the method name and the op
it calls. minigrad/__init__.py imports this module, so every Tensor has them.
"""
import numpy as np

from . import autograd
from .backend import parse_device
from .dtype import as_dtype
from .errors import DTypeError
from .ops import elementwise as ew
from .ops import index, linalg, reduce, shape
from .tensor import Tensor


# ------------------------------------------------------------------ conversion
def to(self, *args, dtype=None, device=None):
    """`.to("cuda")`, `.to(minigrad.float64)`, `.to("cpu", minigrad.float32)`."""
    for a in args:
        if isinstance(a, str) and not a.startswith(("float", "int", "bool", "half", "double", "long")):
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
    if dtype.kind != "f":        # integers and bools carry no gradient (as in PyTorch)
        return Tensor._make(self.data.astype(dtype), False, None)
    return ew.Cast.apply(self, dtype=dtype)


def backward(self, gradient=None, retain_graph=None, create_graph=False):
    """Accumulate the gradient of this tensor into every leaf's `.grad`
    (see minigrad/autograd/engine.py for the walk)."""
    autograd.backward(self, gradient, retain_graph, create_graph)


def setitem(self, index_, value):
    self._check_inplace("setitem")
    value = value.data if isinstance(value, Tensor) else value
    self.data[index.as_index(index_)] = value


def clone(self):
    """A copy with its own memory; gradients flow back to `self` (torch.Tensor.clone)."""
    return ew.Clone.apply(self)


METHODS = {
    "to": to, "astype": astype, "backward": backward, "__setitem__": setitem, "clone": clone,
    "cpu": lambda self: self.to("cpu"),
    "cuda": lambda self, index=0: self.to(f"cuda:{index}"),
    "float": lambda self: self.astype(np.float32),
    "double": lambda self: self.astype(np.float64),
    "half": lambda self: self.astype(np.float16),
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
    "any": reduce.any, "all": reduce.all,
    # shape
    "reshape": shape.reshape, "view": shape.reshape, "flatten": shape.flatten,
    "permute": shape.permute,
    "transpose": lambda self, axis0=-2, axis1=-1: shape.swapaxes(self, axis0, axis1),
    "swapaxes": shape.swapaxes, "expand": shape.expand, "broadcast_to": shape.broadcast_to,
    "squeeze": shape.squeeze, "unsqueeze": shape.unsqueeze, "split": shape.split,
    "chunk": shape.chunk, "contiguous": lambda self: self,
    "view_as": lambda self, other: shape.reshape(self, other.shape),
    "sum_to_size": lambda self, *size: shape.sum_to(self, shape._shape_arg(size)),
}

for _name, _method in METHODS.items():
    setattr(Tensor, _name, _method)

"""The Tensor: one array, the gradient it accumulates, and the op that created it."""
import numpy as np

from . import autograd
from .backend import device_of, parse_device, to_device, xp_of
from .dtype import as_dtype, get_default_dtype
from .errors import DTypeError, MinigradError, ShapeError


def _to_array(data, dtype, device):
    """Turn Python numbers, lists, NumPy/CuPy arrays into an array on `device`."""
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, np.ndarray) or type(data).__module__.startswith("cupy"):
        array = data
    elif isinstance(data, np.generic):                   # a NumPy scalar keeps its dtype
        array = np.asarray(data)
    else:
        try:
            array = np.asarray(data)
        except (ValueError, TypeError) as e:     # ragged lists, or things that are not numbers
            raise ShapeError(f"tensor: cannot make a tensor from {type(data).__name__} data: "
                             f"{e}") from None
        if dtype is None and array.dtype.kind == "f":
            array = array.astype(get_default_dtype())   # Python floats -> default dtype
        elif dtype is None and array.dtype.kind in "iu" and array.dtype != np.int64:
            array = array.astype(np.int64)
    if array.dtype.kind in "OUS":
        raise DTypeError(f"tensor: cannot make a tensor from data of dtype {array.dtype}")
    if dtype is not None and array.dtype != dtype:
        array = array.astype(dtype)
    if device is not None:
        array = to_device(array, device)
    return array


class Tensor:
    """An n-dimensional array that remembers how it was computed.

    `data` is the NumPy (CPU) or CuPy (GPU) array. When `requires_grad` is set,
    ops on the tensor are recorded, and `backward()` fills `.grad`.
    """

    __slots__ = ("data", "requires_grad", "grad", "_ctx", "name", "__weakref__", "__dict__")
    __array_priority__ = 1000     # numpy_array * tensor -> Tensor.__rmul__

    def __init__(self, data, dtype=None, device=None, requires_grad=False):
        self.data = _to_array(data, as_dtype(dtype), device)
        self.grad = None
        self._ctx = None
        self.name = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, data, requires_grad, ctx):
        """Wrap an op's result without any conversion (the hot path)."""
        t = object.__new__(Tensor)
        if type(data) is not np.ndarray and not hasattr(data, "__cuda_array_interface__"):
            data = np.asarray(data)          # NumPy returns scalars from 0-d ops
        t.data = data
        t.requires_grad = requires_grad
        t.grad = None
        t._ctx = ctx
        t.name = None
        return t

    # ------------------------------------------------------------ properties
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        """Number of elements (NumPy's meaning; `numel()` is the PyTorch spelling)."""
        return self.data.size

    def numel(self):
        return self.data.size

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self):
        return device_of(self.data)

    @property
    def xp(self):
        """The array module (numpy or cupy) of this tensor."""
        return xp_of(self.data)

    @property
    def is_leaf(self):
        return self._ctx is None

    @property
    def grad_fn(self):
        return self._ctx

    @property
    def T(self):
        return self.permute(*reversed(range(self.ndim)))

    def requires_grad_(self, flag=True):
        if flag and self.data.dtype.kind != "f":
            raise DTypeError(
                f"requires_grad: only floating point tensors can require gradients, "
                f"got dtype {self.data.dtype}")
        self.requires_grad = bool(flag)
        return self

    # ------------------------------------------------------------ conversion
    def numpy(self):
        """The data as a NumPy array (copied from the GPU when needed)."""
        return self.data if isinstance(self.data, np.ndarray) else self.data.get()

    def tolist(self):
        return self.numpy().tolist()

    def item(self):
        if self.data.size != 1:
            raise MinigradError(f"item: only one-element tensors convert to a Python number, "
                                f"got shape {tuple(self.shape)}")
        return self.data.reshape(()).item()

    def detach(self):
        """The same data, cut from the graph."""
        return Tensor._make(self.data, False, None)

    def to(self, *args, dtype=None, device=None):
        """`.to("cuda")`, `.to(minigrad.float64)`, `.to("cpu", minigrad.float32)`."""
        for a in args:
            if isinstance(a, str) and not a.startswith(("float", "int", "bool", "half", "double", "long")):
                device = a
            else:
                dtype = a
        out = self
        if device is not None and parse_device(device) != self.device:
            out = _ops.shape.ToDevice.apply(out, device=parse_device(device))
        if dtype is not None and as_dtype(dtype) != out.dtype:
            out = out.astype(dtype)
        return out

    def cpu(self):
        return self.to("cpu")

    def cuda(self, index=0):
        return self.to(f"cuda:{index}")

    def astype(self, dtype):
        if dtype is None:
            raise DTypeError("astype: expected a dtype, got None")
        dtype = as_dtype(dtype)
        if dtype == self.dtype:
            return self
        if dtype.kind != "f":        # integers and bools carry no gradient (as in PyTorch)
            return Tensor._make(self.data.astype(dtype), False, None)
        return _ops.elementwise.Cast.apply(self, dtype=dtype)

    def float(self):
        return self.astype(np.float32)

    def double(self):
        return self.astype(np.float64)

    def half(self):
        return self.astype(np.float16)

    def long(self):
        return self.astype(np.int64)

    def int(self):
        return self.astype(np.int32)

    def bool(self):
        return self.astype(np.bool_)

    # ------------------------------------------------------------ autograd
    def backward(self, grad=None, retain_graph=False, create_graph=False):
        """Accumulate the gradient of this tensor into every leaf's `.grad`."""
        autograd.backward(self, grad, retain_graph, create_graph)

    def zero_grad(self):
        self.grad = None

    # ------------------------------------------------------------ in-place (no graph)
    def _check_inplace(self, op):
        if self._ctx is not None or (self.requires_grad and autograd.is_grad_enabled()):
            raise MinigradError(
                f"{op}: in-place change of a tensor that takes part in autograd; "
                "wrap it in minigrad.no_grad() (leaf) or use the out-of-place op")

    def zero_(self):
        self._check_inplace("zero_")
        self.data[...] = 0
        return self

    def fill_(self, value):
        self._check_inplace("fill_")
        self.data[...] = value
        return self

    def copy_(self, other):
        self._check_inplace("copy_")
        src = other.data if isinstance(other, Tensor) else other
        if tuple(np.shape(src)) != tuple(self.shape):
            raise MinigradError(f"copy_: source shape {tuple(np.shape(src))} does not match "
                                f"destination shape {tuple(self.shape)}")
        self.data[...] = to_device(src, self.device) if hasattr(src, "dtype") else src
        return self

    def __setitem__(self, index, value):
        self._check_inplace("setitem")
        value = value.data if isinstance(value, Tensor) else value
        self.data[_ops.index.as_index(index)] = value

    # ------------------------------------------------------------ Python protocol
    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __bool__(self):
        if self.data.size != 1:
            raise MinigradError(f"bool: the truth value of a tensor with {self.data.size} "
                                "elements is ambiguous; use .any() or .all()")
        return bool(self.data.reshape(()).item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.kind not in "iub":            # (a bool is an int, as in Python)
            raise TypeError(f"only integer tensors can be used as an index, got {self.dtype}")
        return int(self.item())

    __hash__ = object.__hash__

    def __repr__(self):
        body = np.array2string(self.numpy(), separator=", ", precision=4, threshold=200,
                               prefix="tensor(")
        extras = [f"dtype={self.dtype}"]
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self._ctx is not None:
            extras.append(f"grad_fn={self._ctx.name}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return f"tensor({body}, {', '.join(extras)})"

    # ------------------------------------------------------------ operators
    def __add__(self, other): return _ops.elementwise.add(self, other)
    def __radd__(self, other): return _ops.elementwise.add(other, self)
    def __sub__(self, other): return _ops.elementwise.sub(self, other)
    def __rsub__(self, other): return _ops.elementwise.sub(other, self)
    def __mul__(self, other): return _ops.elementwise.mul(self, other)
    def __rmul__(self, other): return _ops.elementwise.mul(other, self)
    def __truediv__(self, other): return _ops.elementwise.div(self, other)
    def __rtruediv__(self, other): return _ops.elementwise.div(other, self)
    def __pow__(self, other): return _ops.elementwise.pow(self, other)
    def __rpow__(self, other): return _ops.elementwise.pow(other, self)
    def __neg__(self): return _ops.elementwise.neg(self)
    def __abs__(self): return _ops.elementwise.abs(self)
    def __matmul__(self, other): return _ops.linalg.matmul(self, other)
    def __rmatmul__(self, other): return _ops.linalg.matmul(other, self)
    def __lt__(self, other): return _ops.elementwise.lt(self, other)
    def __le__(self, other): return _ops.elementwise.le(self, other)
    def __gt__(self, other): return _ops.elementwise.gt(self, other)
    def __ge__(self, other): return _ops.elementwise.ge(self, other)
    def __eq__(self, other): return _ops.elementwise.eq(self, other)
    def __ne__(self, other): return _ops.elementwise.ne(self, other)
    def __invert__(self): return _ops.elementwise.bitwise_not(self)
    def __and__(self, other): return _ops.elementwise.bitwise_and(self, other)
    def __rand__(self, other): return _ops.elementwise.bitwise_and(other, self)
    def __or__(self, other): return _ops.elementwise.bitwise_or(self, other)
    def __ror__(self, other): return _ops.elementwise.bitwise_or(other, self)
    def __getitem__(self, index): return _ops.index.getitem(self, index)

    # ------------------------------------------------------------ methods (see minigrad.ops)
    def exp(self): return _ops.elementwise.exp(self)
    def log(self): return _ops.elementwise.log(self)
    def sqrt(self): return _ops.elementwise.sqrt(self)
    def tanh(self): return _ops.elementwise.tanh(self)
    def sigmoid(self): return _ops.elementwise.sigmoid(self)
    def relu(self): return _ops.elementwise.relu(self)
    def abs(self): return _ops.elementwise.abs(self)
    def clip(self, min=None, max=None): return _ops.elementwise.clip(self, min, max)
    clamp = clip
    def maximum(self, other): return _ops.elementwise.maximum(self, other)
    def minimum(self, other): return _ops.elementwise.minimum(self, other)
    def masked_fill(self, mask, value): return _ops.elementwise.masked_fill(self, mask, value)
    def matmul(self, other): return _ops.linalg.matmul(self, other)

    def sum(self, axis=None, keepdims=False): return _ops.reduce.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return _ops.reduce.mean(self, axis, keepdims)
    def var(self, axis=None, keepdims=False, correction=1):
        return _ops.reduce.var(self, axis, keepdims, correction)
    def max(self, axis=None, keepdims=False): return _ops.reduce.max(self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return _ops.reduce.min(self, axis, keepdims)
    def argmax(self, axis=None, keepdims=False): return _ops.reduce.argmax(self, axis, keepdims)
    def argmin(self, axis=None, keepdims=False): return _ops.reduce.argmin(self, axis, keepdims)
    def any(self, axis=None, keepdims=False): return _ops.reduce.any(self, axis, keepdims)
    def all(self, axis=None, keepdims=False): return _ops.reduce.all(self, axis, keepdims)

    def reshape(self, *shape): return _ops.shape.reshape(self, *shape)
    view = reshape
    def flatten(self, start_axis=0, end_axis=-1): return _ops.shape.flatten(self, start_axis, end_axis)
    def permute(self, *axes): return _ops.shape.permute(self, *axes)
    def transpose(self, axis0=-2, axis1=-1): return _ops.shape.swapaxes(self, axis0, axis1)
    def swapaxes(self, axis0, axis1): return _ops.shape.swapaxes(self, axis0, axis1)
    def expand(self, *shape): return _ops.shape.expand(self, *shape)
    def broadcast_to(self, shape): return _ops.shape.broadcast_to(self, shape)
    def squeeze(self, axis=None): return _ops.shape.squeeze(self, axis)
    def unsqueeze(self, axis): return _ops.shape.unsqueeze(self, axis)
    def split(self, split_size_or_sections, axis=0):
        return _ops.shape.split(self, split_size_or_sections, axis)
    def chunk(self, chunks, axis=0): return _ops.shape.chunk(self, chunks, axis)
    def contiguous(self): return self


def constant(array):
    """Wrap an array that needs no gradient (masks, saved results) as a Tensor."""
    return Tensor._make(array, False, None)


from . import ops as _ops  # noqa: E402  (ops import Tensor; Tensor methods call ops)

"""The Tensor: one array, the gradient it accumulates, and the op that created it.

This file is the data structure only; it sits below the engine and the ops (both
import it). The math methods and operators (`+`, `@`, `.sum()`, `.backward()`, ...)
call the ops and the engine, so they are bound onto Tensor one layer up, in
minigrad/methods.py.
"""
import weakref

import numpy as np

from .backend import device, device_of, is_array, to_device, to_numpy, wrap_result, xp_of
from .dtype import as_dtype, get_default_dtype, is_floating, kind_of
from .errors import (AutogradError, DeviceError, DTypeError, MinigradError,
                     RequiresGradDTypeError, ShapeError)
from .modes import is_grad_enabled


def _to_array(data, dtype, device):
    """Turn Python numbers, lists, NumPy/CuPy arrays into an array on `device`."""
    if isinstance(data, Tensor):
        data = data.array
    if is_array(data):
        array = data
    elif isinstance(data, np.generic):                   # a NumPy scalar keeps its dtype
        array = np.asarray(data)
    else:
        try:
            array = np.asarray(data)
        except (ValueError, TypeError) as e:     # ragged lists, or things that are not numbers
            raise ShapeError(f"tensor: cannot make a tensor from {type(data).__name__} data: "
                             f"{e}") from None
        if dtype is None and kind_of(array.dtype) == "f":
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


class Size(tuple):
    """A tensor's shape, as `x.size()` returns it: a tuple that prints as torch.Size does."""

    def __repr__(self):
        return f"minigrad.Size({list(self)})"

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n


def _dim_index(dim, ndim, op):
    """`dim` as a non-negative index into a shape of `ndim` dimensions (torch wraps negatives)."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise ShapeError(f"{op}: dim must be an int, got {dim!r}")
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise ShapeError(f"{op}: dim {dim} is out of range for a tensor of {ndim} dimensions "
                         f"(expected [{-max(ndim, 1)}, {max(ndim, 1) - 1}])")
    return dim % max(ndim, 1)


_DEVICES = {}                    # device name -> its minigrad.device (Tensor.device)


class Tensor:
    """An n-dimensional array that remembers how it was computed.

    `array` is the NumPy (CPU) or CuPy (GPU) array that holds the values (`.data`
    is torch's: a Tensor sharing it, outside autograd). When `requires_grad` is set,
    ops on the tensor are recorded, and `backward()` fills `.grad`. `_ctx` is the
    Function that made it (None for a leaf); `_version` counts in-place changes, so
    backward can tell that a tensor it saved was changed since. The count lives in
    `_vc`, a one-element list that `detach()` shares with its result (as torch's
    version counter: a change made through the detached tensor is a change of this
    one), and `.data` does not (torch's unchecked escape hatch).
    """

    __slots__ = ("array", "requires_grad", "grad", "_ctx", "_vc", "name", "__weakref__",
                 "__dict__")
    __array_priority__ = 1000     # numpy_array * tensor -> Tensor.__rmul__

    def __init__(self, data, dtype=None, device=None, requires_grad=False):
        self.array = _to_array(data, as_dtype(dtype), device)
        self.grad = None
        self._ctx = None
        self._vc = [0]
        self.name = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(cls, data, requires_grad, ctx):
        """Wrap an op's result without any conversion (the hot path)."""
        t = object.__new__(Tensor)
        if type(data) is not np.ndarray:
            data = wrap_result(data)         # NumPy returns scalars from 0-d ops
        t.array = data
        t.requires_grad = requires_grad
        t.grad = None
        t._ctx = ctx
        t._vc = [0]
        t.name = None
        return t

    @property
    def _version(self):
        """How many in-place changes this tensor's memory has seen (torch's `_version`)."""
        return self._vc[0]

    @_version.setter
    def _version(self, value):
        self._vc[0] = value

    # ------------------------------------------------------------ properties
    @property
    def data(self):
        """torch.Tensor.data: a tensor sharing this one's memory, outside autograd
        (requires_grad False, no history, its own version counter, so changes made
        through it are not seen by autograd, as in torch: `p.data -= lr * p.grad`
        updates p in place, and a backward that saved p does not notice).
        Assigning a Tensor to `.data` makes this tensor use that tensor's memory."""
        return Tensor._make(self.array, False, None)

    @data.setter
    def data(self, value):
        if isinstance(value, Tensor):
            value = value.array
        elif not is_array(value):
            raise DTypeError(f"data: expected a Tensor to assign to .data, got "
                             f"{type(value).__name__}")
        self.array = value

    def __array__(self, dtype=None, copy=None):
        """NumPy interop: `np.asarray(tensor)` (copied from the GPU when needed)."""
        a = to_numpy(self.array)
        return a if dtype is None else a.astype(dtype, copy=False)

    @property
    def shape(self):
        """The shape as a `Size` (a tuple; torch.Tensor.shape), the same as size()."""
        return Size(self.array.shape)

    @property
    def ndim(self):
        return self.array.ndim

    def size(self, dim=None):
        """The shape as a `Size` (a tuple), or the length of dimension `dim` (negative counts
        from the end). torch.Tensor.size; the element count is `numel()`."""
        if dim is None:
            return Size(self.array.shape)
        return self.array.shape[_dim_index(dim, self.array.ndim, "size")]

    def dim(self):
        """The number of dimensions (torch.Tensor.dim; also `.ndim`)."""
        return self.array.ndim

    def numel(self):
        """The number of elements (torch.Tensor.numel)."""
        return self.array.size

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def device(self):
        """Where the data lives, as a `minigrad.device`: a str ("cpu", "cuda:0") with torch's
        `.type` and `.index`."""
        name = device_of(self.array)
        dev = _DEVICES.get(name)
        if dev is None:
            dev = _DEVICES[name] = device(name)
        return dev

    @property
    def xp(self):
        """The array module (numpy or cupy) of this tensor."""
        return xp_of(self.array)

    @property
    def is_leaf(self):
        return self._ctx is None

    @property
    def grad_fn(self):
        return self._ctx

    def requires_grad_(self, flag=True):
        """Set requires_grad in place (torch.Tensor.requires_grad_); returns self. Raises
        RequiresGradDTypeError (a RuntimeError, as torch) for a non-float tensor, and
        AutogradError for turning it off on a computed tensor (use detach())."""
        if flag and not is_floating(self.array.dtype):
            raise RequiresGradDTypeError(
                f"requires_grad: only floating point tensors can require gradients, "
                f"got dtype {self.array.dtype}")
        if not flag and self._ctx is not None:
            raise AutogradError("requires_grad_: you can only change requires_grad flags of "
                                "leaf variables; for a computed tensor use detach() (or "
                                "detach_())")
        self.requires_grad = bool(flag)
        return self

    # ------------------------------------------------------------ conversion
    def numpy(self):
        """The data as a NumPy array (copied from the GPU when needed)."""
        return to_numpy(self.array)

    def tolist(self):
        return self.numpy().tolist()

    def __format__(self, spec):
        """f"{loss:.4f}": a 0-d tensor formats as its number (torch.Tensor.__format__); with
        no format spec any tensor formats as str(tensor). Raises TypeError for a spec on a
        tensor with dimensions, as torch."""
        if self.ndim == 0:
            return format(self.item(), spec)
        if not spec:
            return str(self)
        raise TypeError(f"unsupported format string {spec!r} passed to a tensor of shape "
                        f"{tuple(self.shape)} (only 0-d tensors format as numbers)")

    def item(self):
        if self.array.size != 1:
            raise ShapeError(f"item: only one-element tensors convert to a Python number, "
                                f"got shape {tuple(self.shape)}")
        return self.array.reshape(()).item()

    def detach(self):
        """The same memory, cut from the graph (torch.Tensor.detach). It shares this
        tensor's version counter: changing it in place makes a backward that saved
        this tensor raise, as in torch (`.data` is the unchecked way)."""
        t = Tensor._make(self.array, False, None)
        t._vc = self._vc
        return t

    def zero_grad(self):
        self.grad = None

    def register_hook(self, hook):
        """Call `hook(grad)` when this tensor's gradient is computed; a hook that returns
        a Tensor replaces the gradient (torch.Tensor.register_hook). Returns a handle
        whose `remove()` unregisters it."""
        if not self.requires_grad:
            raise AutogradError("register_hook: cannot register a hook on a tensor that "
                                "does not require gradient")
        if self._ctx is None:                     # a leaf: run before accumulating .grad
            hooks = self.__dict__.setdefault("_hooks", [])
        else:                                     # run before its creator's backward
            if not self._ctx.tensor_hooks:
                self._ctx.tensor_hooks = []
            hooks = self._ctx.tensor_hooks
        if hooks and isinstance(hooks[-1], _RetainGrad):
            hooks.insert(len(hooks) - 1, hook)    # retain_grad sees the final gradient (torch)
        else:
            hooks.append(hook)
        return HookHandle(hooks, hook)

    def retain_grad(self):
        """Keep this non-leaf tensor's gradient in `.grad` after backward (a leaf keeps
        it anyway). torch.Tensor.retain_grad."""
        if self._ctx is None or self.__dict__.get("_retains_grad"):
            return
        self._retains_grad = True
        self.register_hook(_RetainGrad(self))

    @property
    def retains_grad(self):
        return bool(self.__dict__.get("_retains_grad"))

    # ------------------------------------------------------------ in-place (no graph)
    def _check_inplace(self, op):
        """For an in-place write that autograd does not record (zero_, fill_, and the
        direct path of copy_, item assignment, scatter_, ...): refuse to change a tensor
        autograd is recording, and count the change, so that a backward that saved this
        tensor raises. (add_, mul_, `+=`, and those writes when a value requires grad,
        are recorded: see minigrad/methods.py.)"""
        if self.requires_grad and is_grad_enabled():
            if self._ctx is None:
                raise AutogradError(f"{op}: a leaf Variable that requires grad is being used "
                                    "in an in-place operation (as in PyTorch: change it under "
                                    "minigrad.no_grad(), or through .data)")
            raise AutogradError(f"{op}: in-place change of a tensor inside the autograd graph "
                                "is not recorded for this op; use the out-of-place op, or "
                                "clone() first")
        self._version += 1

    def zero_(self):
        self._check_inplace("zero_")
        self.array[...] = 0
        return self

    def fill_(self, value):
        self._check_inplace("fill_")
        self.array[...] = value
        return self

    def copy_(self, other, non_blocking=False):
        """Copy `other`'s values into this tensor (torch.Tensor.copy_): `other` broadcasts
        to this shape and takes this dtype and device. Raises ShapeError when it does not
        broadcast. (Recorded by autograd when `other` requires grad: minigrad/methods.py.)"""
        src = other.array if isinstance(other, Tensor) else other
        try:
            fits = np.broadcast_shapes(tuple(np.shape(src)), tuple(self.shape)) == tuple(self.shape)
        except ValueError:
            fits = False
        if not fits:
            raise ShapeError(f"copy_: source of shape {tuple(np.shape(src))} does not broadcast "
                             f"to the destination's shape {tuple(self.shape)}")
        self._check_inplace("copy_")
        self.array[...] = to_device(src, self.device) if hasattr(src, "dtype") else src
        return self

    # ------------------------------------------------------------ Python protocol
    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    def __bool__(self):
        if self.array.size != 1:
            raise ShapeError(f"bool: the truth value of a tensor with {self.array.size} "
                                "elements is ambiguous; use .any() or .all()")
        return bool(self.array.reshape(()).item())

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
        """As torch prints a tensor: floats with 4 decimals, in scientific notation when
        their magnitudes span more than 1000x (or pass 1e8, or go below 1e-4), whole
        numbers as "2.", one width per tensor; more than 1000 elements summarized with
        "..."; the dtype shown unless it is the default float dtype, int64 or bool."""
        values = self.numpy()
        if values.dtype.kind == "V":         # bfloat16: NumPy would print its values as ints
            values = values.astype(np.float32)
        body = np.array2string(values, separator=", ", threshold=1000, edgeitems=3,
                               max_line_width=80, prefix="tensor(",
                               formatter=_torch_formatter(values))
        extras = [] if self.dtype in (get_default_dtype(), np.dtype(np.int64),
                                      np.dtype(np.bool_)) else [f"dtype={self.dtype}"]
        if self.ndim and self.array.size == 0:
            extras.insert(0, f"size={tuple(self.shape)}")
        if self.device != "cpu":
            extras.append(f"device='{self.device}'")
        if self._ctx is not None:
            extras.append(f"grad_fn={self._ctx.name}")
        elif self.requires_grad:
            extras.append("requires_grad=True")
        return f"tensor({', '.join([body] + extras)})"


def _torch_formatter(values):
    """np.array2string's formatter for torch's float layout (torch/_tensor_str.py)."""
    if values.dtype.kind != "f" or values.size == 0:
        return None
    finite = np.abs(values[np.isfinite(values)].astype(np.float64))
    nonzero = finite[finite != 0]
    whole = np.all(np.ceil(nonzero) == nonzero) if nonzero.size else True
    big, small = (nonzero.max(), nonzero.min()) if nonzero.size else (0.0, 0.0)
    sci = bool(nonzero.size) and (big / small > 1000.0 or big > 1e8 or
                                  (not whole and small < 1e-4))
    if sci:
        def text(v):
            return f"{v:.4e}"
    elif whole:
        def text(v):
            return f"{v:.0f}." if np.isfinite(v) else str(v)
    else:
        def text(v):
            return f"{v:.4f}"

    def shown(v):
        return str(v) if not np.isfinite(v) else text(float(v))
    shown_values = values.reshape(-1) if values.size <= 1000 else np.concatenate(
        [values.reshape(-1)[:3], values.reshape(-1)[-3:]])
    # the width of the finite values (torch's): nan / inf are padded to it, never widen it
    finite_values = [v for v in shown_values if np.isfinite(v)] or list(shown_values)
    width = max(len(shown(v)) for v in finite_values)
    return {"float_kind": lambda v: shown(v).rjust(width)}


class HookHandle:
    """What register_hook returns: `handle.remove()` unregisters (twice is harmless)."""

    def __init__(self, hooks, hook, on_empty=None):
        self.hooks, self.hook, self.on_empty = hooks, hook, on_empty

    def remove(self):
        if self.hook in self.hooks:
            self.hooks.remove(self.hook)
            if not self.hooks and self.on_empty is not None:
                self.on_empty()


class _RetainGrad:
    """The hook retain_grad() registers: accumulate the gradient into `.grad`."""

    def __init__(self, tensor):
        self.tensor = weakref.ref(tensor)

    def __call__(self, grad):
        t = self.tensor()
        if t is not None:
            g = grad.detach() if not is_grad_enabled() else grad
            t.grad = g if t.grad is None else t.grad + g


def constant(array):
    """Wrap an array that needs no gradient (masks, saved results) as a Tensor."""
    return Tensor._make(array, False, None)


def operand_array(value, like, op, what):
    """The array of a mask, condition, index or target argument `value` (a Tensor, an
    array, a list or a scalar) of op `op` on `like`'s device (`like`: the op's input
    Tensor). Arrays, lists and scalars are placed on that device, as torch takes
    Python sequences; a Tensor must already be there (0-d tensors excepted, as in
    torch). Raises DeviceError naming `op` and `what` for a Tensor on another device."""
    if not isinstance(value, Tensor):
        return like.xp.asarray(value)
    if value.device == like.device:
        return value.array
    if value.ndim == 0:
        return like.xp.asarray(to_numpy(value.array))
    raise DeviceError(f"{op}: {what} is on {value.device} but the input is on {like.device}; "
                      f"expected all tensors on one device (move it with .to({like.device!r}))")

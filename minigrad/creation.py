"""Ways to make tensors: from data, filled, ranges and random draws (the rest of the
random draws, and the in-place fills, are in minigrad/sampling.py)."""
import numpy as np

from .backend import generator, to_device, xp_for
from .dtype import as_dtype, get_default_dtype, kind_of
from .errors import DTypeError, MinigradError, ShapeError
from .generator import source
from .tensor import Tensor


def _shape(shape, op):
    """f(2, 3), f((2, 3)) or f([2, 3]) as a tuple of non-negative ints, or a clear error."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for s in shape:
        if not isinstance(s, (int, np.integer)):            # (True counts as 1, as in PyTorch)
            raise ShapeError(f"{op}: sizes must be ints, got {s!r} in shape {tuple(shape)}")
        if s < 0:
            raise ShapeError(f"{op}: negative size {s} in shape {tuple(shape)}")
    return tuple(int(s) for s in shape)


def _sized(shape, size):
    """The shape from varargs, or from torch's `size=` keyword (zeros(size=(2, 3)))."""
    if size is not None and shape:
        raise ShapeError(f"give the size as arguments or as size=, not both: {shape}, {size}")
    return shape if size is None else (size,)


def _float_dtype(dtype, op):
    dtype = as_dtype(dtype) or get_default_dtype()
    if kind_of(dtype) != "f":
        raise DTypeError(f"{op}: draws floating point numbers; dtype {dtype} is not a float dtype")
    return dtype


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor from data (a Python number or list, an array or a Tensor), always with
    its own memory, as torch.tensor (`from_numpy` and `as_tensor` share instead)."""
    source = data.array if isinstance(data, Tensor) else data
    out = Tensor(data, dtype=dtype, device=device)
    if out.array is source:
        out.array = source.copy()
    return out.requires_grad_(True) if requires_grad else out


def as_tensor(data, dtype=None, device=None):
    """`data` as a tensor, sharing its memory when dtype and device allow (torch.as_tensor)."""
    return Tensor(data, dtype=dtype, device=device)


def from_numpy(array):
    """Wrap a NumPy array without copying (its dtype is kept)."""
    return Tensor(np.asarray(array))


def _filled(fill, shape, dtype, device, requires_grad, op):
    dtype = as_dtype(dtype) or get_default_dtype()
    shape = _shape(shape, op)
    if dtype.kind in "iu" and isinstance(fill, (int, float)) and not isinstance(fill, bool):
        info = np.iinfo(dtype)       # (a float too big for its dtype becomes inf, as in PyTorch)
        if not (fill == fill and float(info.min) <= fill <= float(info.max)):
            raise DTypeError(f"{op}: {fill!r} does not fit dtype {dtype} (range {info.min} to "
                             f"{info.max})")
    try:
        with np.errstate(over="ignore"):
            data = xp_for(device).full(shape, fill, dtype=dtype)
    except (TypeError, ValueError, OverflowError) as e:
        raise DTypeError(f"{op}: cannot fill a tensor of dtype {dtype} with {fill!r} "
                         f"({e})") from None
    return Tensor(data, requires_grad=requires_grad)


def zeros(*shape, size=None, dtype=None, device=None, requires_grad=False):
    return _filled(0, _sized(shape, size), dtype, device, requires_grad, "zeros")


def ones(*shape, size=None, dtype=None, device=None, requires_grad=False):
    return _filled(1, _sized(shape, size), dtype, device, requires_grad, "ones")


def full(shape, fill_value, dtype=None, device=None, requires_grad=False):
    if dtype is None and isinstance(fill_value, bool):
        dtype = np.bool_
    elif dtype is None and isinstance(fill_value, int):
        dtype = np.int64
    if isinstance(fill_value, (str, bytes)) or fill_value is None:
        raise DTypeError(f"full: fill_value must be a number, got {fill_value!r}")
    return _filled(fill_value, (shape,) if isinstance(shape, int) else (tuple(shape),),
                   dtype, device, requires_grad, "full")


def arange(start, stop=None, step=1, dtype=None, device=None, requires_grad=False):
    if stop is None:
        start, stop = 0, start
    if step == 0:
        raise MinigradError(f"arange: step must be nonzero, got {step!r}")
    if dtype is None:
        ints = all(isinstance(x, int) for x in (start, stop, step))
        dtype = np.int64 if ints else get_default_dtype()
    try:
        data = xp_for(device).arange(start, stop, step, dtype=as_dtype(dtype))
    except (TypeError, ValueError) as e:                 # e.g. a bool range of 3 or more
        raise DTypeError(f"arange({start}, {stop}, {step}, dtype={dtype}): {e}") from None
    return Tensor(data, requires_grad=requires_grad)


def draw(generator, device, op, make):
    """`make(gen)` with the generator to use (the device's, or `generator=`), its
    result on `device` (a user Generator draws on the host)."""
    gen, copy = source(generator, device, op)
    data = make(gen)
    return to_device(data, device) if copy else data


def rand(*shape, size=None, generator=None, dtype=None, device=None, requires_grad=False):
    """Uniform on [0, 1) (torch.rand); float16 is drawn as float32. Raises DTypeError
    for a non-float dtype."""
    dtype = _float_dtype(dtype, "rand")
    data = draw(generator, device, "rand", lambda g: g.random(
        _shape(_sized(shape, size), "rand"), dtype=np.promote_types(dtype, np.float32)))
    return Tensor(data.astype(dtype, copy=False), requires_grad=requires_grad)


def randn(*shape, size=None, generator=None, dtype=None, device=None, requires_grad=False):
    """Standard normal (torch.randn); float16 is drawn as float32."""
    dtype = _float_dtype(dtype, "randn")
    data = draw(generator, device, "randn", lambda g: g.standard_normal(
        _shape(_sized(shape, size), "randn"), dtype=np.promote_types(dtype, np.float32)))
    return Tensor(data.astype(dtype, copy=False), requires_grad=requires_grad)


def randint(*args, size=None, generator=None, dtype=None, device=None, requires_grad=False):
    """torch.randint(high, size) or randint(low, high, size): integers drawn uniformly
    from [low, high), int64 unless `dtype` says otherwise (float dtypes allowed, as torch)."""
    if size is None and (len(args) == 3 or len(args) == 2 and isinstance(args[1], (tuple, list))):
        *args, size = args
    if len(args) not in (1, 2) or size is None:
        raise MinigradError(f"randint: expected (high, size) or (low, high, size), got "
                            f"{len(args)} number(s) and size={size!r}")
    low, high = (0, args[0]) if len(args) == 1 else args
    dtype = as_dtype(dtype) or np.dtype(np.int64)
    shape = _shape((size,), "randint")
    if not low < high:
        raise MinigradError(f"randint: low ({low}) must be less than high ({high})")
    data = draw(generator, device, "randint", lambda g: g.integers(
        low, high, size=shape, dtype=dtype if dtype.kind in "iu" else np.int64))
    return Tensor(data.astype(dtype, copy=False), requires_grad=requires_grad)


def empty(*shape, size=None, dtype=None, device=None, requires_grad=False):
    """torch.empty: a tensor whose values are whatever its new memory holds."""
    dtype = as_dtype(dtype) or get_default_dtype()
    return Tensor(xp_for(device).empty(_shape(_sized(shape, size), "empty"), dtype=dtype),
                  requires_grad=requires_grad)


def _steps(start, end, steps, op):
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise MinigradError(f"{op}: number of steps must be a non-negative int, got {steps!r}")
    start, end = (float(x.item()) if isinstance(x, Tensor) else x for x in (start, end))
    return np.linspace(start, end, int(steps), dtype=np.float64)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False):
    """torch.linspace: `steps` evenly spaced values from start to end, both included
    (computed in float64, then rounded once to `dtype`; integer dtypes truncate)."""
    values = _steps(start, end, steps, "linspace")
    dtype = as_dtype(dtype) or get_default_dtype()
    return Tensor(values.astype(dtype), device=device, requires_grad=requires_grad)


def logspace(start, end, steps, base=10.0, dtype=None, device=None, requires_grad=False):
    """torch.logspace: base ** linspace(start, end, steps)."""
    values = float(base) ** _steps(start, end, steps, "logspace")
    dtype = as_dtype(dtype) or get_default_dtype()
    return Tensor(values.astype(dtype), device=device, requires_grad=requires_grad)


def _like(fn):
    def like(t, dtype=None, device=None, requires_grad=False):
        return fn(*t.shape, dtype=t.dtype if dtype is None else dtype,
                  device=t.device if device is None else device, requires_grad=requires_grad)
    like.__name__ = fn.__name__ + "_like"
    like.__doc__ = f"{fn.__name__} with the shape (and by default dtype and device) of `t`."
    return like


zeros_like = _like(zeros)
ones_like = _like(ones)
rand_like = _like(rand)
randn_like = _like(randn)
empty_like = _like(empty)


def randint_like(t, low=0, high=None, dtype=None, device=None, requires_grad=False):
    """torch.randint_like(t, high) or (t, low, high): t's shape, and by default its dtype."""
    low, high = (0, low) if high is None else (low, high)
    return randint(low, high, t.shape, dtype=t.dtype if dtype is None else dtype,
                   device=t.device if device is None else device, requires_grad=requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    return full(t.shape, fill_value, dtype=t.dtype if dtype is None else dtype,
                device=t.device if device is None else device, requires_grad=requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    _shape((n,) if m is None else (n, m), "eye")
    return Tensor(xp_for(device).eye(n, m, dtype=as_dtype(dtype) or get_default_dtype()),
                  requires_grad=requires_grad)


# ------------------------------------------------------------ Tensor.new_* (torch's)
def _of(self, dtype, device):
    """Keywords for a new tensor: self's dtype and device unless given."""
    return {"dtype": self.dtype if dtype is None else dtype,
            "device": self.device if device is None else device}


def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
    """Tensor.new_zeros(*size): zeros in self's dtype and device (unless given)."""
    return zeros(*size, **_of(self, dtype, device), requires_grad=requires_grad)


def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
    return ones(*size, **_of(self, dtype, device), requires_grad=requires_grad)


def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
    return empty(*size, **_of(self, dtype, device), requires_grad=requires_grad)


def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
    """Tensor.new_full(size, fill_value); the value is cast to the dtype (2.7 -> 2 for ints)."""
    return full(size, fill_value, **_of(self, dtype, device), requires_grad=requires_grad)


def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
    """A copy of `data` as a new tensor, in self's dtype and device unless given."""
    return tensor(data, **_of(self, dtype, device), requires_grad=requires_grad)

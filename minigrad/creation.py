"""Ways to make tensors: from data, filled, ranges and random draws."""
import numpy as np

from .backend import generator, xp_for
from .dtype import as_dtype, get_default_dtype, kind_of
from .errors import DTypeError, MinigradError, ShapeError
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


def zeros(*shape, dtype=None, device=None, requires_grad=False):
    return _filled(0, shape, dtype, device, requires_grad, "zeros")


def ones(*shape, dtype=None, device=None, requires_grad=False):
    return _filled(1, shape, dtype, device, requires_grad, "ones")


def full(shape, fill_value, dtype=None, device=None, requires_grad=False):
    if dtype is None and isinstance(fill_value, bool):
        dtype = np.bool_
    elif dtype is None and isinstance(fill_value, int):
        dtype = np.int64
    if isinstance(fill_value, (str, bytes)) or fill_value is None:
        raise DTypeError(f"full: fill_value must be a number, got {fill_value!r}")
    return _filled(fill_value, (shape,) if isinstance(shape, int) else (tuple(shape),),
                   dtype, device, requires_grad, "full")


def arange(start, stop=None, step=1, dtype=None, device=None):
    if stop is None:
        start, stop = 0, start
    if step == 0:
        raise MinigradError(f"arange: step must be nonzero, got {step!r}")
    if dtype is None:
        ints = all(isinstance(x, int) for x in (start, stop, step))
        dtype = np.int64 if ints else get_default_dtype()
    try:
        return Tensor(xp_for(device).arange(start, stop, step, dtype=as_dtype(dtype)))
    except (TypeError, ValueError) as e:                 # e.g. a bool range of 3 or more
        raise DTypeError(f"arange({start}, {stop}, {step}, dtype={dtype}): {e}") from None


def rand(*shape, dtype=None, device=None, requires_grad=False):
    """Uniform on [0, 1), from the device's generator (float16 is drawn as float32)."""
    dtype = _float_dtype(dtype, "rand")
    data = generator(device).random(_shape(shape, "rand"),
                                    dtype=np.promote_types(dtype, np.float32))
    return Tensor(data.astype(dtype, copy=False), requires_grad=requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad=False):
    """Standard normal, from the device's generator (float16 is drawn as float32)."""
    dtype = _float_dtype(dtype, "randn")
    data = generator(device).standard_normal(_shape(shape, "randn"),
                                             dtype=np.promote_types(dtype, np.float32))
    return Tensor(data.astype(dtype, copy=False), requires_grad=requires_grad)


def randint(low, high, shape, device=None, dtype=None):
    dtype = as_dtype(dtype) or np.dtype(np.int64)
    shape = _shape((shape,), "randint")
    if not low < high:
        raise MinigradError(f"randint: low ({low}) must be less than high ({high})")
    draw = generator(device).integers(low, high, size=shape,
                                      dtype=dtype if dtype.kind in "iu" else np.int64)
    return Tensor(draw.astype(dtype, copy=False))        # (PyTorch allows float dtypes too)


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


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    return full(t.shape, fill_value, dtype=t.dtype if dtype is None else dtype,
                device=t.device if device is None else device, requires_grad=requires_grad)


def eye(n, m=None, dtype=None, device=None):
    _shape((n,) if m is None else (n, m), "eye")
    return Tensor(xp_for(device).eye(n, m, dtype=as_dtype(dtype) or get_default_dtype()))

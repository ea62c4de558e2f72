"""Ways to make tensors: from data, filled, ranges and random draws."""
import numpy as np

from .backend import generator, parse_device, xp_for
from .dtype import as_dtype, get_default_dtype
from .tensor import Tensor


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def tensor(data, dtype=None, device=None, requires_grad=False):
    """A new tensor from data (a Python number or list, or an array)."""
    return Tensor(data, dtype=dtype, device=device, requires_grad=requires_grad)


def from_numpy(array):
    """Wrap a NumPy array without copying (its dtype is kept)."""
    return Tensor(np.asarray(array))


def _filled(fill, shape, dtype, device, requires_grad):
    dtype = as_dtype(dtype) or get_default_dtype()
    data = xp_for(device).full(_shape(shape), fill, dtype=dtype)
    return Tensor(data, requires_grad=requires_grad)


def zeros(*shape, dtype=None, device=None, requires_grad=False):
    return _filled(0, shape, dtype, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False):
    return _filled(1, shape, dtype, device, requires_grad)


def full(shape, fill_value, dtype=None, device=None, requires_grad=False):
    if dtype is None and isinstance(fill_value, bool):
        dtype = np.bool_
    elif dtype is None and isinstance(fill_value, int):
        dtype = np.int64
    return _filled(fill_value, (shape,) if isinstance(shape, int) else (tuple(shape),),
                   dtype, device, requires_grad)


def arange(start, stop=None, step=1, dtype=None, device=None):
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        ints = all(isinstance(x, int) for x in (start, stop, step))
        dtype = np.int64 if ints else get_default_dtype()
    return Tensor(xp_for(device).arange(start, stop, step, dtype=as_dtype(dtype)))


def rand(*shape, dtype=None, device=None, requires_grad=False):
    """Uniform on [0, 1), from the device's generator."""
    dtype = as_dtype(dtype) or get_default_dtype()
    data = generator(device).random(_shape(shape), dtype=dtype)
    return Tensor(data, requires_grad=requires_grad)


def randn(*shape, dtype=None, device=None, requires_grad=False):
    """Standard normal, from the device's generator."""
    dtype = as_dtype(dtype) or get_default_dtype()
    data = generator(device).standard_normal(_shape(shape), dtype=dtype)
    return Tensor(data, requires_grad=requires_grad)


def randint(low, high, shape, device=None, dtype=None):
    dtype = as_dtype(dtype) or np.dtype(np.int64)
    return Tensor(generator(device).integers(low, high, size=tuple(shape), dtype=dtype))


def _like(fn):
    def like(t, dtype=None, device=None, requires_grad=False):
        return fn(*t.shape, dtype=dtype or t.dtype, device=device or t.device,
                  requires_grad=requires_grad)
    like.__name__ = fn.__name__ + "_like"
    like.__doc__ = f"{fn.__name__} with the shape (and by default dtype and device) of `t`."
    return like


zeros_like = _like(zeros)
ones_like = _like(ones)
rand_like = _like(rand)
randn_like = _like(randn)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False):
    return full(t.shape, fill_value, dtype=dtype or t.dtype, device=device or t.device,
                requires_grad=requires_grad)


def eye(n, m=None, dtype=None, device=None):
    return Tensor(xp_for(device).eye(n, m, dtype=as_dtype(dtype) or get_default_dtype()))

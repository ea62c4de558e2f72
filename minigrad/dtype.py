"""Dtypes: float32 by default, float64 for gradient checks, ints and bools for indices and masks.

Dtypes are plain `numpy.dtype` objects, so they work with NumPy and CuPy alike.
"""
import numpy as np

from .errors import DTypeError

float16 = np.dtype("float16")
float32 = np.dtype("float32")
float64 = np.dtype("float64")
uint8 = np.dtype("uint8")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
bool_ = np.dtype("bool")

_ALIASES = {
    "float": float32, "float16": float16, "half": float16, "float32": float32,
    "float64": float64, "double": float64, "int32": int32, "int": int32,   # torch.int, Tensor.int()
    "int64": int64, "long": int64, "bool": bool_, "uint8": uint8,
}
# torch's dtype names, as minigrad attributes (minigrad.long, minigrad.double, ...)
TORCH_NAMES = {"float": float32, "float32": float32, "float64": float64, "double": float64,
               "half": float16, "float16": float16, "long": int64, "int64": int64,
               "int": int32, "int32": int32, "uint8": uint8, "bool": bool_}


_default = float32      # one for the whole process, as torch's (not per thread)


def get_default_dtype():
    """The float dtype given to tensors made from Python floats, to random and filled
    tensors and to new parameters (torch.get_default_dtype)."""
    return _default


def set_default_dtype(dtype):
    """Set the default float dtype for every thread (float32 unless you need float64
    precision). torch.set_default_dtype. Raises DTypeError for a non-float dtype."""
    global _default
    dtype = as_dtype(dtype)
    if not is_floating(dtype):
        raise DTypeError(f"set_default_dtype: expected a floating point dtype, got {dtype}")
    _default = dtype


def as_dtype(dtype):
    """Turn a dtype-like (np.float32, 'float32', minigrad.float32) into a numpy dtype."""
    if dtype is None:
        return None
    if isinstance(dtype, str) and dtype in _ALIASES:
        return _ALIASES[dtype]
    try:
        return np.dtype(dtype)
    except TypeError as e:
        raise DTypeError(f"unknown dtype {dtype!r}") from e


def is_floating(dtype):
    """True for float16, float32, float64 (torch.is_floating_point, for dtypes)."""
    return np.dtype(dtype).kind == "f"

"""Dtypes: float32 by default, float64 for gradient checks, ints and bools for indices and masks,
float16 and bfloat16 for mixed precision.

Dtypes are plain `numpy.dtype` objects, so they work with NumPy and CuPy alike. bfloat16
comes from the optional package `ml_dtypes` (`pip install ml_dtypes`, the `bf16` extra):
NumPy calls its kind 'V' (not 'f'), so code asks `kind_of(dtype)` or `is_floating(dtype)`
here rather than `dtype.kind`.
"""
import numpy as np

from .errors import DTypeError

try:                             # optional: bfloat16 exists only where ml_dtypes is installed
    import ml_dtypes as _ml_dtypes
except ImportError:              # pragma: no cover - depends on the environment
    _ml_dtypes = None

BFLOAT16_MISSING = ("bfloat16 needs the package ml_dtypes, which is not installed: "
                    "pip install ml_dtypes (or pip install 'minigrad[bf16]')")

float16 = np.dtype("float16")
float32 = np.dtype("float32")
float64 = np.dtype("float64")
uint8 = np.dtype("uint8")
int8 = np.dtype("int8")
int16 = np.dtype("int16")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
bool_ = np.dtype("bool")
if _ml_dtypes is not None:
    bfloat16 = np.dtype(_ml_dtypes.bfloat16)
# the 16-bit floats: reductions and normalisations over them compute in float32 and round once
HALF_DTYPES = (float16,) + ((bfloat16,) if _ml_dtypes is not None else ())

_ALIASES = {
    "float": float32, "float16": float16, "half": float16, "float32": float32,
    "float64": float64, "double": float64, "int32": int32, "int": int32,   # torch.int, Tensor.int()
    "int64": int64, "long": int64, "bool": bool_, "uint8": uint8,
    "int8": int8, "char": int8, "int16": int16, "short": int16,
}
if _ml_dtypes is not None:
    _ALIASES["bfloat16"] = bfloat16
# torch's dtype names, as minigrad attributes (minigrad.long, minigrad.double, ...)
TORCH_NAMES = {"float": float32, "float32": float32, "float64": float64, "double": float64,
               "half": float16, "float16": float16, "long": int64, "int64": int64,
               "int": int32, "int32": int32, "uint8": uint8, "bool": bool_,
               "int8": int8, "int16": int16, "short": int16}
if _ml_dtypes is not None:
    TORCH_NAMES["bfloat16"] = bfloat16


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
    if _ml_dtypes is None and (dtype == "bfloat16" or getattr(dtype, "__name__", "") == "bfloat16"):
        raise DTypeError(BFLOAT16_MISSING)
    try:
        return np.dtype(dtype)
    except TypeError as e:
        raise DTypeError(f"unknown dtype {dtype!r}") from e


def kind_of(dtype):
    """NumPy's kind letter of `dtype` ('f', 'i', 'u', 'b', ...), except that bfloat16 (kind
    'V' in NumPy) is 'f' too: use it wherever code would test `dtype.kind`."""
    if not isinstance(dtype, np.dtype):
        dtype = np.dtype(dtype)
    kind = dtype.kind                # (every op asks: the common case is one attribute read)
    return "f" if kind == "V" and dtype in HALF_DTYPES else kind


def is_floating(dtype):
    """True for float16, bfloat16, float32, float64 (torch.is_floating_point, for dtypes)."""
    return kind_of(dtype) == "f"


def is_half(dtype):
    """True for the 16-bit floats (float16, bfloat16): what reductions, softmax, layer norm
    and losses compute in float32 and round once, as PyTorch does on the CPU."""
    return dtype in HALF_DTYPES


def finfo(dtype):
    """np.finfo, bfloat16 included (NumPy's finfo refuses it; ml_dtypes has its own)."""
    if _ml_dtypes is not None and np.dtype(dtype) == bfloat16:
        return _ml_dtypes.finfo(bfloat16)
    return np.finfo(dtype)


def result_type(a, b):
    """The common dtype of two dtypes, as PyTorch promotes them: bfloat16 with float16 is
    float32, with an integer or bool it stays bfloat16 (NumPy refuses the first)."""
    a, b = np.dtype(a), np.dtype(b)
    if a == b:
        return a
    if _ml_dtypes is not None and bfloat16 in (a, b):
        other = b if a == bfloat16 else a
        if other.kind in "biu":
            return bfloat16
        return float32 if other == float16 else np.result_type(float32, other)
    return np.result_type(a, b)


def __getattr__(name):
    if name == "bfloat16":       # only reached when ml_dtypes is missing
        raise AttributeError(BFLOAT16_MISSING)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

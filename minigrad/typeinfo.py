"""torch.finfo / torch.iinfo and the small predicates torch.is_tensor,
torch.is_floating_point, torch.numel."""
import numpy as np

from .dtype import as_dtype, get_default_dtype
from .errors import DTypeError
from .tensor import Tensor


class finfo:
    """torch.finfo(dtype=default float dtype): bits, eps, max, min, tiny (=
    smallest_normal), resolution, dtype (its name), as Python numbers. Raises DTypeError
    for a non-float dtype (torch: TypeError, which DTypeError is)."""

    def __init__(self, dtype=None):
        dt = as_dtype(dtype) or get_default_dtype()
        if dt.kind != "f" and dt.name != "bfloat16":
            raise DTypeError(f"finfo: needs a floating point dtype, got {dt} (use iinfo)")
        info = _np_finfo(dt)
        self.bits = int(info.bits)
        self.eps = float(info.eps)
        self.max = float(info.max)
        self.min = float(info.min)
        self.tiny = self.smallest_normal = float(info.smallest_normal)
        self.resolution = 10.0 ** -int(info.precision)    # (NumPy's is rounded to dt)
        self.dtype = dt.name

    def __repr__(self):
        return (f"finfo(resolution={self.resolution:g}, min={self.min:g}, max={self.max:g}, "
                f"eps={self.eps:g}, smallest_normal={self.tiny:g}, tiny={self.tiny:g}, "
                f"dtype={self.dtype})")


def _np_finfo(dt):
    if dt.name == "bfloat16":                     # NumPy does not know it; ml_dtypes does
        import ml_dtypes
        return ml_dtypes.finfo(dt)
    return np.finfo(dt)


class iinfo:
    """torch.iinfo(dtype): bits, max, min, dtype (its name), as Python ints. Raises
    DTypeError for a non-integer dtype."""

    def __init__(self, dtype):
        dt = as_dtype(dtype)
        if dt is None or dt.kind not in "iu":
            raise DTypeError(f"iinfo: needs an integer dtype, got {dt} (use finfo)")
        info = np.iinfo(dt)
        self.bits, self.max, self.min, self.dtype = int(info.bits), int(info.max), \
            int(info.min), dt.name

    def __repr__(self):
        return f"iinfo(min={self.min}, max={self.max}, dtype={self.dtype})"


def is_tensor(obj):
    """torch.is_tensor: True for a minigrad Tensor (a Parameter too)."""
    return isinstance(obj, Tensor)


def is_floating_point(input):
    """torch.is_floating_point: True for a float16/bfloat16/float32/float64 tensor."""
    if not isinstance(input, Tensor):
        raise DTypeError(f"is_floating_point: expected a Tensor, got {type(input).__name__}")
    return input.dtype.kind == "f" or input.dtype.name == "bfloat16"


def numel(input):
    """torch.numel: the number of elements of a tensor."""
    if not isinstance(input, Tensor):
        raise DTypeError(f"numel: expected a Tensor, got {type(input).__name__}")
    return input.numel()

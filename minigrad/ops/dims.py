"""torch's argument names for dimensions, with NumPy's accepted as aliases.

The ops are written with NumPy's names (`axis`, `keepdims`); `torch_dims` lets every
public function built on them also take torch's (`dim`, `keepdim`, `start_dim`, ...),
so `x.sum(dim=1, keepdim=True)` and `x.sum(axis=1, keepdims=True)` are the same call.
"""
import functools

from ..errors import ShapeError

TORCH_TO_NUMPY = {"dim": "axis", "keepdim": "keepdims", "start_dim": "start_axis",
                  "end_dim": "end_axis", "dim0": "axis0", "dim1": "axis1"}


def torch_dims(fn):
    """Wrap `fn` (NumPy names) so it also takes torch's names; both at once is an error."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        for torch_name, numpy_name in TORCH_TO_NUMPY.items():
            if torch_name in kwargs:
                if numpy_name in kwargs:
                    raise ShapeError(f"{fn.__name__}: got both {torch_name}= and its alias "
                                     f"{numpy_name}=")
                kwargs[numpy_name] = kwargs.pop(torch_name)
        return fn(*args, **kwargs)
    return wrapper

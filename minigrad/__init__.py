"""minigrad: a small, fast tensor autograd framework with a NumPy (CPU) and CuPy (GPU) backend.

    import minigrad as mg
    x = mg.randn(3, 4, requires_grad=True)
    (x.tanh() ** 2).sum().backward()
    x.grad
"""
import os as _os

# Running from a source checkout without installing: `minigrad.nn` and
# `minigrad.models` live in the sibling folders nn/ and models/ (installed,
# they sit inside the package). Let the package path see them.
_root = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if _os.path.isfile(_os.path.join(_root, "pyproject.toml")) and \
        not _os.path.isdir(_os.path.join(_os.path.dirname(__file__), "nn")):
    __path__.append(_root)  # noqa: F821

from . import ops  # noqa: E402
from . import methods  # noqa: E402,F401  (gives Tensor its operators and math methods)
from . import autograd  # noqa: E402
from .autograd import (Function, current_scope, detect_anomaly, enable_grad,  # noqa: E402
                       inference_mode, is_grad_enabled, no_grad, scope, set_grad_enabled,
                       use_fused)
from .backend import (cuda_is_available, get_num_threads, get_rng_state, manual_seed,  # noqa: E402
                      parse_device, set_num_threads, set_rng_state)
from .creation import (arange, as_tensor, eye, from_numpy, full, full_like, ones, ones_like, rand,  # noqa: E402
                       rand_like, randint, randn, randn_like, tensor, zeros, zeros_like)
from .dtype import (TORCH_NAMES, bool_, float16, float32, float64, get_default_dtype,  # noqa: E402
                    int32, int64, set_default_dtype, uint8)
from .errors import (AnomalyError, AutogradError, DeviceError, DTypeError,  # noqa: E402
                     IndexOutOfRangeError, MinigradError, ShapeError)
from .gradcheck import gradcheck  # noqa: E402
from .ops import (abs, all, amax, amin, any, argmax, argmin, cat, chunk, clamp, clip,  # noqa: E402
                  concat, cos, cross_entropy, dropout, embedding, exp, gather, gelu, layer_norm, log,
                  log_softmax, masked_fill, matmul, max, maximum, mean, min, minimum, nonzero, relu, rsqrt,
                  scaled_dot_product_attention, sigmoid, sin, softmax, split, sqrt, stack, std, sum,
                  tanh, tril, triu, var, where)
from .tensor import Size, Tensor  # noqa: E402
from . import amp, io, optim, serialization, utils  # noqa: E402
from .amp import autocast  # noqa: E402
from .serialization import load, save  # noqa: E402  (torch.save / torch.load, never pickle)

__version__ = "0.1.0"


def grad(outputs, inputs, *args, **kwargs):
    """`minigrad.autograd.grad` (torch's: a tuple, one gradient per input), except that a
    single Tensor as `inputs` gives its gradient alone."""
    result = autograd.grad(outputs, inputs, *args, **kwargs)
    return result[0] if isinstance(inputs, Tensor) else result



def __getattr__(name):
    """`minigrad.nn` and `minigrad.models` on first use (PEP 562), as `torch.nn` is there after
    `import torch`; the core never imports them at import time (they sit above it)."""
    if name in ("nn", "models"):
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    if name == "bfloat16":           # only reached when ml_dtypes is not installed
        from .dtype import BFLOAT16_MISSING
        raise AttributeError(BFLOAT16_MISSING)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


manual_seed(int.from_bytes(_os.urandom(4), "little"))
# torch's dtype names (minigrad.long, minigrad.double, minigrad.bool, ...): set last, as some
# of them (int, float, bool) would hide Python's builtins in this module's code above.
globals().update(TORCH_NAMES)

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
from .backend import (cuda_is_available, device, get_num_threads, get_rng_state, manual_seed,  # noqa: E402
                      parse_device, set_num_threads, set_rng_state)
from .backend import freed_memory_kept, keep_freed_memory  # noqa: E402
from .creation import (arange, as_tensor, eye, from_numpy, full, full_like, ones, ones_like, rand,  # noqa: E402
                       rand_like, randint, randn, randn_like, tensor, zeros, zeros_like)
from .dtype import (TORCH_NAMES, bool_, float16, float32, float64, get_default_dtype,  # noqa: E402
                    int32, int64, set_default_dtype, uint8)
from .errors import (AnomalyError, AutogradError, DeviceError, DTypeError,  # noqa: E402
                     IndexOutOfRangeError, MinigradError, MissingPackageError,
                     RequiresGradDTypeError, ShapeError, ViewError)
from .gradcheck import gradcheck  # noqa: E402
from .ops import (abs, all, amax, amin, any, argmax, argmin, cat, chunk, clamp, clip,  # noqa: E402
                  concat, cos, cross_entropy, dropout, embedding, exp, gather, gelu, layer_norm, log,
                  log_softmax, masked_fill, matmul, max, maximum, mean, min, minimum, nonzero, relu, rsqrt,
                  scaled_dot_product_attention, sigmoid, sin, softmax, split, sqrt, stack, std, sum,
                  tanh, tril, triu, var, where)
from .tensor import Size, Tensor  # noqa: E402
# ops15: sorting, scans and products, norms, rearranging, selection, division, einsum
from .ops import (argsort, cumprod, cumsum, einsum, flip, floor_divide, fmod,  # noqa: E402
                  index_select, masked_select, msort, norm, prod, remainder, roll, sort, topk,
                  trace, unflatten)
from . import linalg  # noqa: E402  (torch.linalg.vector_norm)
from . import amp, io, optim, serialization, utils  # noqa: E402
from .amp import autocast  # noqa: E402
from .serialization import load, save  # noqa: E402  (torch.save / torch.load, never pickle)
# create15: creation, random draws, out-of-place scatter / index ops, finfo / iinfo
from .creation import empty, empty_like, linspace, logspace, randint_like  # noqa: E402
from .backend import initial_seed, seed  # noqa: E402
from .generator import Generator  # noqa: E402
from .sampling import bernoulli, multinomial, normal, randperm  # noqa: E402
from .ops.scatter import index_add, index_copy, index_fill, scatter, scatter_add  # noqa: E402
from .typeinfo import finfo, iinfo, is_floating_point, is_tensor, numel  # noqa: E402
# alias15: everyday torch functions (issue 15): arithmetic and comparison by name, more
# unary math and rounding, float tests, shape functions, views and products
from .ops.elementwise import (eq, ge, gt, isfinite, le, logical_and, logical_not,  # noqa: E402
                              logical_or, lt, mul, ne, neg, pow, reciprocal)
from .ops.math_extra import (allclose, ceil, count_nonzero, equal, erf, expm1, floor,  # noqa: E402
                             isclose, isinf, isnan, lerp, log1p, log2, logsumexp, round, sign,
                             square, trunc, clamp_max, clamp_min)
from .ops.math_extra import add_alpha as add, div_mode as div, sub_alpha as sub  # noqa: E402
from .ops.shape import (broadcast_to, flatten, permute, reshape, squeeze, transpose,  # noqa: E402
                        unsqueeze)
from .ops.views_extra import (argwhere, bmm, diag, diagonal, dot, meshgrid, mm, narrow,  # noqa: E402
                              masked_scatter, movedim, outer, select, t, tensordot, tile,
                              unique)
# more everyday torch functions (ops/more_torch.py)
from .ops.more_torch import (bincount, bitwise_xor, diff, isin, logical_xor, median,  # noqa: E402
                             nan_to_num, repeat_interleave, tril_indices, triu_indices,
                             unbind)
from .ops.more_math import (addcdiv, addcmul, broadcast_tensors, cdist,  # noqa: E402
                            cosine_similarity, exp2, hypot, log10, logaddexp, logit, nanmean,
                            nansum, pairwise_distance, take_along_dim, tensor_split, xlogy)
from .ops.unary import acos, asin, atan, atan2, cosh, sinh, tan  # noqa: E402
from .ops.unary import acos as arccos, asin as arcsin, atan as arctan, atan2 as arctan2  # noqa: E402
from .ops.elementwise import (abs as absolute, div as true_divide, ge as greater_equal,  # noqa: E402
                              gt as greater, le as less_equal, lt as less, mul as multiply,
                              ne as not_equal, neg as negative)
from .ops.math_extra import div_mode as divide, sub_alpha as subtract  # noqa: E402
from .ops.shape import swapaxes as swapdims  # noqa: E402
from .ops.index import index_put  # noqa: E402
from .ops.more_math import addmm, baddbmm  # noqa: E402
from .ops.more_math import (bucketize, cummax, cummin, dist, fmax, fmin, frac,  # noqa: E402
                            kthvalue, quantile, searchsorted, unique_consecutive)
from .ops.combine import (atleast_1d, atleast_2d, atleast_3d, block_diag,  # noqa: E402
                          cartesian_prod, column_stack, dstack, fliplr, flipud, hstack, kron,
                          rot90, vstack)
from .ops.combine import vstack as row_stack  # noqa: E402
from .ops.reduce import std_mean, var_mean  # noqa: E402
from .amp import is_autocast_enabled  # noqa: E402

_float32_matmul_precision = "highest"


def set_float32_matmul_precision(precision):
    """torch.set_float32_matmul_precision: accepted for compatibility ("highest", "high" or
    "medium"); minigrad's float32 matmuls are always full float32 (NumPy/OpenBLAS and
    cuBLAS without TF32), so it changes no result. Raises ValueError for another value."""
    global _float32_matmul_precision
    if precision not in ("highest", "high", "medium"):
        raise ValueError(f"set_float32_matmul_precision: expected 'highest', 'high' or "
                         f"'medium', got {precision!r}")
    _float32_matmul_precision = precision


def get_float32_matmul_precision():
    """The value last given to set_float32_matmul_precision ("highest" by default)."""
    return _float32_matmul_precision


def get_default_device():
    """torch.get_default_device: where new tensors go; always the CPU in minigrad (pass
    device= or use .to() to place tensors on a GPU)."""
    return device("cpu")
from .ops.views_extra import movedim as moveaxis  # noqa: E402


def ravel(input):
    """torch.ravel: `input` flattened to 1-D (a view when the memory allows)."""
    return reshape(input, -1)

__version__ = "0.1.0"

# malloc keeps freed large arrays for reuse (backend.keep_freed_memory: a training step
# otherwise faults fresh pages in for most of its activations); MINIGRAD_KEEP_FREED_MEMORY=0
# leaves malloc as it is.
from .backend import apply_keep_freed_memory_env as _apply_env  # noqa: E402
_apply_env()


def grad(outputs, inputs, *args, **kwargs):
    """`minigrad.autograd.grad` (torch's: a tuple, one gradient per input), except that a
    single Tensor as `inputs` gives its gradient alone."""
    result = autograd.grad(outputs, inputs, *args, **kwargs)
    return result[0] if isinstance(inputs, Tensor) else result



def __getattr__(name):
    """`minigrad.nn` and `minigrad.models` on first use (PEP 562), as `torch.nn` is there after
    `import torch`; the core never imports them at import time (they sit above it)."""
    if name in ("nn", "models", "cuda", "backends"):
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

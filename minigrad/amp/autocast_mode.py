"""Autocast: run each op in the dtype that suits it, as torch.autocast.

    with minigrad.autocast("cuda"):                  # float16 on the GPU
        logits = model(src, tgt_in)                  # linear, attention: float16
        loss = minigrad.cross_entropy(logits, tgt)   # float32
    loss.backward()                                  # gradients in the parameters' float32

Ops fall in three groups (torch's CUDA autocast lists, for the ops minigrad has):

- *lower precision* (`LOWER_PRECISION_OPS`): matmul-class ops, where the time goes and
  float16/bfloat16 pays (tensor cores): `matmul` (and `@`), `linear`,
  `scaled_dot_product_attention`. Their floating inputs are cast to the autocast dtype.
  On NumPy these multiply in float32 and round the product once (ops/linalg.py says why).
- *float32* (`FLOAT32_OPS`): ops that sum many terms or take exp/log of them, where
  float16 loses too much: `softmax`, `log_softmax`, `layer_norm`, `cross_entropy`, `sum`
  and the losses of nn.functional (mse, l1, nll, kl_div, binary cross-entropy).
  float16/bfloat16 inputs are cast up to float32 and the output is float32.
- everything else runs in its inputs' dtype (an add of float16 and float32 is float32,
  by the usual promotion).

float64 tensors are never cast (as PyTorch). The casts are recorded (`cast` nodes), so
gradients flow back to the parameters in their own dtype: parameters stay float32 (the
"master weights"); the casts of a leaf parameter are cached for the outermost autocast
region, so a weight used twice is cast once (torch's `cache_enabled`). An op inside an
op runs without autocast (the reference of attention keeps its inputs' dtype).

Note: torch's *CPU* autocast leaves softmax and layer_norm in the low dtype; minigrad
applies the CUDA lists on every device (the CPU is where minigrad's mixed precision is
tested, the GPU where it pays). The state is thread-local, as in PyTorch: a thread
started inside `autocast` does not inherit it.
"""
import functools
import threading

import numpy as np

from .. import dtype as _dtypes
from ..errors import DTypeError, MinigradError
from ..tensor import Tensor

LOWER_PRECISION_OPS = ("matmul", "linear", "scaled_dot_product_attention")
FLOAT32_OPS = ("softmax", "log_softmax", "layer_norm", "cross_entropy", "sum", "mse_loss",
               "l1_loss", "nll_loss", "kl_div", "binary_cross_entropy", "binary_cross_entropy_with_logits")
DEVICE_TYPES = ("cpu", "cuda")


def _low_dtypes():
    """The dtypes autocast may lower to: float16, and bfloat16 where minigrad has it."""
    bf16 = getattr(_dtypes, "bfloat16", None)
    return (_dtypes.float16,) + ((bf16,) if bf16 is not None else ())


class _State(threading.local):
    def __init__(self):
        self.enabled = {d: False for d in DEVICE_TYPES}
        self.dtype = {"cpu": None, "cuda": _dtypes.float16}   # cpu: bfloat16, resolved late
        self.depth = 0               # nesting of autocast regions (the cache lives in the outermost)
        self.cache_enabled = True
        self.cache = {}              # id(parameter) -> (parameter, its cast); cleared on exit
        self.suspended = 0           # > 0 inside an autocast op: inner ops run as called


_state = _State()


def _device_type(device_type):
    if not isinstance(device_type, str) or device_type.split(":")[0] not in DEVICE_TYPES:
        raise MinigradError(f"autocast: device_type must be 'cpu' or 'cuda', got {device_type!r}")
    return device_type.split(":")[0]


def _default_dtype(device_type):
    """torch's defaults: float16 on cuda, bfloat16 on cpu."""
    if device_type == "cuda":
        return _dtypes.float16
    bf16 = getattr(_dtypes, "bfloat16", None)
    if bf16 is None:
        raise DTypeError("autocast('cpu'): the default dtype is bfloat16 (as PyTorch), which this "
                         "minigrad does not have; pass dtype=minigrad.float16")
    return bf16


def is_autocast_enabled(device_type="cuda"):
    """Whether autocast is on for `device_type` ('cpu' or 'cuda') in this thread."""
    return _state.enabled[_device_type(device_type)]


def get_autocast_dtype(device_type="cuda"):
    """The dtype lower-precision ops run in under autocast on `device_type`."""
    device_type = _device_type(device_type)
    return _state.dtype[device_type] or _default_dtype(device_type)


class autocast:
    """Run the ops of a region in mixed precision; as torch.autocast.

    device_type: 'cpu' or 'cuda' (only tensors on that kind of device are cast).
    dtype: float16 or bfloat16 (where minigrad has it); default float16 on cuda and
        bfloat16 on cpu, as PyTorch.
    enabled: False makes a region without autocast (also inside an enabled one).
    cache_enabled: cache the low-precision casts of leaf parameters in the region.
    Use as a context manager or a decorator; regions nest (the inner one wins and the
    outer state comes back on exit). Raises DTypeError for another dtype, MinigradError
    for an unknown device type. See the module docstring for which op runs in which dtype.
    """

    def __init__(self, device_type, dtype=None, enabled=True, cache_enabled=True):
        self.device_type = _device_type(device_type)
        if dtype is not None:
            dtype = _dtypes.as_dtype(dtype)
            if dtype not in _low_dtypes():
                raise DTypeError(f"autocast: dtype must be one of "
                                 f"{', '.join(map(str, _low_dtypes()))}, got {dtype}")
        elif enabled:
            dtype = _default_dtype(self.device_type)
        self.fast_dtype = dtype
        self.enabled = bool(enabled)
        self.cache_enabled = bool(cache_enabled)
        self._saved = []

    def __enter__(self):
        s, d = _state, self.device_type
        self._saved.append((s.enabled[d], s.dtype[d], s.cache_enabled))
        s.enabled[d] = self.enabled
        if self.fast_dtype is not None:
            s.dtype[d] = self.fast_dtype
        s.cache_enabled = self.cache_enabled
        s.depth += 1
        return self

    def __exit__(self, *exc):
        s, d = _state, self.device_type
        s.enabled[d], s.dtype[d], s.cache_enabled = self._saved.pop()
        s.depth -= 1
        if s.depth == 0:
            s.cache.clear()          # the next step's weights are new values: cast afresh
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            with autocast(self.device_type, self.fast_dtype, self.enabled, self.cache_enabled):
                return fn(*args, **kwargs)
        return run


def _cast(t, dtype):
    """t in `dtype` if autocast may cast it (a floating tensor, not float64)."""
    if not isinstance(t, Tensor) or t.dtype == dtype or t.dtype == np.float64 \
            or not (t.dtype.kind == "f" or t.dtype in _low_dtypes()):   # (bfloat16's kind is V)
        return t
    s = _state
    cacheable = s.cache_enabled and t.requires_grad and t.is_leaf and dtype != _dtypes.float32
    if cacheable:
        hit = s.cache.get(id(t))
        if hit is not None and hit[0] is t and hit[1].dtype == dtype:
            return hit[1]
    out = t.astype(dtype)
    if cacheable:
        s.cache[id(t)] = (t, out)
    return out


def autocast_op(policy):
    """Decorate an op's public function with its autocast policy: 'lower_precision'
    (floating inputs to the autocast dtype) or 'float32' (float16/bfloat16 inputs to
    float32). Without autocast the call goes straight through."""
    if policy not in ("lower_precision", "float32"):
        raise MinigradError(f"autocast_op: unknown policy {policy!r}")

    def wrap(fn):
        @functools.wraps(fn)
        def op(*args, **kwargs):
            s = _state
            if s.suspended or not (s.enabled["cpu"] or s.enabled["cuda"]):
                return fn(*args, **kwargs)
            first = next((a for a in args if isinstance(a, Tensor)), None)
            if first is None or not s.enabled[first.device.split(":")[0]]:
                return fn(*args, **kwargs)
            if policy == "float32":
                low = _low_dtypes()

                def cast(a):
                    return a.astype(_dtypes.float32) if isinstance(a, Tensor) and a.dtype in low \
                        else a
            else:
                target = get_autocast_dtype(first.device.split(":")[0])

                def cast(a):
                    return _cast(a, target)
            new = [cast(a) for a in args]
            kwargs = {k: v if k == "packed" else cast(v) for k, v in kwargs.items()}
            if "packed" in kwargs and any(a is not b for a, b in zip(new, args)):
                kwargs.pop("packed")     # the cast copies are no longer views of it
            s.suspended += 1
            try:
                return fn(*new, **kwargs)
            finally:
                s.suspended -= 1
        return op
    return wrap

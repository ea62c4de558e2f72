"""One place decides whether an op runs its fused kernel or its reference.

Every fused op has two versions with the same signature and the same numbers:

- the *reference*, `<op>_reference`, built from primitive ops: the formula as a
  textbook writes it, recorded step by step (what the graph pictures show, and what
  `create_graph=True` can differentiate again);
- the *fused kernel*, a `Function` next to it, marked
  `# fused kernel: equal to <op>_reference in value and gradient`: one op that
  computes forward and backward directly on arrays (faster, less memory,
  once-differentiable).

The public function (`softmax`, `layer_norm`, ...) validates its arguments, then asks
`why_not_fused(op, ...)`: None runs the kernel, a reason runs the reference. Ask it
yourself to see which path a call would take (as PyTorch's `why_not_fast_path`):

    >>> minigrad.ops.dispatch.why_not_fused("softmax", x)
    >>> with minigrad.use_fused(False):
    ...     minigrad.ops.dispatch.why_not_fused("softmax", x)
    'minigrad.use_fused(False) is in effect'

Attention has two fused kernels: the dense one (ops/attention.py, keeps the (T, S)
weights) and the tiled, memory-efficient one (ops/flash_attention.py, keeps none);
`why_not_flash` says when a fused attention call takes the dense one.
"""
import functools

import numpy as np

from ..autograd import fused_enabled, is_grad_enabled
from ..errors import MinigradError
from ..tensor import Tensor
from .flash_attention import FLASH_MIN_SCORES, FlashAttention

# public name -> the op name its fused kernel records (what graph pictures and
# profiles show); graph/style.py and graph/roles.py read the names from here
FUSED_OPS = {
    "softmax": "softmax",
    "log_softmax": "log_softmax",
    "layer_norm": "layer_norm",
    "cross_entropy": "cross_entropy",
    "scaled_dot_product_attention": "attention",
    "gelu": "gelu",
    "linear": "linear",
}
# ... and attention's second kernel, the tiled one
FUSED_OP_NAMES = frozenset(FUSED_OPS.values()) | {FlashAttention.name}

_ALIASES = {"attention": "scaled_dot_product_attention"}
REFERENCES = {}          # public name -> its reference function, filled by @reference


def reference(op):
    """Mark a function as the reference of fused op `op` (and register it in REFERENCES).

    The reference runs with NumPy's floating point warnings off, as the kernels do:
    inf - inf or log 0 on an edge case (a row of -inf) give NaN or -inf quietly, as in
    PyTorch, and both paths give the same values.
    """
    def mark(fn):
        @functools.wraps(fn)
        def quiet(*args, **kwargs):
            with np.errstate(all="ignore"):
                return fn(*args, **kwargs)
        REFERENCES[op] = quiet
        return quiet
    return mark


def why_not_fused(op, *tensors, attn_mask=None):
    """Why `op` would run its reference instead of its fused kernel; None if it would not.

    op:      a key of FUSED_OPS ('softmax', 'scaled_dot_product_attention' or
             'attention', 'linear', ...).
    tensors: the op's tensor inputs, so a call reads as the op's own (no reason reads
             them today: every kernel takes every float dtype and device).
    attn_mask: attention only: the mask, a Tensor or array (a float mask that requires
             grad needs the reference: the kernel treats masks as constants).
    Raises MinigradError for an unknown op name.

    Double backward: a kernel cannot know at forward time that its gradient will be
    differentiated again. The softmax and linear kernels are twice differentiable; for
    the others run under `use_fused(False)` (their once-differentiable error says so).
    """
    op = _ALIASES.get(op, op)
    if op not in FUSED_OPS:
        raise MinigradError(f"why_not_fused: unknown op {op!r}; fused ops are "
                            f"{', '.join(sorted(FUSED_OPS))}")
    if not fused_enabled():
        return "minigrad.use_fused(False) is in effect"
    if op == "scaled_dot_product_attention" and isinstance(attn_mask, Tensor) \
            and attn_mask.requires_grad and is_grad_enabled():
        return "attn_mask requires grad: the fused kernel treats the mask as a constant"
    return None


def why_not_flash(query, key, need_weights=False):
    """Why a fused attention call would take the dense kernel instead of the tiled one
    (ops/flash_attention.py); None if it would take the tiled one. Ask why_not_fused first.

    query (..., T, d_k), key (..., S, d_k): Tensors. need_weights: whether the caller
    wants the (T, S) weights, which only the dense kernel holds. The tiled kernel is
    chosen from T * S >= FLASH_MIN_SCORES on (long sequences, where it pays in memory
    and time; its comment gives the measurement).
    """
    if need_weights:
        return "the attention weights are asked for: the tiled kernel never holds them"
    t, s = query.shape[-2], key.shape[-2]
    if t * s < FLASH_MIN_SCORES:
        return (f"T * S = {t} * {s} is below FLASH_MIN_SCORES = {FLASH_MIN_SCORES}: "
                "the dense kernel is as fast there")
    return None

"""Scaled dot-product attention (Vaswani et al., 2017, section 3.2.1):

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k) + mask) V

with torch.nn.functional.scaled_dot_product_attention's arguments and semantics:
a bool `attn_mask`'s True means "may attend" (False entries get -inf before the
softmax), a float mask is added to the scores, `is_causal` lets query i see keys
0..i. A query that may attend to no key gets zero weights and a zero output (as
PyTorch 2.5 and later), never NaN.

`scaled_dot_product_attention_reference` is the formula in a few recorded ops;
the fused kernel beside it computes the same in one op that keeps only the
weights for the backward. `scaled_dot_product_attention` returns the output;
`scaled_dot_product_attention_with_weights` also returns the weights (what
`nn.MultiheadAttention(need_weights=True)` shows).
"""
import math

import numpy as np

from .. import parallel
from ..amp.autocast_mode import autocast_op
from ..autograd import Function, is_grad_enabled
from ..backend import data_address, xp_of
from ..dtype import is_half, kind_of
from ..errors import DeviceError, DTypeError, ShapeError
from ..tensor import Tensor, constant
from .dispatch import reference, why_not_flash, why_not_fused
from .dropout import Dropout, dropout, dropout_mask
from .elementwise import Add, Div, MaskedFill, Mul, masked_fill
from .flash_attention import flash_attention
from .linalg import MatMul
from .softmax import Softmax, softmax_

# What each step of the reference records, as (role, op names): graph/roles.py names the
# boxes of an attention picture from this table, in this order; steps whose role is in
# OPTIONAL_STEPS may be absent (no mask, no dropout) and "mask" may be two ops.
ATTENTION_STEPS = (
    ("scores Q·Kᵀ", (MatMul.name,)),
    ("scale by 1/√d_k", (Mul.name, Div.name)),
    ("mask", (MaskedFill.name, Add.name)),
    ("softmax", (Softmax.name,)),
    ("attention dropout", (Dropout.name,)),
    ("weighted sum of V", (MatMul.name,)),
)
OPTIONAL_STEPS = ("scale by 1/√d_k", "mask", "attention dropout")


@reference("scaled_dot_product_attention")
def scaled_dot_product_attention_reference(query, key, value, attn_mask=None, dropout_p=0.0,
                                           is_causal=False, scale=None):
    """The formula in this module's doc, step by step; returns (output, weights), as
    scaled_dot_product_attention_with_weights (scaled_dot_product_attention is its [0]).

    Arguments and shapes as scaled_dot_product_attention (already validated).
    """
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = (query @ key.swapaxes(-2, -1)) * scale         # (..., T, S): query-key match
    blocked, added = _split_mask(attn_mask, is_causal, query, key)
    if added is not None:                                   # a float mask: added
        scores = scores + added
    if blocked is not None:                                 # may not attend: weight 0
        scores = masked_fill(scores, blocked, -math.inf)
    # one recorded op, so the picture shows one softmax step (its own reference is
    # softmax_reference); a row of only -inf gives zeros
    weights = Softmax.apply(scores, axis=scores.ndim - 1)   # (..., T, S), rows sum to 1
    weights = dropout(weights, dropout_p, training=dropout_p > 0)
    return weights @ value, weights                         # (..., T, d_v)


class ScaledDotProductAttention(Function):
    # fused kernel: equal to scaled_dot_product_attention_reference in value and gradient
    """softmax(Q K^T * scale + mask) V in one op, over (..., T, d_k) queries.

    `layout` says how the inputs arrive: "q,k,v" as three tensors; "qkv" as one
    (3, ..., T, d_k) tensor (self-attention: the three projections of one input);
    "q,kv" as the queries and one (2, ..., S, d_k) tensor of keys and values
    (cross-attention). Packed inputs get one packed gradient, written in place by
    the backward's matmuls, instead of three gradients scattered into zeros.
    The backward uses dS = Pd * dPd - P * rowsum(Pd * dPd) (P the softmax, Pd after
    dropout), which needs no separate dropout mask. P and Pd are held key-major (see
    attend_arrays): `p_t` and `pd_t` are (..., S, T) arrays.
    """
    name = "attention"
    once_differentiable = True
    layout: str                      # "q,k,v", "qkv" or "q,kv"
    scale: float
    blocked: object                  # bool array broadcasting to the scores (True: -inf), or None
    additive: object                 # float array added to the scores, or None
    drop_mask: object                # {0, 1/keep} array of the scores' shape, or None

    def _qkv(self, arrays):
        return _unpacked(self.layout, arrays)

    def _parts(self, q, k, v):
        """(threads, parts of the batch): the batch split along its first axis of more
        than one entry, when the work is large enough for threads (minigrad/parallel.py)
        and query, key and value share their batch shape; else one part, everything."""
        batch = q.shape[:-2]
        threads = parallel.threads_for(xp_of(q), math.prod(batch) * q.shape[-2] * k.shape[-2],
                                       PARALLEL_MIN_SCORES)
        if threads == 1 or not (batch == k.shape[:-2] == v.shape[:-2]) or \
                not any(n > 1 for n in batch):
            return 1, [None]
        axis = next(i for i, n in enumerate(batch) if n > 1)
        bounds = np.linspace(0, batch[axis], min(threads, batch[axis]) + 1).astype(int)
        return threads, [(axis, slice(a, b)) for a, b in zip(bounds[:-1], bounds[1:])]

    def forward(self, *arrays):
        q, k, v = self._qkv(arrays)
        threads, parts = self._parts(q, k, v)
        if parts == [None]:
            self.out, p, pd = attend_arrays(q, k, v, self.scale, self.blocked, self.additive,
                                            self.drop_mask)
            self.p_t, self.pd_t = p.swapaxes(-1, -2), pd.swapaxes(-1, -2)
            return self.out
        # optimisation: the batch's parts on threads, each writing its slice of the results
        xp, batch, t, s = xp_of(q), q.shape[:-2], q.shape[-2], k.shape[-2]
        self.out = _output_like(q, v)
        self.p_t = _key_major(xp, batch + (s, t), q.dtype)
        self.pd_t = self.p_t if self.drop_mask is None else _key_major(xp, batch + (s, t), q.dtype)

        def work(mine, _worker):
            for part in mine:
                cut = _cutter(len(batch), part)
                attend_arrays(cut(q), cut(k), cut(v), self.scale, cut(self.blocked),
                              cut(self.additive), cut(self.drop_mask),
                              into=(cut(self.out), cut(self.p_t), cut(self.pd_t)))

        parallel.run(parts, work, threads)
        return self.out

    def backward(self, grad):
        q, k, v = self._qkv([t.array for t in self.inputs])
        threads, parts = self._parts(q, k, v)
        if parts != [None]:
            return self._backward_in_parts(q, k, v, grad.array, threads, parts)
        xp = xp_of(q)
        g, pd = grad.array, self.pd_t.swapaxes(-1, -2)
        ds = _scores_grad(g, v, self.p_t, self.pd_t, q.dtype.type(self.scale))
        if self.layout == "q,k,v":
            need = self.needs_input_grad
            dq = xp.matmul(ds, k, out=_like(q, ds.shape[:-1] + k.shape[-1:])) if need[0] else None
            dk = xp.matmul(ds.swapaxes(-1, -2), q, out=_like(k, ds.shape[:-2] + k.shape[-2:])) \
                if need[1] else None
            dv = xp.matmul(pd.swapaxes(-1, -2), g, out=_like(v, pd.shape[:-2] + v.shape[-2:])) \
                if need[2] else None
            return tuple(None if d is None else constant(d) for d in (dq, dk, dv))
        if self.layout == "qkv":
            packed = _like(self.inputs[0].array)
            xp.matmul(ds, k, out=packed[0])
            xp.matmul(ds.swapaxes(-1, -2), q, out=packed[1])
            xp.matmul(pd.swapaxes(-1, -2), g, out=packed[2])
            return constant(packed)
        dq = constant(xp.matmul(ds, k, out=_like(q))) if self.needs_input_grad[0] else None
        dkv = None
        if self.needs_input_grad[1]:
            packed = _like(self.inputs[1].array)
            xp.matmul(ds.swapaxes(-1, -2), q, out=packed[0])
            xp.matmul(pd.swapaxes(-1, -2), g, out=packed[1])
            dkv = constant(packed)
        return dq, dkv

    def _backward_in_parts(self, q, k, v, g, threads, parts):
        """backward with the batch's parts on threads (q, k, v share the batch shape)."""
        xp, need = xp_of(q), self.needs_input_grad
        dtype = q.dtype
        if self.layout == "qkv":
            packed = _like(self.inputs[0].array)
            grads = (packed[0], packed[1], packed[2])
        elif self.layout == "q,kv":
            packed = _like(self.inputs[1].array) if need[1] else None
            grads = (_like(q) if need[0] else None,) + \
                ((packed[0], packed[1]) if need[1] else (None, None))
        else:               # (threads only run when q, k and v share their batch shape)
            grads = tuple(_like(a) if want else None for a, want in zip((q, k, v), need))
        n = len(q.shape) - 2

        def work(mine, _worker):
            for part in mine:
                cut = _cutter(n, part)
                pd_t = cut(self.pd_t)
                pd = pd_t.swapaxes(-1, -2)
                ds = _scores_grad(cut(g), cut(v), cut(self.p_t), pd_t, dtype.type(self.scale))
                dq, dk, dv = (cut(d) if d is not None else None for d in grads)
                if dq is not None:
                    xp.matmul(ds, cut(k), out=dq)
                if dk is not None:
                    xp.matmul(ds.swapaxes(-1, -2), cut(q), out=dk)
                if dv is not None:
                    xp.matmul(pd.swapaxes(-1, -2), cut(g), out=dv)

        parallel.run(parts, work, threads)
        if self.layout == "qkv":
            return constant(packed)
        if self.layout == "q,kv":
            return (None if grads[0] is None else constant(grads[0]),
                    None if packed is None else constant(packed))
        return tuple(None if d is None else constant(d) for d in grads)


class AttentionWeights(Function):
    # fused kernel: equal to scaled_dot_product_attention_reference's weights in value and
    # gradient
    """The fused kernel's weights (Pd, after dropout) as a differentiable result: an op over
    the kernel's own inputs that hands out the weights the kernel's forward computed, and
    whose backward takes their gradient dW back through the softmax and the scaled scores
    to the queries and keys (the values get none from it): dS = Pd * dW - P * rowsum(Pd * dW).
    Gradients reaching the output (through the kernel) and the weights (through this op)
    add up in the inputs, so a loss on the weights (alignment, entropy) trains them."""
    name = "attention_weights"
    once_differentiable = True
    layout: str                      # as ScaledDotProductAttention's
    scale: float
    p_t: object                      # the kernel's P and Pd, key-major (..., S, T)
    pd_t: object

    def forward(self, *arrays):
        return self.pd_t.swapaxes(-1, -2)

    def backward(self, grad):
        q, k, _ = _unpacked(self.layout, [t.array for t in self.inputs])
        xp = xp_of(q)
        dpd_t = _key_major(xp, self.pd_t.shape, q.dtype)
        dpd_t[...] = grad.array.swapaxes(-1, -2)
        ds = _through_softmax(dpd_t, self.p_t, self.pd_t, q.dtype.type(self.scale))
        dq = xp.matmul(ds, k)
        dk = xp.matmul(ds.swapaxes(-1, -2), q)
        if self.layout == "q,k,v":
            need = self.needs_input_grad
            return (constant(dq) if need[0] else None, constant(dk) if need[1] else None, None)
        packed = xp.zeros_like(self.inputs[-1].array)
        if self.layout == "qkv":
            packed[0], packed[1] = dq, dk
            return constant(packed)
        packed[0] = dk
        return constant(dq), constant(packed)


def _unpacked(layout, arrays):
    """(q, k, v) from the fused kernel's inputs in `layout` ("q,k,v", "qkv" or "q,kv")."""
    if layout == "qkv":
        return arrays[0][0], arrays[0][1], arrays[0][2]
    if layout == "q,kv":
        return arrays[0], arrays[1][0], arrays[1][1]
    return arrays


# From this many scores per call (batch x T x S) on, the dense kernel splits its batch
# over the CPU threads (minigrad/parallel.py). Forward + backward, self-attention, 2-core
# machine, ms one thread / two: (16, 4 heads, 32, 32) 65K scores 1.04 / 1.30; (32, 4, 32,
# 32) 131K 1.84 / 1.99; (16, 8, 64, 64) 524K 8.3 / 5.0; (64, 8, 64, 64) 2M 35 / 21.
PARALLEL_MIN_SCORES = 1 << 18


def _cutter(batch_ndim, part):
    """A function giving an array's share of batch part (axis, slice): arrays whose own
    leading axes (right-aligned to the batch's) have that axis with more than one entry
    are sliced, others (broadcast, or None) pass whole."""
    if part is None:
        return lambda a: a
    axis, rows = part

    def cut(a):
        if a is None:
            return None
        i = axis - (batch_ndim - (a.ndim - 2))
        if i < 0 or a.shape[i] == 1:
            return a
        return a[(slice(None),) * i + (rows,)]
    return cut


def _like(a, shape=None):
    """An empty array of a's dtype and shape (or `shape`, when it differs: a broadcast
    input), laid out in memory as `a` is (order "K").

    Why: the heads of Q, K and V are strided views of their projection, (B, T, h, d_k)
    read as (B, h, T, d_k). An output or gradient written in that same layout turns back
    into the projection's (B, T, E) rows as a free view when the heads are merged (or
    the gradient reaches the projection); a contiguous (B, h, T, d_k) array needs a
    transposing copy there. BLAS writes such strided matrices at full speed."""
    xp = xp_of(a)
    if xp is not np:                # CuPy's matmul writes contiguous outputs best
        return xp.empty(a.shape if shape is None else shape, dtype=a.dtype)
    if shape is None or tuple(shape) == a.shape:
        return np.empty_like(a, order="K")
    return np.empty(shape, dtype=a.dtype)


def _key_major(xp, shape, dtype):
    """An empty (..., S, T) array of scores for `shape`, held key-major on the CPU: a
    (S, ..., T) NumPy array seen through np.moveaxis, so that sums and maxima over the keys
    (axis -2) run over its first axis, for all rows at once (attend_arrays). With fewer
    than KEY_MAJOR_MIN_QUERIES queries (decoding: one) the rows are too short for that to
    pay, and BLAS would write columns: a (..., T, S) array seen transposed, as before. On a
    GPU a plain array (its reductions do not care, and its matmul writes contiguous
    outputs)."""
    if xp is not np:
        return xp.empty(shape, dtype=dtype)
    if shape[-1] < KEY_MAJOR_MIN_QUERIES:
        return np.empty(shape[:-2] + (shape[-1], shape[-2]), dtype=dtype).swapaxes(-1, -2)
    return np.moveaxis(np.empty(shape[-2:-1] + shape[:-2] + shape[-1:], dtype=dtype), 0, -2)


# Queries (T) from which the scores are held key-major (_key_major). Forward (attend_arrays)
# of (B, h, T, d_k) queries, us, query-major / key-major, 2-core machine: (32, 4, T, 32)
# against 32 keys: T=1 60 / 61, T=2 78 / 67, T=32 694 / 420; (128, 8, 1, 64) against 64
# keys: 1680 / 3097 (one query: BLAS writes a column).
KEY_MAJOR_MIN_QUERIES = 2


def _output_like(q, v):
    """The (..., T, d_v) output array, in q's memory layout when it has q's shape."""
    shape = np.broadcast_shapes(q.shape[:-2], v.shape[:-2]) + (q.shape[-2], v.shape[-1])
    return _like(q, shape)


def _scores_grad(g, v, p_t, pd_t, scale):
    """dS = (Pd * dPd - P * rowsum(Pd * dPd)) * scale, dPd = dO V^T: the scores' gradient,
    from and as key-major arrays (attend_arrays): returns dS as a (..., T, S) view of its
    (..., S, T) array; p_t and pd_t are P and Pd key-major. The "row" sums over the keys
    are sums over axis -2 here."""
    shape = np.broadcast_shapes(v.shape[:-2], g.shape[:-2]) + (v.shape[-2], g.shape[-2])
    ds_t = xp_of(g).matmul(v, g.swapaxes(-1, -2), out=_key_major(xp_of(g), shape, g.dtype))
    return _through_softmax(ds_t, p_t, pd_t, scale)


def _through_softmax(ds_t, p_t, pd_t, scale):
    """dS from dPd, the weights' gradient, key-major (..., S, T) and overwritten:
    (Pd * dPd - P * rowsum(Pd * dPd)) * scale, returned as a (..., T, S) view."""
    ds_t *= pd_t
    rowsum = ds_t.sum(axis=-2, keepdims=True)
    ds_t -= p_t * rowsum
    ds_t *= scale
    return ds_t.swapaxes(-1, -2)


def attend_arrays(q, k, v, scale, blocked=None, additive=None, drop_mask=None, into=None):
    """The kernel's forward on arrays: (output, P the softmax, Pd the weights after dropout),
    P and Pd of shape (..., T, S).

    Optimisation: the scores are computed key-major, S^T = K Q^T, into a (S, ..., T) array
    (see _key_major), and P and Pd are (..., T, S) views of such arrays. The softmax's
    reductions over the keys then run over the array's first axis, which NumPy does for
    all rows at once (softmax of (32, 4, 32, 32) scores: 132 us against 455 us along the
    last axis); BLAS reads and writes the strided views at full speed, without copies.
    Masks and dropout masks keep their (..., T, S) shape (read through transposed views).
    into: (output, P^T, Pd^T) arrays to write into, the last two (..., S, T) (Pd^T may be
    P^T itself without dropout); returns them."""
    xp = xp_of(q)
    qs = q * q.dtype.type(scale)                            # scale folded into q: T*d, not T*S
    shape = np.broadcast_shapes(q.shape[:-2], k.shape[:-2]) + (k.shape[-2], q.shape[-2])
    s_t = xp.matmul(k, qs.swapaxes(-1, -2),                 # (..., S, T)
                    out=_key_major(xp, shape, q.dtype) if into is None else into[1])
    if additive is not None:
        s_t += additive.swapaxes(-1, -2)
    if blocked is not None:
        xp.copyto(s_t, s_t.dtype.type(-np.inf), where=blocked.swapaxes(-1, -2))
    p_t = softmax_(s_t, -2)         # in place; rows with every key blocked end as zeros
    if drop_mask is None:
        pd_t = p_t
    else:
        pd_t = xp.multiply(p_t, drop_mask.swapaxes(-1, -2),
                           out=_key_major(xp, shape, q.dtype) if into is None else into[2])
    if into is None:
        out = xp.matmul(pd_t.swapaxes(-1, -2), v, out=_output_like(q, v))
        return out, p_t.swapaxes(-1, -2), pd_t.swapaxes(-1, -2)
    xp.matmul(pd_t.swapaxes(-1, -2), v, out=into[0])
    return into


# ------------------------------------------------------------------ the public functions
def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """Attention of (..., T, d_k) queries over (..., S, d_k) keys and (..., S, d_v) values;
    returns the (..., T, d_v) output. Leading axes broadcast.

    attn_mask: None, bool (True = may attend) or float (added to the scores), broadcasting
        to (..., T, S); as torch.nn.functional.scaled_dot_product_attention.
    dropout_p: dropout on the attention weights (give 0.0 in evaluation).
    is_causal: query i attends to keys 0..i only (combined with attn_mask if both given).
    scale:     the factor on Q K^T; default 1 / sqrt(d_k).
    enable_gqa: grouped-query attention: key and value of (..., Hkv, S, d) serve a query
        of (..., Hq, T, d) when Hkv divides Hq, each key head shared by Hq / Hkv
        consecutive query heads (torch's repeat_interleave rule).
    Raises ShapeError (shapes that do not fit), DTypeError (mixed or non-float inputs, a
    mask neither bool nor float). For the weights, see
    scaled_dot_product_attention_with_weights. Long sequences run the tiled kernel of
    ops/flash_attention.py (memory linear in T and S; dispatch.why_not_flash says when).
    """
    if enable_gqa:
        key, value = _grouped(query, key, value)
    return scaled_dot_product_attention_with_weights(query, key, value, attn_mask, dropout_p,
                                                     is_causal, scale, need_weights=False)[0]


def _grouped(query, key, value):
    """key and value with each head repeated for its group of query heads (enable_gqa)."""
    if query.ndim < 3 or key.ndim < 3 or value.ndim < 3:
        raise ShapeError(f"scaled_dot_product_attention: enable_gqa needs (..., heads, T, d) "
                         f"inputs, got {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
    hq, hk, hv = query.shape[-3], key.shape[-3], value.shape[-3]
    if hk != hv or hq % hk:
        raise ShapeError(f"scaled_dot_product_attention: enable_gqa needs key and value with "
                         f"the same number of heads dividing the query's, got {hq} query, "
                         f"{hk} key and {hv} value heads")
    if hq == hk:
        return key, value
    return key.repeat_interleave(hq // hk, dim=-3), value.repeat_interleave(hq // hk, dim=-3)


@autocast_op("lower_precision")
def scaled_dot_product_attention_with_weights(query, key, value, attn_mask=None, dropout_p=0.0,
                                              is_causal=False, scale=None, *, packed=None,
                                              need_weights=True):
    """scaled_dot_product_attention, returning (output, weights): weights (..., T, S) are
    the attention probabilities after dropout (zero rows where no key may be attended).
    The weights are on the graph either way (the fused kernel's through AttentionWeights):
    a loss on them trains the queries and keys.

    packed (an optimisation, same results): the tensor that query, key and value are
    views of, as packed[0], packed[1], packed[2] of one (3, ..., T, d_k) tensor
    (self-attention), or key and value as packed[0], packed[1] of one (2, ..., S, d_k)
    tensor. The fused backward then writes one gradient for the packed tensor instead
    of three scattered into zeros. Raises ShapeError if the views do not match it.

    need_weights=False: the weights come back as None, which lets long sequences run
    the tiled kernel (ops/flash_attention.py), which never holds them.
    """
    op = "scaled_dot_product_attention"
    q, k, v = query, key, value
    if attn_mask is not None and not isinstance(attn_mask, Tensor):
        attn_mask = constant(q.xp.asarray(attn_mask))
    _check_qkv(q, k, v, op)
    score_shape = np.broadcast_shapes(q.shape[:-2], k.shape[:-2]) + (q.shape[-2], k.shape[-2])
    _check_mask(attn_mask, score_shape, op)
    if is_half(q.dtype) and q.xp is np:
        # NumPy has no half GEMM (float16 loops slowly, bfloat16 @ gives float32) and sums
        # bfloat16 in bfloat16: attend in float32 and round once, as a GPU kernel accumulates
        def up(t):
            return t if t is None or not is_half(t.dtype) else t.astype(np.float32)
        out, weights = scaled_dot_product_attention_with_weights(
            up(q), up(k), up(v), up(attn_mask), dropout_p, is_causal, scale,
            need_weights=need_weights)
        return out.astype(q.dtype), (None if weights is None else weights.astype(q.dtype))
    if why_not_fused(op, q, k, v, attn_mask=attn_mask) is not None:
        out, weights = scaled_dot_product_attention_reference(q, k, v, attn_mask, dropout_p,
                                                              is_causal, scale)
        return out, (weights if need_weights else None)
    if why_not_flash(q, k, need_weights) is None:
        return flash_attention(q, k, v, attn_mask, dropout_p, is_causal, scale), None
    layout, inputs = _layout(q, k, v, packed)
    blocked, added = _split_mask(attn_mask, is_causal, q, k)
    settings = dict(
        scale=1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale),
        blocked=None if blocked is None else blocked.array,
        additive=None if added is None else added.array,
        drop_mask=dropout_mask(score_shape, dropout_p, q.dtype, q.device) if dropout_p > 0 else None)
    if not (is_grad_enabled() and any(t.requires_grad for t in inputs)):
        # nothing to record: the kernel's forward alone, which also gives the weights
        out, _, weights = attend_arrays(q.array, k.array, v.array, **settings)
        return constant(out), constant(weights)
    out = ScaledDotProductAttention.apply(*inputs, layout=layout, **settings)
    if not need_weights:
        return out, None
    weights = AttentionWeights.apply(*inputs, layout=layout, scale=settings["scale"],
                                     p_t=out.grad_fn.p_t, pd_t=out.grad_fn.pd_t)
    return out, weights


# ------------------------------------------------------------------ checks and masks
def _check_qkv(q, k, v, op):
    q_shape, k_shape, v_shape = q.shape, k.shape, v.shape
    dtypes, devices = (q.dtype, k.dtype, v.dtype), (q.device, k.device, v.device)
    if len(q_shape) < 2 or len(k_shape) < 2 or len(v_shape) < 2:
        raise ShapeError(f"{op}: query, key and value need at least 2 dims, "
                         f"got {tuple(q_shape)}, {tuple(k_shape)}, {tuple(v_shape)}")
    if q_shape[-1] != k_shape[-1] or k_shape[-2] != v_shape[-2]:
        raise ShapeError(f"{op}: query {tuple(q_shape)}, key {tuple(k_shape)} "
                         f"and value {tuple(v_shape)} do not fit: need query[-1] == key[-1] and "
                         "key[-2] == value[-2]")
    if len(set(devices)) != 1:
        raise DeviceError(f"{op}: query, key and value on different devices: "
                          f"{', '.join(devices)}")
    if len(set(dtypes)) != 1 or kind_of(dtypes[0]) != "f":
        raise DTypeError(f"{op}: query, key and value must share one float "
                         f"dtype, got {', '.join(str(d) for d in dtypes)}")


def _check_mask(attn_mask, score_shape, op):
    if attn_mask is None:
        return
    shape, dtype = tuple(attn_mask.shape), np.dtype(attn_mask.dtype)
    try:
        fits = np.broadcast_shapes(shape, score_shape) == tuple(score_shape)
    except ValueError:
        fits = False
    if not fits:
        raise ShapeError(f"{op}: attn_mask of shape {shape} does not broadcast to the scores' "
                         f"shape {tuple(score_shape)} (batch..., T, S)")
    if dtype != np.bool_ and kind_of(dtype) != "f":
        raise DTypeError(f"{op}: attn_mask must be bool (True = may attend) or float (added to "
                         f"the scores), got dtype {dtype}")


def _split_mask(attn_mask, is_causal, query, key):
    """The mask as (blocked, added): a constant bool Tensor, True where a query may not
    attend (attn_mask's False entries, and the future when causal), and the float mask
    as a Tensor in the query's dtype (it keeps its gradient, if it has one). Either is None."""
    xp = query.xp
    blocked = added = None
    if attn_mask is not None and not isinstance(attn_mask, Tensor):
        attn_mask = constant(xp.asarray(attn_mask))
    if attn_mask is not None and attn_mask.dtype == np.bool_:
        blocked = ~attn_mask.array
    elif attn_mask is not None:
        added = attn_mask if attn_mask.dtype == query.dtype else attn_mask.astype(query.dtype)
    if is_causal:                  # query i sees keys 0..i
        t, s = query.shape[-2], key.shape[-2]
        future = xp.triu(xp.ones((t, s), dtype=bool), k=1)
        blocked = future if blocked is None else (blocked | future)
    return (None if blocked is None else constant(blocked)), added


def _layout(q, k, v, packed):
    """The fused kernel's inputs: (q, k, v), or the packed tensor they are views of."""
    if packed is None:
        return "q,k,v", (q, k, v)
    parts = (q, k, v) if packed.shape[0] == 3 else (k, v)
    if packed.ndim < 3 or packed.shape[0] not in (2, 3) or \
            not all(_is_view(p, packed, i) for i, p in enumerate(parts)):
        raise ShapeError(f"scaled_dot_product_attention: packed of shape {tuple(packed.shape)} "
                         "must hold query, key and value as packed[0], packed[1], packed[2] "
                         "(3, ..., T, d_k), or key and value as packed[0], packed[1] (2, ..., S, d_k)")
    return ("qkv", (packed,)) if len(parts) == 3 else ("q,kv", (q, packed))


def _is_view(part, packed, i):
    """Whether `part` holds exactly packed[i] (same memory, shape and strides)."""
    a, b = part.array, packed.array[i]
    if a.shape != b.shape or a.strides != b.strides:
        return False
    return data_address(a) == data_address(b)

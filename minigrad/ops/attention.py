"""Scaled dot-product attention: softmax(Q K^T / sqrt(d_k) + mask) V.

The fused version keeps only the attention weights for backward and uses
dS = Pd * dPd - P * rowsum(Pd * dPd), which needs no separate dropout mask.
Under `minigrad.use_fused(False)` the same computation runs as a chain of
recorded ops (score matmul, scale, mask, softmax, dropout, weighted sum),
which is what the graph pictures show.
"""
import math

import numpy as np

from ..autograd import Function, fused_enabled
from ..backend import xp_of
from ..errors import DTypeError, ShapeError
from ..tensor import Tensor, constant
from .dropout import dropout, dropout_mask
from .elementwise import masked_fill
from .softmax import Softmax, softmax_


class ScaledDotProductAttention(Function):
    """softmax(Q K^T * scale + mask) V in one op, over (..., T, d_k) queries.

    `layout` says how the inputs arrive: "q,k,v" as three tensors; "qkv" as one
    (3, ..., T, d_k) tensor (self-attention: the three projections of one input);
    "q,kv" as the queries and one (2, ..., S, d_k) tensor of keys and values
    (cross-attention). Packed inputs get one packed gradient, written in place by
    the backward's matmuls, instead of three gradients scattered into zeros.
    """
    name = "attention"
    once_differentiable = True

    def _qkv(self, arrays):
        if self.layout == "qkv":
            return arrays[0][0], arrays[0][1], arrays[0][2]
        if self.layout == "q,kv":
            return arrays[0], arrays[1][0], arrays[1][1]
        return arrays

    def forward(self, *arrays):
        q, k, v = self._qkv(arrays)
        xp = xp_of(q)
        s = (q * q.dtype.type(self.scale)) @ k.swapaxes(-1, -2)
        if self.additive is not None:
            s += self.additive
        if self.blocked is not None:
            xp.copyto(s, s.dtype.type(-np.inf), where=self.blocked)
        self.p = s = softmax_(s, -1)    # in place; rows with every key blocked end as zeros
        self.pd = s * self.drop_mask if self.drop_mask is not None else s
        self.weights_out.append(self.pd)
        return self.pd @ v

    def backward(self, grad):
        q, k, v = self._qkv([t.data for t in self.inputs])
        xp = xp_of(q)
        g, p, pd = grad.data, self.p, self.pd
        scale = q.dtype.type(self.scale)
        # dS = Pd * dPd - P * rowsum(Pd * dPd): no separate dropout mask needed
        ds = g @ v.swapaxes(-1, -2)
        ds *= pd
        rowsum = ds.sum(axis=-1, keepdims=True)
        ds -= p * rowsum
        ds *= scale
        if self.layout == "q,k,v":
            need = self.needs_input_grad
            dq = ds @ k if need[0] else None
            dk = ds.swapaxes(-1, -2) @ q if need[1] else None
            dv = pd.swapaxes(-1, -2) @ g if need[2] else None
            return tuple(None if d is None else constant(d) for d in (dq, dk, dv))
        if self.layout == "qkv":
            packed = xp.empty((3,) + q.shape, dtype=q.dtype)
            xp.matmul(ds, k, out=packed[0])
            xp.matmul(ds.swapaxes(-1, -2), q, out=packed[1])
            xp.matmul(pd.swapaxes(-1, -2), g, out=packed[2])
            return constant(packed)
        dq = constant(ds @ k) if self.needs_input_grad[0] else None
        dkv = None
        if self.needs_input_grad[1]:
            packed = xp.empty((2,) + k.shape, dtype=k.dtype)
            xp.matmul(ds.swapaxes(-1, -2), q, out=packed[0])
            xp.matmul(pd.swapaxes(-1, -2), g, out=packed[1])
            dkv = constant(packed)
        return dq, dkv


def _masks(attn_mask, is_causal, t_q, t_k, dtype, xp, score_shape):
    """Split a user mask into a boolean 'blocked' array and an additive float array."""
    blocked = additive = None
    if attn_mask is not None:
        m = attn_mask.data if isinstance(attn_mask, Tensor) else xp.asarray(attn_mask)
        try:
            np.broadcast_shapes(m.shape, score_shape)
        except ValueError:
            raise ShapeError(f"scaled_dot_product_attention: attn_mask of shape {tuple(m.shape)} "
                             f"does not broadcast to the scores' shape {tuple(score_shape)}") from None
        if m.dtype == np.bool_:
            blocked = m
        elif m.dtype.kind == "f":
            additive = m.astype(dtype, copy=False)
        else:
            raise DTypeError(f"scaled_dot_product_attention: attn_mask must be bool (True = blocked) "
                             f"or float (added to the scores), got dtype {m.dtype}")
    if is_causal:
        causal = xp.triu(xp.ones((t_q, t_k), dtype=bool), k=1)
        blocked = causal if blocked is None else (blocked | causal)
    return blocked, additive


def _check_qkv(q_shape, k_shape, v_shape, dtypes, op):
    if len(q_shape) < 2 or len(k_shape) < 2 or len(v_shape) < 2:
        raise ShapeError(f"{op}: query, key and value need at least 2 dims, "
                         f"got {tuple(q_shape)}, {tuple(k_shape)}, {tuple(v_shape)}")
    if q_shape[-1] != k_shape[-1] or k_shape[-2] != v_shape[-2]:
        raise ShapeError(f"{op}: query {tuple(q_shape)}, key {tuple(k_shape)} "
                         f"and value {tuple(v_shape)} do not fit: need query[-1] == key[-1] and "
                         "key[-2] == value[-2]")
    if len(set(dtypes)) != 1 or dtypes[0].kind != "f":
        raise DTypeError(f"{op}: query, key and value must share one float "
                         f"dtype, got {', '.join(str(d) for d in dtypes)}")


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None):
    """Attention over the last two axes of (..., T, d_k) queries and (..., S, d_k) keys.

    Returns (output, weights); weights are the (dropped-out) attention probabilities.
    In fused mode the weights are returned detached, for inspection.
    """
    q, k, v = query, key, value
    _check_qkv(q.shape, k.shape, v.shape, (q.dtype, k.dtype, v.dtype), "scaled_dot_product_attention")
    return _attention("q,k,v", (q, k, v), lambda: (q, k, v), q.shape, k.shape,
                      attn_mask, dropout_p, is_causal, scale)


def packed_scaled_dot_product_attention(query, kv=None, attn_mask=None, dropout_p=0.0,
                                        is_causal=False, scale=None):
    """Attention on packed projections: `query` is (3, ..., T, d_k) holding Q, K and V
    when `kv` is None (self-attention), else `kv` is (2, ..., S, d_k) holding K and V.

    Same result as scaled_dot_product_attention on the unpacked parts; packing lets
    the backward write one gradient for the whole projection. Under use_fused(False)
    the parts are taken apart by indexing, so the pictures show the split.
    """
    op = "packed_scaled_dot_product_attention"
    if kv is None:
        if query.ndim < 3 or query.shape[0] != 3:
            raise ShapeError(f"{op}: without kv, query must be packed (3, ..., T, d_k), "
                             f"got shape {tuple(query.shape)}")
        q_shape = k_shape = query.shape[1:]
        inputs, layout = (query,), "qkv"
        unpack = lambda: (query[0], query[1], query[2])  # noqa: E731
    else:
        if kv.ndim < 3 or kv.shape[0] != 2:
            raise ShapeError(f"{op}: kv must be packed (2, ..., S, d_k), got shape {tuple(kv.shape)}")
        q_shape, k_shape = query.shape, kv.shape[1:]
        inputs, layout = (query, kv), "q,kv"
        unpack = lambda: (query, kv[0], kv[1])  # noqa: E731
    _check_qkv(q_shape, k_shape, k_shape, tuple(t.dtype for t in inputs), op)
    return _attention(layout, inputs, unpack, q_shape, k_shape, attn_mask, dropout_p, is_causal, scale)


def _attention(layout, inputs, unpack, q_shape, k_shape, attn_mask, dropout_p, is_causal, scale):
    first = inputs[0]
    t_q, t_k = q_shape[-2], k_shape[-2]
    scale = 1.0 / math.sqrt(q_shape[-1]) if scale is None else float(scale)
    score_shape = np.broadcast_shapes(q_shape[:-2], k_shape[:-2]) + (t_q, t_k)
    blocked, additive = _masks(attn_mask, is_causal, t_q, t_k, first.dtype, first.xp, score_shape)

    if not fused_enabled():
        q, k, v = unpack()
        scores = q @ k.swapaxes(-1, -2)
        scores = scores * scale
        if blocked is not None:
            scores = masked_fill(scores, constant(q.xp.broadcast_to(blocked, score_shape)), -math.inf)
        if additive is not None:
            scores = scores + constant(additive)
        weights = Softmax.apply(scores, axis=scores.ndim - 1)
        weights = dropout(weights, dropout_p, training=dropout_p > 0)
        return weights @ v, weights

    drop_mask = dropout_mask(score_shape, dropout_p, first.dtype, first.device) if dropout_p > 0 else None
    weights = []      # forward leaves the attention weights here, recorded or not
    out = ScaledDotProductAttention.apply(*inputs, layout=layout, scale=scale, blocked=blocked,
                                          additive=additive, drop_mask=drop_mask,
                                          weights_out=weights)
    return out, constant(weights[0])

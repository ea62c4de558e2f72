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
from .softmax import Softmax, _shifted


class ScaledDotProductAttention(Function):
    name = "attention"
    once_differentiable = True

    def forward(self, q, k, v):
        xp = xp_of(q)
        s = (q * q.dtype.type(self.scale)) @ k.swapaxes(-1, -2)
        if self.additive is not None:
            s = s + self.additive
        if self.blocked is not None:
            s = xp.where(self.blocked, s.dtype.type(-np.inf), s)
        p = xp.exp(_shifted(s, -1))
        total = p.sum(axis=-1, keepdims=True)
        total[total == 0] = 1                # every key blocked: weights 0, output 0
        p /= total
        self.p = p
        self.pd = p * self.drop_mask if self.drop_mask is not None else p
        self.weights_out.append(self.pd)
        return self.pd @ v

    def backward(self, grad):
        q, k, v = (t.data for t in self.inputs)
        g, p, pd = grad.data, self.p, self.pd
        dv = pd.swapaxes(-1, -2) @ g if self.needs_input_grad[2] else None
        dpd = g @ v.swapaxes(-1, -2)
        dpd *= pd
        ds = dpd - p * dpd.sum(axis=-1, keepdims=True)
        scale = q.dtype.type(self.scale)
        dq = (ds @ k) * scale if self.needs_input_grad[0] else None
        dk = (ds.swapaxes(-1, -2) @ q) * scale if self.needs_input_grad[1] else None
        return tuple(None if d is None else constant(d) for d in (dq, dk, dv))


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


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None):
    """Attention over the last two axes of (..., T, d_k) queries and (..., S, d_k) keys.

    Returns (output, weights); weights are the (dropped-out) attention probabilities.
    In fused mode the weights are returned detached, for inspection.
    """
    q, k, v = query, key, value
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ShapeError("scaled_dot_product_attention: query, key and value need at least 2 dims, "
                         f"got {tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}")
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ShapeError(f"scaled_dot_product_attention: query {tuple(q.shape)}, key {tuple(k.shape)} "
                         f"and value {tuple(v.shape)} do not fit: need query[-1] == key[-1] and "
                         "key[-2] == value[-2]")
    if not (q.dtype == k.dtype == v.dtype) or q.dtype.kind != "f":
        raise DTypeError(f"scaled_dot_product_attention: query, key and value must share one float "
                         f"dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    t_q, t_k = q.shape[-2], k.shape[-2]
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    score_shape = np.broadcast_shapes(q.shape[:-2], k.shape[:-2]) + (t_q, t_k)
    blocked, additive = _masks(attn_mask, is_causal, t_q, t_k, q.dtype, q.xp, score_shape)

    if not fused_enabled():
        scores = q @ k.swapaxes(-1, -2)
        scores = scores * scale
        if blocked is not None:
            scores = masked_fill(scores, constant(q.xp.broadcast_to(blocked, score_shape)), -math.inf)
        if additive is not None:
            scores = scores + constant(additive)
        weights = Softmax.apply(scores, axis=scores.ndim - 1)
        weights = dropout(weights, dropout_p, training=dropout_p > 0)
        return weights @ v, weights

    drop_mask = dropout_mask(score_shape, dropout_p, q.dtype, q.device) if dropout_p > 0 else None
    weights = []      # forward leaves the attention weights here, recorded or not
    out = ScaledDotProductAttention.apply(q, k, v, scale=scale, blocked=blocked, additive=additive,
                                          drop_mask=drop_mask, weights_out=weights)
    return out, constant(weights[0])

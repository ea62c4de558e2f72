"""Multi-head attention (Vaswani et al., 2017, section 3.2.2), as torch.nn.MultiheadAttention:

    MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O,
    head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)

`forward` tells it in five steps: project the query, key and value; split each
into h heads of d_k = E / h dimensions; attend, every head at once in one batched
matmul on (B, h, T, d_k) arrays; merge the heads back side by side; output
projection W^O.

The projections of every head are stored packed, as in PyTorch: `in_proj_weight`
is (3E, E), its rows W^Q, W^K, W^V. Optimisation (marked in `_project_heads`):
when query, key and value are one tensor (self-attention), one GEMM against the
whole packed weight makes Q, K and V together, and their heads stay strided views
of that one output, so the fused attention's backward writes one gradient for the
whole projection; cross-attention packs K and V of the memory the same way.

`KeyValueCache` keeps keys and values already computed, so incremental decoding
projects only the newest target position (self-attention) and projects the
encoder's memory once (cross-attention).
"""
import math

import numpy as np

from minigrad.amp import is_autocast_enabled
from minigrad.autograd import fused_enabled, is_grad_enabled
from minigrad.backend import xp_of
from minigrad.dtype import is_half, kind_of
from minigrad.errors import DTypeError, MinigradError, ShapeError
from minigrad.ops import concat, linear
from minigrad.ops.attention import attend_arrays, scaled_dot_product_attention_with_weights
from minigrad.ops.linear import linear_arrays
from minigrad.tensor import Tensor

from . import init
from .linear import Linear, empty_parameter
from .module import Module


class KeyValueCache:
    """Keys and values, split into heads (B, h, S, d_k), kept between decoding steps.

    static=False (decoder self-attention): every call appends the new positions'
    keys and values. static=True (cross-attention): the first call projects the
    encoder memory, later calls reuse it.
    """

    def __init__(self, static=False):
        self.static = static
        self.k = None
        self.v = None
        self._buffers = None        # (k, v) arrays with room to grow along the position axis
        self._spare = None          # two more like them: reorder gathers rows into these

    def __len__(self):
        return 0 if self.k is None else self.k.shape[2]

    def update(self, k, v):
        """Append the new positions' keys and values; return all keys and values so far.

        Without a graph to record, they go into buffers that double when full, so a
        step copies only the new positions; with one, `concat` keeps them differentiable.
        """
        if self.k is None:
            if self.static:          # read at every step: heads contiguous in memory read
                k, v = k.contiguous(), v.contiguous()      # twice as fast as a GEMM's views
            self.k, self.v = k, v
        elif is_grad_enabled() and (k.requires_grad or v.requires_grad or self.k.requires_grad):
            self.k, self.v = concat([self.k, k], axis=2), concat([self.v, v], axis=2)
            self._buffers = self._spare = None
        else:
            n, t = len(self), k.shape[2]
            if self._buffers is None or n + t > self._buffers[0].shape[2]:
                self._buffers = tuple(self._grow(old.array, 2 * (n + t)) for old in (self.k, self.v))
                self._spare = None
            self._buffers[0][:, :, n:n + t] = k.array
            self._buffers[1][:, :, n:n + t] = v.array
            self._views(n + t)
        return self.k, self.v

    def _views(self, n):
        """self.k, self.v: the first n positions of the buffers."""
        self.k, self.v = (Tensor._make(b[:, :, :n], False, None) for b in self._buffers)

    @staticmethod
    def _grow(array, capacity, rows=None):
        b, h, n, d = array.shape
        buffer = xp_of(array).empty((b if rows is None else rows, h, capacity, d), dtype=array.dtype)
        if rows is None:
            buffer[:, :, :n] = array
        return buffer

    def reorder(self, index):
        """Keep the rows named by `index` (beam search: each survivor's parent beam).

        Buffered caches gather the rows into a second pair of buffers and swap (one
        copy of the cache, and the next update appends in place, as before)."""
        if self.k is None:
            return
        xp = self.k.xp
        index = xp.asarray(index.array if isinstance(index, Tensor) else index)
        if self.k.requires_grad or self.v.requires_grad:      # on a graph: a recorded gather
            self.k, self.v = self.k[Tensor._make(index, False, None)], \
                self.v[Tensor._make(index, False, None)]
            self._buffers = self._spare = None
            return
        n, rows = len(self), len(index)
        if self._buffers is None:    # buffers of our own (k and v may be a projection's views)
            capacity = n if self.static else 2 * n
            self._buffers = tuple(self._grow(t.array, capacity) for t in (self.k, self.v))
        if rows and (index.min() < -len(self.k.array) or index.max() >= len(self.k.array)):
            raise ShapeError(f"KeyValueCache.reorder: row index out of range for "
                             f"{len(self.k.array)} rows")
        capacity = self._buffers[0].shape[2]
        if self._spare is None or self._spare[0].shape[0] != rows:
            self._spare = tuple(self._grow(b, capacity, rows) for b in self._buffers)
        for source, target in zip(self._buffers, self._spare):
            target[:, :, :n] = source[index, :, :n]   # (2.5x faster than np.take's out=)
        self._buffers, self._spare = self._spare, self._buffers
        self._views(n)


def _as_array(mask):
    return mask.array if isinstance(mask, Tensor) else np.asarray(mask)


class MultiheadAttention(Module):
    """Attention of every query over every key, in `num_heads` subspaces of size E / num_heads.

    Arguments as torch.nn.MultiheadAttention: embed_dim E (int > 0), num_heads h (int > 0
    dividing E), dropout on the attention weights (in [0, 1]), bias, kdim and vdim (the
    widths of keys and values, default E: other widths get three projections,
    q_proj_weight, k_proj_weight, v_proj_weight, instead of the packed in_proj_weight),
    batch_first, and the parameters' device and dtype (default:
    minigrad.get_default_dtype()). add_bias_kv and add_zero_attn are not supported.
    Inputs are (T, B, E) (or (B, T, E) with batch_first=True, or unbatched (T, E)).
    Masks follow torch.nn.MultiheadAttention: `attn_mask` (T, S) or (B * num_heads, T, S),
    `key_padding_mask` (B, S); bool masks block where True (the opposite of
    scaled_dot_product_attention's), float masks are added to the scores. Returns
    (output, weights): weights (B, T, S) averaged over heads, or (B, num_heads, T, S) with
    average_attn_weights=False, or None with need_weights=False.
    Raises ShapeError, DTypeError or MinigradError naming the argument that is wrong.
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False,
                 add_zero_attn=False, kdim=None, vdim=None, batch_first=False, device=None,
                 dtype=None):
        super().__init__()
        _check_settings(embed_dim, num_heads, dropout)
        if add_bias_kv or add_zero_attn:
            raise MinigradError("MultiheadAttention: add_bias_kv and add_zero_attn are not "
                                "supported")
        self.embed_dim = int(embed_dim)
        self.num_heads = int(num_heads)
        self.head_dim = self.embed_dim // self.num_heads            # d_k
        self.dropout = float(dropout)
        self.batch_first = bool(batch_first)
        e = self.embed_dim
        self.kdim = e if kdim is None else int(kdim)
        self.vdim = e if vdim is None else int(vdim)
        self._qkv_same_embed_dim = self.kdim == e and self.vdim == e
        if self._qkv_same_embed_dim:
            self.in_proj_weight = empty_parameter((3 * e, e), dtype, device)  # W^Q; W^K; W^V
        else:      # keys and values of other widths (torch's names): three projections
            self.in_proj_weight = None
            self.q_proj_weight = empty_parameter((e, e), dtype, device)
            self.k_proj_weight = empty_parameter((e, self.kdim), dtype, device)
            self.v_proj_weight = empty_parameter((e, self.vdim), dtype, device)
        self.in_proj_bias = empty_parameter((3 * e,), dtype, device) if bias else None
        self.out_proj = Linear(e, e, bias=bias, device=device, dtype=dtype)  # W^O
        self._reset_parameters()

    def _reset_parameters(self):
        """As PyTorch: Xavier-uniform projections (the packed one, or each of the three),
        zero biases."""
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                init.xavier_uniform_(w)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)

    def extra_repr(self):
        return (f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}, "
                f"batch_first={self.batch_first}")

    # ------------------------------------------------------------ forward
    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False, *, cache=None):
        """`cache` (a KeyValueCache) turns on incremental decoding; see KeyValueCache."""
        self._check_inputs(query, key, value, cache)
        if cache is not None and self._decodes_on_arrays(query, key, value, attn_mask,
                                                         need_weights):
            return self._decode_step(query, key, value, key_padding_mask, cache), None
        batched = query.ndim == 3
        batch_first = self.batch_first or not batched
        if not batched:                       # (T, E) -> (1, T, E)
            query, key, value = _unsqueeze_same(query, key, value)
            if key_padding_mask is not None:
                key_padding_mask = _as_array(key_padding_mask).reshape(1, -1)
        b, t = query.shape[:2] if batch_first else query.shape[1::-1]

        # 1. project and 2. split into heads: Q (B, h, T, d_k), K and V (B, h, S, d_k)
        q, k, v, packed = self._project_heads(query, key, value, batch_first, cache)
        # 3. attend, every head at once: softmax(Q K^T / sqrt(d_k) + mask) V
        mask, causal = self._merge_masks(attn_mask, key_padding_mask, is_causal, b, t, k.shape[2],
                                         query.dtype, query.xp)
        out, weights = scaled_dot_product_attention_with_weights(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0,
            is_causal=causal, packed=packed, need_weights=need_weights)  # (B, h, T, d_k)
        # 4. merge heads: (B, h, T, d_k) -> (B, T, E), and 5. output projection W^O
        out = self.out_proj(self._merge_heads(out, batch_first))

        if not batched:
            out = out.squeeze(0)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(axis=1)
        return out, (weights if batched else weights.squeeze(0))

    # ------------------------------------------------------------ decoding, fused
    def _decodes_on_arrays(self, query, key, value, attn_mask, need_weights):
        """Whether this call is one step of incremental decoding that `_decode_step` may
        run: one new position, nothing to record, no weights, no attention mask, the
        fused kernels on, no autocast, no dropout, one float dtype, no hooks on out_proj."""
        out = self.out_proj
        if not self._qkv_same_embed_dim:
            return False
        dtype = self.in_proj_weight.dtype
        return (not need_weights and attn_mask is None and query.ndim == 3
                and query.shape[1 if self.batch_first else 0] == 1
                and not is_grad_enabled() and fused_enabled()
                and not is_autocast_enabled(query.device.split(":")[0])
                and not (self.training and self.dropout > 0)
                and query.dtype == key.dtype == value.dtype == dtype == out.weight.dtype
                and kind_of(dtype) == "f" and not is_half(dtype)
                and not (out._forward_hooks or out._forward_pre_hooks or out._backward_hooks
                         or out._backward_pre_hooks))

    def _decode_step(self, query, key, value, key_padding_mask, cache):
        # fused inference path: equal to forward's five steps in value (the same GEMMs,
        # head views, cache and attention kernel), without recording an op for each
        """forward for one new position under no_grad (see _decodes_on_arrays), on arrays:
        the ops of a decoding step cost more in Python than in arithmetic."""
        bf = self.batch_first
        e, h, d = self.embed_dim, self.num_heads, self.head_dim
        w = self.in_proj_weight.array
        bias = None if self.in_proj_bias is None else self.in_proj_bias.array

        def heads(x, lo, hi):
            """Rows lo:hi of the packed projection of x, split into (parts, B, h, T, d_k)."""
            y, _ = linear_arrays(x.array, w[lo:hi], None if bias is None else bias[lo:hi])
            y = y.reshape(y.shape[0], y.shape[1], (hi - lo) // e, h, d)
            return y.transpose(2, 0, 3, 1, 4) if bf else y.transpose(2, 1, 3, 0, 4)

        # 1. and 2.: project and split into heads (as _project_heads)
        if cache.static and cache.k is not None:
            q, k, v = heads(query, 0, e)[0], cache.k.array, cache.v.array
        else:
            if query is key and key is value:
                q, k, v = heads(query, 0, 3 * e)
            elif key is value:
                q, (k, v) = heads(query, 0, e)[0], heads(key, e, 3 * e)
            else:
                q, k, v = heads(query, 0, e)[0], heads(key, e, 2 * e)[0], \
                    heads(value, 2 * e, 3 * e)[0]
            k, v = (t.array for t in cache.update(Tensor._make(k, False, None),
                                                  Tensor._make(v, False, None)))
        # 3. attend (as scaled_dot_product_attention without a graph: attend_arrays)
        # (is_causal changes nothing: the one query is the newest position, after every key)
        b, s = q.shape[0], k.shape[2]
        mask, _ = self._merge_masks(None, key_padding_mask, False, b, 1, s, q.dtype, xp_of(q))
        blocked = additive = None
        if mask is not None and mask.dtype == np.bool_:
            blocked = ~mask
        elif mask is not None:
            additive = mask
        out = attend_arrays(q, k, v, 1.0 / math.sqrt(d), blocked, additive)[0]  # (B, h, 1, d_k)
        # 4. merge the heads and 5. the output projection
        out = out.transpose(0, 2, 1, 3).reshape(b, 1, e) if bf else \
            out.transpose(2, 0, 1, 3).reshape(1, b, e)
        out_proj = self.out_proj
        out, _ = linear_arrays(out, out_proj.weight.array,
                               None if out_proj.bias is None else out_proj.bias.array)
        return Tensor._make(out, False, None)

    # ------------------------------------------------------------ heads
    def _project_heads(self, query, key, value, batch_first, cache):
        """Steps 1 and 2: Q = query W^Q^T + b^Q (K, V likewise), split into (B, h, T, d_k)
        heads; with a cache, K and V of earlier steps come from it. Returns (q, k, v, packed):
        `packed` is the tensor q, k, v are views of (or None), for the fused attention."""
        e, bias = self.embed_dim, self.in_proj_bias

        def heads(x, lo, hi):
            """Project x with rows lo:hi of the packed weight (one GEMM), split into heads;
            (keys and values of other widths: the one projection of those rows)."""
            if self._qkv_same_embed_dim:
                w = self.in_proj_weight
                w = w if (lo, hi) == (0, 3 * e) else w[lo:hi]
            else:
                w = (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight)[lo // e]
            b = None if bias is None else bias if (lo, hi) == (0, 3 * e) else bias[lo:hi]
            return self._split_heads(linear(x, w, b), (hi - lo) // e, batch_first)

        packed = None
        if cache is not None and cache.static and cache.k is not None:
            return heads(query, 0, e), cache.k, cache.v, None   # the memory's K, V: made once
        if not self._qkv_same_embed_dim:
            q, k, v = heads(query, 0, e), heads(key, e, 2 * e), heads(value, 2 * e, 3 * e)
        elif query is key and key is value:
            # optimisation: self-attention makes Q, K, V in one GEMM, kept packed
            packed = heads(query, 0, 3 * e)                      # (3, B, h, T, d_k)
            q, k, v = packed[0], packed[1], packed[2]
        elif key is value:
            # optimisation: K and V of one memory in one GEMM, kept packed
            q, packed = heads(query, 0, e), heads(key, e, 3 * e)  # packed (2, B, h, S, d_k)
            k, v = packed[0], packed[1]
        else:
            q, k, v = heads(query, 0, e), heads(key, e, 2 * e), heads(value, 2 * e, 3 * e)
        if cache is not None:
            k, v = cache.update(k, v)
            packed = None
        return q, k, v, packed

    def _split_heads(self, x, parts, batch_first):
        """(B, T, parts*E) or (T, B, parts*E) -> one (parts, B, h, T, d_k) view, or
        (B, h, T, d_k) when parts is 1: the columns of each head side by side."""
        d0, d1 = x.shape[0], x.shape[1]
        if parts == 1:
            x = x.reshape(d0, d1, self.num_heads, self.head_dim)
            return x.permute(0, 2, 1, 3) if batch_first else x.permute(1, 2, 0, 3)
        x = x.reshape(d0, d1, parts, self.num_heads, self.head_dim)
        return x.permute(2, 0, 3, 1, 4) if batch_first else x.permute(2, 1, 3, 0, 4)

    def _merge_heads(self, x, batch_first):
        """(B, h, T, d_k) -> (B, T, E) or (T, B, E): the heads' outputs side by side."""
        b, h, t, d = x.shape
        if batch_first:
            return x.permute(0, 2, 1, 3).reshape(b, t, h * d)
        return x.permute(2, 0, 1, 3).reshape(t, b, h * d)

    # ------------------------------------------------------------ checks and masks
    def _check_inputs(self, query, key, value, cache):
        name = "MultiheadAttention"
        if query.ndim not in (2, 3):
            raise ShapeError(f"{name}: query must be (T, B, E), (B, T, E) or unbatched (T, E), "
                             f"got shape {tuple(query.shape)}")
        for arg, x, width, setting in (("query", query, self.embed_dim, "embed_dim"),
                                       ("key", key, self.kdim, "kdim"),
                                       ("value", value, self.vdim, "vdim")):
            if x.ndim != query.ndim:
                raise ShapeError(f"{name}: {arg} has {x.ndim} dims but query has {query.ndim} "
                                 f"(query {tuple(query.shape)}, {arg} {tuple(x.shape)})")
            if x.shape[-1] != width:
                raise ShapeError(f"{name}: {arg} has embedding dimension {x.shape[-1]}, expected "
                                 f"{setting}={width} ({arg} shape {tuple(x.shape)})")
            if kind_of(x.dtype) != "f":
                raise DTypeError(f"{name}: {arg} must be floating point, got dtype {x.dtype}")
        if key.shape[:-1] != value.shape[:-1]:
            raise ShapeError(f"{name}: key {tuple(key.shape)} and value {tuple(value.shape)} must "
                             "have the same batch size and source length")
        if query.ndim == 3:
            bq = query.shape[0] if self.batch_first else query.shape[1]
            bk = key.shape[0] if self.batch_first else key.shape[1]
            if bq != bk:
                raise ShapeError(f"{name}: query {tuple(query.shape)} and key {tuple(key.shape)} "
                                 f"have different batch sizes {bq} and {bk} "
                                 f"(batch_first={self.batch_first})")

    def _merge_masks(self, attn_mask, key_padding_mask, is_causal, b, t, s, dtype, xp):
        """One mask for scaled_dot_product_attention, broadcastable to the (B, h, T, S)
        scores, and whether to add the causal one.

        Two bool masks (True = blocked) combine with OR, and are passed on as the keys that
        may be attended; when either is float, bool masks become -inf additions and the
        two are added (as PyTorch does). A float attn_mask that requires grad (a learned
        bias: relative positions, ALiBi) stays a Tensor on the graph, so it gets its
        gradient.
        """
        name, h = "MultiheadAttention", self.num_heads
        masks = []
        if attn_mask is not None:
            m = _as_array(attn_mask)
            _check_mask_dtype(name, "attn_mask", m)
            if isinstance(attn_mask, Tensor) and attn_mask.requires_grad and is_grad_enabled():
                m = attn_mask                  # learned: reshaped and added as a Tensor
            if m.shape == (t, s):
                masks.append(m)
            elif m.shape == (b * h, t, s):
                masks.append(m.reshape(b, h, t, s))
            else:
                raise ShapeError(f"{name}: attn_mask of shape {tuple(m.shape)} does not fit: "
                                 f"expected ({t}, {s}) or (batch * num_heads, T, S) = "
                                 f"({b * h}, {t}, {s}) for {t} queries and {s} keys")
        if key_padding_mask is not None:
            m = _as_array(key_padding_mask)
            _check_mask_dtype(name, "key_padding_mask", m)
            if m.shape != (b, s):
                raise ShapeError(f"{name}: key_padding_mask of shape {tuple(m.shape)} does not fit: "
                                 f"expected (batch, S) = ({b}, {s})")
            masks.append(m.reshape(b, 1, 1, s))
        causal = bool(is_causal)
        if causal and t != s:       # queries are the last t of s positions (cached decoding)
            masks.append(xp.triu(xp.ones((t, s), dtype=bool), k=s - t + 1))
            causal = False
        if not masks:
            return None, causal
        masks = [m if isinstance(m, Tensor) else xp.asarray(m) for m in masks]
        if all(m.dtype == np.bool_ for m in masks):
            blocked = masks[0]
            for m in masks[1:]:
                blocked = blocked | m
            return ~blocked, causal        # scaled_dot_product_attention's True: may attend
        merged = None
        for m in masks:
            if isinstance(m, Tensor):
                m = m.astype(dtype)
            elif m.dtype == np.bool_:
                m = xp.where(m, dtype.type(-math.inf), dtype.type(0))
            else:
                m = m.astype(dtype, copy=False)
            merged = m if merged is None else (m + merged if isinstance(m, Tensor) else merged + m)
        return merged, causal


def _check_mask_dtype(op, arg, m):
    if m.dtype != np.bool_ and kind_of(m.dtype) != "f":
        raise DTypeError(f"{op}: {arg} must be bool (True = blocked) or float (added to the "
                         f"scores), got dtype {m.dtype} (shape {tuple(m.shape)})")


def _unsqueeze_same(query, key, value):
    """Add a batch axis of 1, keeping `query is key` and `key is value` as they were."""
    q = query.unsqueeze(0)
    k = q if key is query else key.unsqueeze(0)
    v = k if value is key else q if value is query else value.unsqueeze(0)
    return q, k, v


def _check_settings(embed_dim, num_heads, dropout):
    name = "MultiheadAttention"
    for arg, n in (("embed_dim", embed_dim), ("num_heads", num_heads)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise MinigradError(f"{name}: {arg} must be an int, got {n!r} ({type(n).__name__})")
        if n <= 0:
            raise ShapeError(f"{name}: {arg} must be positive, got {n}")
    if embed_dim % num_heads:
        raise ShapeError(f"{name}: num_heads={num_heads} does not divide embed_dim={embed_dim} "
                         "(each head gets embed_dim / num_heads dims)")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float, np.floating, np.integer)) \
            or not 0.0 <= dropout <= 1.0:
        raise MinigradError(f"{name}: dropout must be a probability in [0, 1], got {dropout!r}")


MultiHeadAttention = MultiheadAttention

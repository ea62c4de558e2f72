"""Memory-efficient attention (FlashAttention-2: Dao, 2023, "FlashAttention-2: Faster
Attention with Better Parallelism and Work Partitioning", algorithms 1 and 2).

The same softmax(Q K^T * scale + mask) V as scaled_dot_product_attention, computed
over tiles of `block_q` queries by `block_k` keys so that no (T, S) matrix is ever
held: memory grows linearly with the sequence length instead of quadratically.

Forward, per query tile, over the key tiles (an "online softmax"):

    s     = q_i k_j^T * scale (+ mask)              the tile's scores
    m_new = max(m, rowmax(s))                       running row maximum
    l     = exp(m - m_new) l + rowsum(exp(s - m_new))      running normaliser
    acc   = exp(m - m_new) acc + (exp(s - m_new) * drop_ij) v_j
    out   = acc / l,   lse = m + log l              (lse: the row log-sum-exp)

Only `out` and `lse` are kept. Backward recomputes each tile's probabilities from
them, P = exp(s - lse), and with D = rowsum(dO * O):

    dV_j += (P * drop)^T dO_i      dP = (dO_i V_j^T) * drop      dS = P (dP - D)
    dQ_i += dS K_j * scale         dK_j += dS^T Q_i * scale

Dropout: each tile's mask is drawn from its own generator, seeded by (seed, i, j),
so the backward draws exactly the forward's mask again instead of storing it.
A query that may attend to no key gets output 0 and gradient 0 (lse = +inf there).
"""
import math

import numpy as np

from ..autograd import Function
from ..backend import generator, xp_of
from ..tensor import Tensor, constant

# Tile sizes: the (batch..., block_q, block_k) score tile and its few temporaries are
# the kernel's working memory (8 heads x 512 x 1024 float32 = 16 MiB a tile). Tiles
# this large keep the Python loop short and each NumPy pass long; with 256 x 512
# tiles a (8, 2048, 16) forward + backward took about twice as long (loaded 2-core
# machine, rough).
BLOCK_Q = 512
BLOCK_K = 1024

# From this many scores per head (T * S) on, `scaled_dot_product_attention` picks this
# kernel: below it the dense kernel is as fast or faster and its (T, S) weights are
# small. Measured roughly (loaded 2-core machine, 8 heads, d_k 16): at T = S = 1024
# the two took about the same time (1.1 s tiled, 1.3 s dense), at 2048 the tiled one
# 1.1x the dense one's time, and its memory grows with T, not T^2.
FLASH_MIN_SCORES = 1024 * 1024


def prefers_flash(t_q, t_k):
    """Whether a (t_q, t_k) attention is large enough that the tiled kernel pays."""
    return t_q * t_k >= FLASH_MIN_SCORES


def tile_dropout_mask(seed, i, j, shape, p, dtype, xp):
    """The {0, 1/keep} dropout mask of tile (i, j), a pure function of (seed, i, j).

    On the CPU each element takes 16 random bits of an SFC64 generator (as
    ops.dropout.dropout_mask); on CuPy, uniform floats from a generator seeded alike.
    """
    keep = 1.0 - p
    sequence = np.random.SeedSequence([seed, i, j])
    n = math.prod(shape)
    if xp is np:
        bits = np.random.SFC64(sequence).random_raw((n + 3) // 4).view(np.uint16)[:n]
        kept = (bits < max(1, round(keep * 65536))).reshape(shape)
    else:
        gen = xp.random.default_rng(int(sequence.generate_state(1)[0]))
        kept = gen.random(shape, dtype=xp.float32) < keep
    return xp.multiply(kept, dtype.type(1.0 / keep), dtype=dtype)


def _as_2d(mask):
    """A mask with at least 2 dims (leading 1s), so its last two axes are (T, S)."""
    return None if mask is None else mask.reshape((1,) * (2 - mask.ndim) + mask.shape)


def _tile(mask, rows, cols):
    """mask[..., rows, cols], keeping broadcast (size-1) axes as they are."""
    if mask is None:
        return None
    return mask[..., rows if mask.shape[-2] != 1 else slice(None),
                cols if mask.shape[-1] != 1 else slice(None)]


class FlashAttention(Function):
    # fused kernel: equal to scaled_dot_product_attention's reference in value and gradient
    """softmax(Q K^T * scale + mask) V over (block_q, block_k) tiles; see the module doc.

    Inputs query (..., T, d_k), key (..., S, d_k), value (..., S, d_v), leading axes
    broadcasting; output (batch..., T, d_v). Saves only the output and the row
    log-sum-exp (batch..., T, 1).
    """
    name = "flash_attention"
    once_differentiable = True
    scale: float                     # settings of this op, given to apply() as keywords
    blocked: object                  # bool array broadcasting to (..., T, S): True = -inf; or None
    additive: object                 # float array broadcasting to (..., T, S), added; or None
    is_causal: bool                  # query i attends to keys 0..i (tiles above it are skipped)
    dropout_p: float
    seed: int                        # the dropout tiles' seed (ignored without dropout)
    block_q: int
    block_k: int

    def _tiles(self, t_q, t_k):
        """(i, j, query slice, key slice) of every tile that has a key a query may see."""
        for i, q0 in enumerate(range(0, t_q, self.block_q)):
            rows = slice(q0, min(q0 + self.block_q, t_q))
            for j, k0 in enumerate(range(0, t_k, self.block_k)):
                if self.is_causal and k0 > rows.stop - 1:
                    break            # every key of this tile and after is in the future
                yield i, j, rows, slice(k0, min(k0 + self.block_k, t_k))

    def _scores(self, q, k, rows, cols):
        """The tile's masked scores (batch..., rows, cols), as the dense kernel's."""
        xp = xp_of(q)
        s = (q[..., rows, :] * q.dtype.type(self.scale)) @ k[..., cols, :].swapaxes(-1, -2)
        if self.additive is not None:
            s += _tile(self.additive, rows, cols)
        blocked = _tile(self.blocked, rows, cols)
        if self.is_causal and cols.stop - 1 > rows.start:  # tiles below the diagonal see all
            future = xp.arange(rows.start, rows.stop)[:, None] < xp.arange(cols.start, cols.stop)
            blocked = future if blocked is None else (blocked | future)
        if blocked is not None:
            xp.copyto(s, s.dtype.type(-np.inf), where=blocked)
        return s

    def _drop(self, i, j, shape, dtype, xp):
        if self.dropout_p == 0:
            return None
        return tile_dropout_mask(self.seed, i, j, shape, self.dropout_p, dtype, xp)

    def forward(self, q, k, v):
        xp = xp_of(q)
        batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
        t_q, t_k = q.shape[-2], k.shape[-2]
        out = xp.zeros(batch + (t_q, v.shape[-1]), dtype=q.dtype)
        self.lse = xp.full(batch + (t_q, 1), np.inf, dtype=q.dtype)
        m = l = None
        for i, j, rows, cols in self._tiles(t_q, t_k):
            if j == 0:               # a new query tile: reset its running statistics
                m = xp.full(batch + (rows.stop - rows.start, 1), -np.inf, dtype=q.dtype)
                l = xp.zeros_like(m)
                acc = out[..., rows, :]              # a view: accumulates in place
            s = self._scores(q, k, rows, cols)
            m_new = xp.maximum(m, s.max(axis=-1, keepdims=True))
            # rows that have seen no key yet (all -inf) are shifted by 0, not -inf
            shift = xp.where(m_new == -np.inf, q.dtype.type(0), m_new)
            s -= shift
            p = xp.exp(s, out=s)
            alpha = xp.exp(m - shift)                # rescales what was summed so far
            l *= alpha
            l += p.sum(axis=-1, keepdims=True)
            acc *= alpha
            drop = self._drop(i, j, p.shape, q.dtype, xp)
            acc += (p if drop is None else p * drop) @ v[..., cols, :]
            m = m_new
            if cols.stop == t_k or (self.is_causal and cols.stop > rows.stop - 1):
                seen = l > 0                         # rows where some key may be attended
                acc /= xp.where(seen, l, 1)
                xp.copyto(self.lse[..., rows, :], m + xp.log(xp.where(seen, l, 1)), where=seen)
        self.out = out
        return out

    def backward(self, grad):
        q, k, v = (t.array for t in self.inputs)
        xp = xp_of(q)
        g = grad.array
        t_q, t_k = q.shape[-2], k.shape[-2]
        batch = g.shape[:-2]
        dq = xp.zeros(batch + q.shape[-2:], dtype=q.dtype)
        dk = xp.zeros(batch + k.shape[-2:], dtype=q.dtype)
        dv = xp.zeros(batch + v.shape[-2:], dtype=q.dtype)
        big_d = (g * self.out).sum(axis=-1, keepdims=True)     # D = rowsum(dO * O)
        scale = q.dtype.type(self.scale)
        for i, j, rows, cols in self._tiles(t_q, t_k):
            s = self._scores(q, k, rows, cols)
            s -= self.lse[..., rows, :]
            p = xp.exp(s, out=s)                                # this tile of P
            drop = self._drop(i, j, p.shape, q.dtype, xp)
            g_i = g[..., rows, :]
            dv[..., cols, :] += (p if drop is None else p * drop).swapaxes(-1, -2) @ g_i
            dp = g_i @ v[..., cols, :].swapaxes(-1, -2)
            if drop is not None:
                dp *= drop
            dp -= big_d[..., rows, :]
            dp *= p                                             # dS, before the scale
            dp *= scale
            dq[..., rows, :] += dp @ k[..., cols, :]
            dk[..., cols, :] += dp.swapaxes(-1, -2) @ q[..., rows, :]
        need = self.needs_input_grad
        return tuple(constant(d) if want else None for d, want in zip((dq, dk, dv), need))


def flash_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                    scale=None, block_q=BLOCK_Q, block_k=BLOCK_K):
    """Attention of (..., T, d_k) queries over (..., S, d_k) keys and (..., S, d_v)
    values in memory linear in T and S; returns the (batch..., T, d_v) output.

    Same arguments and semantics as torch.nn.functional.scaled_dot_product_attention
    (and minigrad's scaled_dot_product_attention, which calls this for long sequences):
    attn_mask None, bool (True = may attend) or float (added to the scores), broadcasting
    to (..., T, S); is_causal lets query i see keys 0..i; scale defaults to 1/sqrt(d_k).
    The arguments are assumed validated by scaled_dot_product_attention (shapes that do
    not fit raise ShapeError from the tile matmuls). Dropout draws one seed from the
    CPU generator (minigrad.manual_seed reproduces it) and derives each tile's mask
    from it, so its masks differ from the dense kernel's, which draws one (T, S) mask.
    block_q, block_k: tile sizes (any positive ints; they need not divide T or S).
    """
    q, k, v = query, key, value
    xp = q.xp
    if isinstance(attn_mask, Tensor):
        attn_mask = attn_mask.array
    mask = _as_2d(None if attn_mask is None else xp.asarray(attn_mask))
    blocked = additive = None
    if mask is not None and mask.dtype == np.bool_:
        blocked = ~mask
    elif mask is not None:
        additive = mask.astype(q.dtype, copy=False)
    seed = int(generator("cpu").bit_generator.random_raw()) if dropout_p > 0 else 0
    return FlashAttention.apply(
        q, k, v, scale=1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale),
        blocked=blocked, additive=additive, is_causal=bool(is_causal), dropout_p=float(dropout_p),
        seed=seed, block_q=int(block_q), block_k=int(block_k))

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

How this file makes NumPy run it fast (the math above is unchanged by each):

- A fixed shift instead of the running maximum. Softmax does not depend on the
  number subtracted from a row's scores; the maximum is only the usual choice that
  keeps exp from overflowing. By Cauchy-Schwarz every score of query i is at most
  c_i = |q_i| * scale * max_j |k_j|, and at least -c_i, so subtracting c_i keeps
  every exp(s - c_i) in [exp(-2 c_i), 1]: no overflow, and while c_i <= SHIFT_LIMIT
  no underflow into float32's denormals either. Query tiles whose rows all have
  such a bound (and no additive mask, whose scores the bound does not cover) skip
  the max pass and the online rescaling; the others run the running maximum above.
- Subtractions folded into the matmuls. A row constant c_i is subtracted from the
  scores for free by one extra column: [q_i, -c_i] . [k_j, 1] = q_i . k_j - c_i.
  The backward so subtracts lse (P = exp([q * scale, -lse] [k, 1]^T)) and D
  (dP - D = [dO, -D] [v, 1]^T), and the forward sums each row of P in the same
  matmul as P V: P [v, 1] = [P v, rowsum(P)].
- Tiles held transposed, (keys, queries): OpenBLAS computes the thin products
  k_j q_i^T (inner size d_k) about twice as fast in that orientation.
- Query tiles run on several CPU threads (minigrad.get_num_threads(), the BLAS
  threads; each thread's matmuls then use one): NumPy's exp and products use one
  core each, and whole query tiles are independent work. The keys' gradients are
  summed per thread and added at the end, in a fixed order.

Dropout: each tile's mask is drawn from its own generator, seeded by (seed, i, j),
so the backward draws exactly the forward's mask again instead of storing it. It is
drawn as the bool "kept" in the tile's transposed layout, and drop = kept / keep: the
1 / keep goes on the output once (forward) and on dO once (backward) instead of on
every tile (at T = 2048, 8 heads: forward + backward with dropout 0.1 took 282 ms with
a float mask per tile, 187 ms so; 97-108 ms without dropout).
A query that may attend to no key gets output 0 and gradient 0 (lse = +inf there).
"""
import math

import numpy as np

from .. import parallel
from ..autograd import Function
from ..backend import generator, xp_of
from ..tensor import Tensor, constant

# Tile sizes: the (batch..., block_k, block_q) score tile and the one or two buffers
# like it are each thread's working memory. block_q defaults to what makes a tile
# about TILE_SCORES scores (1 MiB in float32): 64 queries by 512 keys for 8 heads.
# Tiles of 256K-512K scores were fastest (8 heads, T = S = 2048, d_k 16, 2 threads:
# forward + backward 80-83 ms at 64 x 512, 128 x 256 and 32 x 1024; 88-100 ms at
# 16 x 2048 and 64 x 1024, 2M scores), large enough that the Python loop is short and
# small enough that a tile stays in the cache between NumPy's passes over it.
BLOCK_K = 512
TILE_SCORES = 1 << 18

# The largest row bound c_i (see the module doc) used as the softmax's shift: the
# smallest exp is then exp(-2 * 40) = 1.8e-35, above float32's smallest normal number
# (1.2e-38), so no probability loses precision to a denormal or to zero.
SHIFT_LIMIT = 40.0

# From this many scores per head (T * S) on, `scaled_dot_product_attention` picks this
# kernel; below it the dense kernel, whose (T, S) weights are small there. Measured with
# the model of benchmarks/long_context.py (2+2 layers, 8 heads, d_k 16, batch 1, 2
# threads, quiet machine), median training-step seconds, tiled everywhere / dense
# everywhere: length 128 0.025 / 0.027, 256 0.045 / 0.050, 512 0.099 / 0.155 (and the
# dense kernel's memory grows with T^2: 91 MB against 35 MB over baseline at 512).
FLASH_MIN_SCORES = 256 * 256


def prefers_flash(t_q, t_k):
    """Whether a (t_q, t_k) attention is large enough that the tiled kernel pays."""
    return t_q * t_k >= FLASH_MIN_SCORES


def default_block_q(batch_size, block_k):
    """Queries per tile for `batch_size` (product of the batch axes) score rows of
    `block_k` keys: about TILE_SCORES scores a tile, 16 to 512 queries."""
    return int(min(512, max(16, TILE_SCORES // max(1, batch_size * block_k) // 16 * 16)))


def tile_dropout_mask(seed, i, j, shape, p, dtype, xp):
    """The {0, 1/keep} dropout mask of tile (i, j), (batch..., rows, cols), a pure
    function of (seed, i, j): `_tile_kept_t`'s draw, transposed and scaled."""
    kept_t = _tile_kept_t(seed, i, j, shape[:-2] + (shape[-1], shape[-2]), p, xp)
    return xp.multiply(kept_t.swapaxes(-1, -2), dtype.type(1.0 / (1.0 - p)), dtype=dtype)


def _tile_kept_t(seed, i, j, shape_t, p, xp):
    """Which scores of tile (i, j) dropout keeps, bool (batch..., cols, rows): drawn in
    the transposed layout the kernel holds the tile in.

    On the CPU each element takes 16 random bits of an SFC64 generator seeded by
    (seed, i, j) (as ops.dropout.dropout_mask); on CuPy, uniform floats from a generator
    seeded alike."""
    keep = 1.0 - p
    sequence = np.random.SeedSequence([seed, i, j])
    n = math.prod(shape_t)
    if xp is np:
        bits = np.random.SFC64(sequence).random_raw((n + 3) // 4).view(np.uint16)[:n]
        return (bits < max(1, round(keep * 65536))).reshape(shape_t)
    gen = xp.random.default_rng(int(sequence.generate_state(1)[0]))
    return gen.random(shape_t, dtype=xp.float32) < keep


def _as_2d(mask):
    """A mask with at least 2 dims (leading 1s), so its last two axes are (T, S)."""
    return None if mask is None else mask.reshape((1,) * (2 - mask.ndim) + mask.shape)


def _tile_t(mask, rows, cols):
    """mask[..., rows, cols] transposed to (..., cols, rows), broadcast axes kept."""
    if mask is None:
        return None
    return mask[..., rows if mask.shape[-2] != 1 else slice(None),
                cols if mask.shape[-1] != 1 else slice(None)].swapaxes(-1, -2)


def _with_column(x, column):
    """[x, column]: x (..., n, d) with `column` (broadcasting to (..., n, 1)) appended."""
    xp = xp_of(x)
    out = xp.empty(x.shape[:-1] + (x.shape[-1] + 1,), dtype=x.dtype)
    out[..., :-1] = x
    out[..., -1:] = column
    return out


# From this many scores per call (batch x T x S) on, the query tiles run on several
# threads (minigrad/parallel.py). Below it the threads' start-up costs more than they
# save: 2+2-layer model of benchmarks/long_context.py, 8 heads, 2 cores: at length 512
# (2M scores) a step took 0.084-0.175 s with threads and 0.092-0.101 s without; at 1024
# (8M) 0.19 s with and 0.25-0.39 s without.
PARALLEL_MIN_SCORES = 1 << 22


def _run(jobs, work, xp, scores):
    """work(jobs[w::n], w) on n worker threads (minigrad/parallel.py); their results."""
    return parallel.run(jobs, work, parallel.threads_for(xp, scores, PARALLEL_MIN_SCORES))


class FlashAttention(Function):
    # fused kernel: equal to scaled_dot_product_attention's reference in value and gradient
    """softmax(Q K^T * scale + mask) V over (block_q, block_k) tiles; see the module doc.

    Inputs query (..., T, d_k), key (..., S, d_k), value (..., S, d_v), leading axes
    broadcasting; output (batch..., T, d_v). Saves only the output and the row
    log-sum-exp (batch..., T, 1).
    """
    name = "flash_attention"
    saves_output = True          # backward reads the result
    once_differentiable = True
    scale: float                     # settings of this op, given to apply() as keywords
    blocked: object                  # bool array broadcasting to (..., T, S): True = -inf; or None
    additive: object                 # float array broadcasting to (..., T, S), added; or None
    is_causal: bool                  # query i attends to keys 0..i (tiles above it are skipped)
    dropout_p: float
    seed: int                        # the dropout tiles' seed (ignored without dropout)
    block_q: object                  # queries per tile, or None for default_block_q
    block_k: int

    def _query_tiles(self, batch, t_q):
        """(i, rows) of every query tile."""
        block_q = self.block_q or default_block_q(math.prod(batch), self.block_k)
        return [(i, slice(q0, min(q0 + block_q, t_q)))
                for i, q0 in enumerate(range(0, t_q, block_q))]

    def _key_tiles(self, rows, t_k):
        """(j, cols) of the key tiles that have a key query tile `rows` may see."""
        for j, k0 in enumerate(range(0, t_k, self.block_k)):
            if self.is_causal and k0 > rows.stop - 1:
                break                # every key of this tile and after is in the future
            stop = min(k0 + self.block_k, t_k)
            if self.is_causal:
                stop = min(stop, rows.stop)       # keys after the tile's last query: unseen
            yield j, slice(k0, stop)

    def _scores_t(self, k_aug, q_aug, rows, cols, buffer):
        """The tile's masked scores, transposed: [k, 1]_j [q, c]_i^T (batch..., cols,
        rows), written into `buffer` (a flat scratch array of this thread)."""
        xp = xp_of(q_aug)
        kj, qi = k_aug[..., cols, :], q_aug[..., rows, :]
        shape = np.broadcast_shapes(kj.shape[:-2], qi.shape[:-2]) + (kj.shape[-2], qi.shape[-2])
        s = buffer[:math.prod(shape)].reshape(shape)
        xp.matmul(kj, qi.swapaxes(-1, -2), out=s)
        if self.additive is not None:
            s += _tile_t(self.additive, rows, cols)
        if self.blocked is not None:
            xp.copyto(s, s.dtype.type(-np.inf), where=_tile_t(self.blocked, rows, cols))
        if self.is_causal and cols.stop - 1 > rows.start:   # the tile crosses the diagonal
            # key c is in query r's future when c > r; only keys rows.start+1.. can be
            first = max(cols.start, rows.start + 1)
            future = xp.arange(first, cols.stop)[:, None] > xp.arange(rows.start, rows.stop)
            xp.copyto(s[..., first - cols.start:, :], s.dtype.type(-np.inf), where=future)
        return s

    def _kept_t(self, i, j, rows, cols, t_k, batch, xp):
        """Which scores of tile (i, j) dropout keeps, bool, transposed like the scores
        (the 1/keep scale is applied to dO and to the output instead); None without
        dropout. Drawn for the whole tile (block_k keys, or up to S), also where the
        causal mask leaves only its first `cols` keys to compute."""
        if self.dropout_p == 0:
            return None
        shape_t = batch + (min(cols.start + self.block_k, t_k) - cols.start, rows.stop - rows.start)
        return _tile_kept_t(self.seed, i, j, shape_t, self.dropout_p, xp)[
            ..., :cols.stop - cols.start, :]

    def _buffer(self, batch, rows_max, xp, dtype, count=1):
        cols_max = self.block_k
        return [xp.empty(math.prod(batch) * rows_max * cols_max, dtype=dtype) for _ in range(count)]

    # -------------------------------------------------------------- forward
    def forward(self, q, k, v):
        xp = xp_of(q)
        batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
        t_q, t_k, d_v = q.shape[-2], k.shape[-2], v.shape[-1]
        dtype = q.dtype
        if t_q == 0 or t_k == 0:     # no query, or no key to attend to: output 0 (as torch)
            self.lse = xp.full(batch + (t_q, 1), np.inf, dtype=dtype)
            self.out = xp.zeros(batch + (t_q, d_v), dtype=dtype)
            return self.out
        self.block_k = min(self.block_k, t_k)
        q_scaled = q * dtype.type(self.scale)
        # the fixed shift c_i of each query (module doc), where it is safe
        if self.additive is None:
            k_norm_max = xp.sqrt((k * k).sum(axis=-1)).max(axis=-1)[..., None, None]
            bound = xp.sqrt((q_scaled * q_scaled).sum(axis=-1, keepdims=True)) * k_norm_max
        else:
            bound = xp.full(batch + (t_q, 1), np.inf, dtype=dtype)
        bound = xp.broadcast_to(bound, batch + (t_q, 1))
        fixed = bound <= SHIFT_LIMIT
        shift = xp.where(fixed, bound, 0).astype(dtype)
        q_aug = _with_column(xp.broadcast_to(q_scaled, batch + q.shape[-2:]), -shift)
        k_aug = _with_column(k, 1)
        v_aug = _with_column(v, 1)            # P [v, 1] = [P v, rowsum(P)]
        out = xp.empty(batch + (t_q, d_v), dtype=dtype)
        self.lse = xp.empty(batch + (t_q, 1), dtype=dtype)
        tiles = self._query_tiles(batch, t_q)
        rows_max = tiles[0][1].stop - tiles[0][1].start

        def work(jobs, _worker):
            s_buffer, = self._buffer(batch, rows_max, xp, dtype)
            for i, rows in jobs:
                self._forward_rows(i, rows, q_aug, k_aug, v_aug, v, shift, fixed, out,
                                   batch, s_buffer)

        _run(tiles, work, xp, math.prod(batch) * t_q * t_k)
        self.out = out
        return out

    def _forward_rows(self, i, rows, q_aug, k_aug, v_aug, v, shift, fixed, out, batch, buffer):
        """out[..., rows, :] and lse[..., rows, :] of query tile i (batch..., r, ...)."""
        xp = xp_of(q_aug)
        dtype = q_aug.dtype
        d_v = v.shape[-1]
        r = rows.stop - rows.start
        use_shift = bool(fixed[..., rows, :].all())
        # acc^T: (batch..., d_v + 1, r), the last row the normaliser l
        acc = xp.zeros(batch + (d_v + 1, r), dtype=dtype)
        m = None if use_shift else xp.full(batch + (1, r), -np.inf, dtype=dtype)
        for j, cols in self._key_tiles(rows, k_aug.shape[-2]):
            p = self._scores_t(k_aug, q_aug, rows, cols, buffer)     # (batch..., c, r)
            if not use_shift:        # the running maximum of each query's scores
                m_new = xp.maximum(m, p.max(axis=-2, keepdims=True))
                # queries that have seen no key yet (all -inf) are shifted by 0, not -inf
                m_shift = xp.where(m_new == -np.inf, dtype.type(0), m_new)
                p -= m_shift
                acc *= xp.exp(m - m_shift)       # rescales what was summed so far
                m = m_new
            xp.exp(p, out=p)
            kept = self._kept_t(i, j, rows, cols, k_aug.shape[-2], batch, xp)
            if kept is None:
                acc += v_aug[..., cols, :].swapaxes(-1, -2) @ p
            else:                    # l sums the probabilities before dropout
                acc[..., -1:, :] += p.sum(axis=-2, keepdims=True)
                xp.multiply(p, kept, out=p)
                acc[..., :-1, :] += v[..., cols, :].swapaxes(-1, -2) @ p
        if self.dropout_p:           # the kept weights' 1 / keep, once for the whole sum
            acc[..., :-1, :] *= dtype.type(1.0 / (1.0 - self.dropout_p))
        total = acc[..., -1:, :]
        seen = total > 0                              # queries that may attend to some key
        acc[..., :-1, :] /= xp.where(seen, total, 1)
        out[..., rows, :] = acc[..., :-1, :].swapaxes(-1, -2)
        # the scores were s - shift (q_aug's last column), less m where m was kept
        base = shift[..., rows, :] if use_shift else shift[..., rows, :] + m.swapaxes(-1, -2)
        with np.errstate(divide="ignore"):
            lse = base + xp.log(xp.where(seen, total, 1)).swapaxes(-1, -2)
        self.lse[..., rows, :] = xp.where(seen.swapaxes(-1, -2), lse, np.inf)

    # -------------------------------------------------------------- backward
    def backward(self, grad):
        q, k, v = (t.array for t in self.inputs)
        xp = xp_of(q)
        dtype = q.dtype
        g = grad.array
        t_q, t_k = q.shape[-2], k.shape[-2]
        batch = g.shape[:-2]
        if t_q == 0 or t_k == 0:     # nothing was attended: every gradient is 0
            return tuple(constant(xp.zeros(batch + a.shape[-2:], dtype=dtype)) if want else None
                         for a, want in zip((q, k, v), self.needs_input_grad))
        big_d = (g * self.out).sum(axis=-1, keepdims=True)     # D = rowsum(dO * O)
        # the largest finite number stands in for lse = +inf (rows that see no key), so
        # the matmul meets no infinity: exp(s - huge) is 0 all the same
        lse = xp.where(xp.isinf(self.lse), xp.finfo(dtype).max, self.lse)
        q_scaled = xp.broadcast_to(q * dtype.type(self.scale), batch + q.shape[-2:])
        q_aug = _with_column(q_scaled, -lse)                   # [q * scale, -lse]
        k_aug = _with_column(k, 1)
        dropout = self.dropout_p > 0
        if dropout:                  # (P * kept / keep)^T dO = (P * kept)^T (dO / keep)
            g = g * dtype.type(1.0 / (1.0 - self.dropout_p))
        g_aug = g if dropout else _with_column(g, -big_d)      # [dO, -D]
        v_aug = v if dropout else _with_column(v, 1)
        q_b = xp.broadcast_to(q, batch + q.shape[-2:])
        dq = xp.zeros(batch + q.shape[-2:], dtype=dtype)
        tiles = self._query_tiles(batch, t_q)
        rows_max = tiles[0][1].stop - tiles[0][1].start

        def work(jobs, _worker):
            dk = xp.zeros(batch + k.shape[-2:], dtype=dtype)   # this thread's sums
            dv = xp.zeros(batch + v.shape[-2:], dtype=dtype)
            buffers = self._buffer(batch, rows_max, xp, dtype, count=3 if dropout else 2)
            s_buffer, dp_buffer, kept_buffer = (buffers + [None])[:3]
            for i, rows in jobs:
                for j, cols in self._key_tiles(rows, t_k):
                    p = self._scores_t(k_aug, q_aug, rows, cols, s_buffer)   # P^T
                    xp.exp(p, out=p)
                    kept = self._kept_t(i, j, rows, cols, t_k, batch, xp)
                    g_i = g[..., rows, :]
                    dp = dp_buffer[:p.size].reshape(p.shape)
                    # dP^T - D^T, (batch..., c, r); with dropout dP^T (of dO / keep)
                    xp.matmul(v_aug[..., cols, :], g_aug[..., rows, :].swapaxes(-1, -2), out=dp)
                    if kept is None:
                        dv[..., cols, :] += p @ g_i
                    else:
                        dp *= kept
                        dp -= big_d[..., rows, :].swapaxes(-1, -2)
                        p_kept = xp.multiply(p, kept, out=kept_buffer[:p.size].reshape(p.shape))
                        dv[..., cols, :] += p_kept @ g_i
                    dp *= p                                       # dS^T, before the scale
                    dq[..., rows, :] += dp.swapaxes(-1, -2) @ k[..., cols, :]
                    dk[..., cols, :] += dp @ q_b[..., rows, :]
            return dk, dv

        sums = _run(tiles, work, xp, math.prod(batch) * t_q * t_k)
        dk, dv = sums[0]
        for dk_w, dv_w in sums[1:]:
            dk += dk_w
            dv += dv_w
        scale = dtype.type(self.scale)
        dq *= scale
        dk *= scale
        need = self.needs_input_grad
        return tuple(constant(d) if want else None for d, want in zip((dq, dk, dv), need))


def flash_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False,
                    scale=None, block_q=None, block_k=BLOCK_K):
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
    block_q, block_k: tile sizes (positive ints; they need not divide T or S); block_q
    None picks default_block_q. The dropout masks depend on them.
    Runs on minigrad.get_num_threads() CPU threads; the numbers do not depend on how
    many, except for the rounding of the keys' and values' gradients, summed per thread.
    """
    q, k, v = query, key, value
    xp = q.xp
    if isinstance(attn_mask, Tensor):
        attn_mask = attn_mask.array
    mask = _as_2d(None if attn_mask is None else xp.asarray(attn_mask))
    blocked = additive = None
    if mask is not None and mask.dtype == np.bool_:
        blocked = ~mask
        if not blocked.any():    # e.g. a padding mask of a batch without padding
            blocked = None       # (one pass over the mask saves one per tile)
    elif mask is not None:
        additive = mask.astype(q.dtype, copy=False)
    seed = int(generator("cpu").bit_generator.random_raw()) if dropout_p > 0 else 0
    return FlashAttention.apply(
        q, k, v, scale=1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale),
        blocked=blocked, additive=additive, is_causal=bool(is_causal), dropout_p=float(dropout_p),
        seed=seed, block_q=None if block_q is None else int(block_q), block_k=int(block_k))

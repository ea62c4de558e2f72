"""The tiled, memory-efficient attention kernel (minigrad/ops/flash_attention.py) against
the attention formula written in primitive ops, and against PyTorch: same outputs and
same gradients, over shapes, tile sizes that do and do not divide T and S, masks,
dropout, scale, float32 and float64."""
import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad.ops import dispatch
from minigrad.ops.attention import scaled_dot_product_attention_reference
from minigrad.ops.flash_attention import FlashAttention, flash_attention, tile_dropout_mask
from testutil import FRESH_CASES, require

EXAMPLES = int(os.environ.get("MINIGRAD_EXAMPLES", "15"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=not FRESH_CASES,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TOL = {np.float64: dict(rtol=1e-10, atol=1e-10), np.float32: dict(rtol=2e-4, atol=2e-5)}


def reference(q, k, v, **kw):
    """The reference attention (recorded primitive ops), its output only."""
    with mg.use_fused(False):
        return scaled_dot_product_attention_reference(q, k, v, **kw)[0]


def causal_with_dropout(q, k, v, drop):
    """Causal attention in primitive ops, the weights times a given {0, 1/keep} mask."""
    with mg.use_fused(False):
        scores = (q @ k.swapaxes(-1, -2)) / math.sqrt(q.shape[-1])
        future = np.triu(np.ones(scores.shape[-2:], bool), k=1)
        scores = mg.masked_fill(scores, mg.tensor(np.broadcast_to(future, scores.shape)),
                                -math.inf)
        return (mg.softmax(scores, -1) * mg.tensor(drop, dtype=q.dtype)) @ v


def full_dropout_mask(seed, batch, t, s, p, block_q, block_k, dtype):
    """The (batch..., T, S) mask the kernel's tiles draw, assembled."""
    mask = np.zeros(batch + (t, s), dtype)
    for i, q0 in enumerate(range(0, t, block_q)):
        for j, k0 in enumerate(range(0, s, block_k)):
            tile = mask[..., q0:q0 + block_q, k0:k0 + block_k]
            tile[...] = tile_dropout_mask(seed, i, j, tile.shape, p, np.dtype(dtype), np)
    return mask


def compare(arrays, dtype, flash_kw, ref_kw, ref=reference, tol=None):
    """Outputs and gradients (of a fixed random weighting) of both, as numpy arrays."""
    results = []
    for fn, kw in ((flash_attention, flash_kw), (ref, ref_kw)):
        xs = [mg.tensor(a, dtype=dtype, requires_grad=True) for a in arrays]
        out = fn(*xs, **kw)
        w = mg.tensor(np.random.default_rng(1).standard_normal(out.shape), dtype=dtype)
        grads = mg.grad((out * w).sum(), xs)
        results.append([out.numpy()] + [g.numpy() for g in grads])
    for a, b in zip(*results):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, **(tol or TOL[dtype]))
    return results[0]


@SETTINGS
@given(data=st.data())
def test_equals_reference_in_value_and_gradient(data):
    r = np.random.default_rng(data.draw(st.integers(0, 2**31), label="seed"))
    batch = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3))
    t, s = data.draw(st.integers(1, 13)), data.draw(st.integers(1, 13))
    d, d_v = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 4))
    block_q, block_k = data.draw(st.integers(1, 8)), data.draw(st.integers(1, 8))
    dtype = data.draw(st.sampled_from([np.float64, np.float32]))
    kind = data.draw(st.sampled_from(["none", "bool", "padding", "float", "causal",
                                      "bool+causal", "float+causal"]))
    mask = None
    if "bool" in kind:
        mask = r.random((t, s)) < 0.7
        if data.draw(st.booleans(), label="a fully masked row"):
            mask[r.integers(t)] = False
    elif kind == "padding":                         # key padding, (B, 1, 1, S) style
        mask = r.random(batch[:1] + (1,) * max(len(batch) - 1, 0) + (1, s)) < 0.8
    elif "float" in kind:
        mask = r.standard_normal(batch + (t, s))
        mask[..., r.integers(t), :] = -np.inf       # a fully masked row
        mask[..., :, r.integers(s)] = -1e4          # large but finite
    scale = data.draw(st.sampled_from([None, 0.3]))
    kw = dict(attn_mask=mask, is_causal="causal" in kind, scale=scale)
    # value shapes may broadcast against the queries' leading axes
    k_batch = batch[1:] if len(batch) and data.draw(st.booleans(), label="k broadcasts") else batch
    arrays = [r.standard_normal(batch + (t, d)), r.standard_normal(k_batch + (s, d)),
              r.standard_normal(k_batch + (s, d_v))]
    # A float32 score plus -1e4 keeps 1e-3 of its precision (float32's spacing at 1e4),
    # so two correct orders of the same sums may differ by 1e-3 in a weight there.
    tol = dict(rtol=2e-3, atol=2e-4) if dtype == np.float32 and "float" in kind else None
    compare(arrays, dtype, dict(kw, block_q=block_q, block_k=block_k), kw, tol=tol)


@pytest.mark.parametrize("block_q,block_k", [(4, 4), (3, 5), (16, 16)])
def test_dropout_masks_are_the_tiles_and_backward_redraws_them(block_q, block_k):
    """With dropout the kernel equals the formula with the mask its tiles draw, in value
    and gradient: the backward regenerates each tile's mask from (seed, i, j)."""
    r = np.random.default_rng(3)
    arrays = [r.standard_normal((2, 2, 9, 4)), r.standard_normal((2, 2, 11, 4)),
              r.standard_normal((2, 2, 11, 3))]
    mg.manual_seed(7)
    seed = int(mg.backend.generator("cpu").bit_generator.random_raw())
    drop = full_dropout_mask(seed, (2, 2), 9, 11, 0.3, block_q, block_k, np.float64)
    mg.manual_seed(7)                               # the kernel draws the same seed
    compare(arrays, np.float64, dict(is_causal=True, dropout_p=0.3, block_q=block_q,
                                     block_k=block_k), dict(drop=drop), causal_with_dropout)
    kept = drop != 0
    assert 0.6 < kept.mean() < 0.8 and np.allclose(drop[kept], 1 / 0.7)


def test_dropout_is_reproducible_with_manual_seed_and_differs_without():
    r = np.random.default_rng(0)
    q, k, v = (mg.tensor(r.standard_normal((2, 16, 4))) for _ in range(3))
    outs = []
    for seed in (1, 1, 2):
        mg.manual_seed(seed)
        outs.append(flash_attention(q, k, v, dropout_p=0.5, block_q=4, block_k=4).numpy())
    assert np.array_equal(outs[0], outs[1]) and not np.array_equal(outs[0], outs[2])


def test_gradcheck_float64():
    r = np.random.default_rng(0)
    q, k, v = (mg.tensor(r.standard_normal(s), dtype=mg.float64, requires_grad=True)
               for s in [(2, 5, 3), (2, 7, 3), (2, 7, 2)])
    mask = r.standard_normal((5, 7))
    assert mg.gradcheck(lambda a, b, c: flash_attention(a, b, c, attn_mask=mask, is_causal=True,
                                                        block_q=2, block_k=3), [q, k, v])


def test_fully_masked_rows_give_zero_output_and_zero_gradient():
    r = np.random.default_rng(0)
    q, k, v = (mg.tensor(r.standard_normal(s), requires_grad=True)
               for s in [(3, 6, 4), (3, 10, 4), (3, 10, 2)])
    mask = r.random((6, 10)) < 0.5
    mask[2] = False
    out = flash_attention(q, k, v, attn_mask=mask, block_q=4, block_k=3)
    grads = mg.grad(out.sum(), [q, k, v])
    assert np.all(out.numpy()[:, 2] == 0) and np.all(grads[0].numpy()[:, 2] == 0)
    assert all(np.isfinite(g.numpy()).all() for g in grads)


def test_keeps_the_dtype_and_is_once_differentiable():
    x = mg.randn(2, 5, 4, requires_grad=True)
    out = flash_attention(x, x, x, block_q=2, block_k=2)
    assert out.dtype == mg.float32 and out._ctx.name == FlashAttention.name
    g, = mg.grad(out.sum(), [x], create_graph=True)
    with pytest.raises(mg.errors.MinigradError, match="once-differentiable"):
        mg.grad(g.sum(), [x])


@pytest.mark.parametrize("kind", ["causal", "bool", "float"])
def test_matches_torch_scaled_dot_product_attention(kind):
    torch = require("torch")
    r = np.random.default_rng(5)
    q, k, v = r.standard_normal((2, 4, 37, 8)), r.standard_normal((2, 4, 29, 8)), \
        r.standard_normal((2, 4, 29, 8))
    mask = None
    if kind == "bool":
        mask = r.random((2, 1, 37, 29)) < 0.8
    elif kind == "float":
        mask = r.standard_normal((37, 29)).astype(np.float32)
    ours = compare([q, k, v], np.float32,
                   dict(attn_mask=mask, is_causal=kind == "causal", block_q=16, block_k=8),
                   dict(attn_mask=mask, is_causal=kind == "causal"))
    ts = [torch.tensor(a, dtype=torch.float32, requires_grad=True) for a in (q, k, v)]
    out = torch.nn.functional.scaled_dot_product_attention(
        *ts, attn_mask=None if mask is None else torch.tensor(mask), is_causal=kind == "causal")
    w = torch.tensor(np.random.default_rng(1).standard_normal(out.shape), dtype=torch.float32)
    (out * w).sum().backward()
    for a, b in zip(ours, [out] + [t.grad for t in ts]):
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=2e-4, atol=2e-5)


# ------------------------------------------------------------------ the dispatch
def test_why_not_flash_gives_reasons():
    short, long = mg.randn(1, 8, 4), mg.randn(1, 1024, 4)
    assert dispatch.why_not_flash(long, long) is None
    assert "below FLASH_MIN_SCORES" in dispatch.why_not_flash(short, long)
    assert "weights are asked for" in dispatch.why_not_flash(long, long, need_weights=True)


def recorded_names(out):
    names, stack = set(), [out._ctx]
    while stack:
        fn = stack.pop()
        names.add(fn.name)
        stack.extend(t._ctx for t in fn.inputs if t._ctx is not None)
    return names


def test_long_sequences_take_the_tiled_kernel_with_the_same_numbers(monkeypatch):
    """scaled_dot_product_attention and nn.MultiheadAttention (need_weights=False) run the
    tiled kernel from the threshold on, and equal the reference there."""
    monkeypatch.setattr(dispatch, "FLASH_MIN_SCORES", 6 * 6)
    r = np.random.default_rng(0)
    arrays = [r.standard_normal((2, 3, 6, 4)) for _ in range(3)]
    mask = r.random((2, 1, 1, 6)) < 0.8
    outs = []
    for fused in (True, False):
        xs = [mg.tensor(a, dtype=mg.float64, requires_grad=True) for a in arrays]
        with mg.use_fused(fused):
            out = mg.scaled_dot_product_attention(*xs, attn_mask=mask, is_causal=True)
        assert (FlashAttention.name in recorded_names(out)) == fused
        outs.append([out.numpy()] + [g.numpy() for g in mg.grad((out * out).sum(), xs)])
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)
    x = mg.randn(2, 6, 8, requires_grad=True)
    from minigrad.nn import MultiheadAttention
    mha = MultiheadAttention(8, 2, batch_first=True)
    out, weights = mha(x, x, x, need_weights=False, is_causal=True)
    assert weights is None and FlashAttention.name in recorded_names(out)
    out, weights = mha(x, x, x, is_causal=True)          # weights asked for: the dense kernel
    assert weights.shape == (2, 6, 6) and FlashAttention.name not in recorded_names(out)


@pytest.mark.gpu
@pytest.mark.skipif(not mg.cuda_is_available(), reason="needs CuPy and an NVIDIA GPU")
def test_on_cuda_gives_the_cpu_numbers():
    """The kernel is written with the backend's xp: on CuPy it gives the CPU's output and
    gradients (masks, causal, tiles that do not divide T); dropout runs and is finite."""
    r = np.random.default_rng(0)
    arrays = [r.standard_normal((2, 3, 11, 8)).astype(np.float32) for _ in range(3)]
    mask = r.random((2, 1, 1, 11)) < 0.8
    results = []
    for device in ("cpu", "cuda"):
        xs = [mg.tensor(a, device=device, requires_grad=True) for a in arrays]
        out = flash_attention(*xs, attn_mask=mg.tensor(mask, device=device), is_causal=True,
                              block_q=4, block_k=3)
        results.append([out.numpy()] + [g.numpy() for g in mg.grad((out * out).sum(), xs)])
        dropped = flash_attention(*xs, dropout_p=0.2, block_q=4, block_k=3)
        assert np.isfinite(dropped.numpy()).all()
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ the fast paths
@pytest.fixture
def threads_always(monkeypatch):
    """The tiled kernel's worker threads for any size (normally from PARALLEL_MIN_SCORES)."""
    from minigrad.ops import flash_attention as fa
    monkeypatch.setattr(fa, "PARALLEL_MIN_SCORES", 0)
    monkeypatch.setattr(mg.parallel, "get_num_threads", lambda: 2)


@settings(SETTINGS, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_threads_and_both_shifts_equal_the_reference(data, threads_always):
    """The query tiles on worker threads (forced here for small shapes), with the fixed
    Cauchy-Schwarz shift and with the running maximum (queries made large enough that
    their bound exceeds SHIFT_LIMIT, in some rows or all), equal the reference."""
    r = np.random.default_rng(data.draw(st.integers(0, 2**31), label="seed"))
    b, h = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 3))
    t, s, d = data.draw(st.integers(1, 40)), data.draw(st.integers(1, 40)), data.draw(st.integers(1, 6))
    q = r.standard_normal((b, h, t, d))
    big = data.draw(st.sampled_from(["none", "some rows", "all"]))
    if big != "none":
        rows = r.random(t) < 0.5 if big == "some rows" else np.ones(t, bool)
        q[..., rows, :] *= 60.0                      # bound > SHIFT_LIMIT: the running max
    arrays = [q, r.standard_normal((b, h, s, d)), r.standard_normal((b, h, s, d))]
    causal = data.draw(st.booleans(), label="causal")
    mask = (r.random((t, s)) < 0.8) if data.draw(st.booleans(), label="mask") else None
    kw = dict(attn_mask=mask, is_causal=causal)
    block_q, block_k = data.draw(st.integers(1, 12)), data.draw(st.integers(1, 12))
    compare(arrays, np.float64, dict(kw, block_q=block_q, block_k=block_k), kw)


def test_thread_count_changes_only_the_rounding_of_key_gradients(monkeypatch):
    """Outputs and query gradients are the same bits on 1 and 2 threads; the keys' and
    values' gradients (summed per thread) agree to rounding."""
    from minigrad.ops import flash_attention as fa
    monkeypatch.setattr(fa, "PARALLEL_MIN_SCORES", 0)
    r = np.random.default_rng(2)
    arrays = [r.standard_normal((2, 3, 70, 8)).astype(np.float32) for _ in range(3)]
    results = []
    for threads in (1, 2):
        monkeypatch.setattr(mg.parallel, "get_num_threads", lambda threads=threads: threads)
        xs = [mg.tensor(a, requires_grad=True) for a in arrays]
        out = flash_attention(*xs, is_causal=True, block_q=16, block_k=32)
        grads = mg.grad((out * out).sum(), xs)
        results.append([out.numpy()] + [g.numpy() for g in grads])
    assert np.array_equal(results[0][0], results[1][0])
    assert np.array_equal(results[0][1], results[1][1])
    for a, b in zip(results[0][2:], results[1][2:]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_default_tiles_and_large_inputs_equal_the_dense_kernel():
    """At the default tile sizes (several query and key tiles, threads) the kernel gives
    the dense kernel's numbers, float32, with a key padding mask and causal."""
    r = np.random.default_rng(4)
    t = 700
    arrays = [r.standard_normal((1, 8, t, 16)).astype(np.float32) for _ in range(3)]
    mask = np.ones((1, 1, 1, t), bool)
    mask[..., -37:] = False
    results = []
    for tiled in (True, False):
        xs = [mg.tensor(a, requires_grad=True) for a in arrays]
        if tiled:
            out = flash_attention(*xs, attn_mask=mask, is_causal=True)
        else:
            out = reference(*xs, attn_mask=mask, is_causal=True)
        grads = mg.grad((out * mg.tensor(arrays[0])).sum(), xs)
        results.append([out.numpy()] + [g.numpy() for g in grads])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


def test_a_bool_mask_that_blocks_nothing_is_dropped():
    x = mg.randn(1, 2, 6, 4)
    out = flash_attention(x, x, x, attn_mask=np.ones((6, 6), bool), block_q=2, block_k=2)
    assert out._ctx is None or out._ctx.blocked is None
    x.requires_grad_(True)
    out = flash_attention(x, x, x, attn_mask=np.ones((6, 6), bool), block_q=2, block_k=2)
    assert out._ctx.blocked is None
    assert np.array_equal(out.numpy(), flash_attention(x, x, x, block_q=2, block_k=2).numpy())


@pytest.mark.parametrize("t,s", [(0, 5), (5, 0), (0, 0)])
def test_no_queries_or_no_keys(t, s):
    """As torch: no queries give an empty output; no keys give zeros (nothing to attend)."""
    q = mg.randn(2, t, 4, requires_grad=True)
    k, v = mg.randn(2, s, 4, requires_grad=True), mg.randn(2, s, 3, requires_grad=True)
    out = flash_attention(q, k, v, is_causal=True)
    assert out.shape == (2, t, 3) and not out.numpy().any()
    grads = mg.grad(out.sum(), [q, k, v])
    assert [g.shape for g in grads] == [(2, t, 4), (2, s, 4), (2, s, 3)]
    assert not any(g.numpy().any() for g in grads)

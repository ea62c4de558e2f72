"""The optimised paths give the numbers of the straightforward ones.

Each fast kernel (fused linear, attention on packed projections, 16-bit dropout
masks, sort-and-reduceat embedding backward, in-place cross-entropy) is checked
against finite differences and against the plain composition of primitive ops.
"""
import os

import numpy as np
import pytest

import minigrad as mg
from minigrad.ops import linear
from minigrad.ops.attention import scaled_dot_product_attention_with_weights as attention
from testutil import assert_close, require_torch

F64 = dict(dtype="float64", requires_grad=True)


@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4), (2, 1, 3, 4), (0, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradcheck_and_reference(shape, bias):
    x = mg.randn(*shape, **F64)
    w = mg.randn(3, 4, **F64)
    b = mg.randn(3, **F64) if bias else None
    inputs = [x, w] + ([b] if bias else [])
    if x.numel():
        assert mg.gradcheck(lambda *a: linear(*a), inputs)
    fused = linear(x, w, b)
    with mg.use_fused(False):
        reference = linear(x, w, b)
    assert_close(fused, reference.numpy())
    assert fused.shape == shape[:-1] + (3,)


def test_linear_matches_torch_and_supports_double_backward():
    torch = require_torch()
    x = mg.randn(2, 5, 4, requires_grad=True)
    w = mg.randn(3, 4, requires_grad=True)
    b = mg.randn(3, requires_grad=True)
    out = linear(x, w, b)
    (out * out).sum().backward()
    xt, wt, bt = (torch.tensor(t.numpy(), requires_grad=True) for t in (x, w, b))
    ot = torch.nn.functional.linear(xt, wt, bt)
    (ot * ot).sum().backward()
    assert_close(out, ot)
    for mine, theirs in ((x, xt), (w, wt), (b, bt)):
        assert_close(mine.grad, theirs.grad, rtol=1e-4, atol=1e-4)
    # the linear op's backward is built from primitive ops under create_graph
    x64, w64 = mg.randn(3, 4, **F64), mg.randn(2, 4, **F64)
    (gx,) = mg.grad((linear(x64, w64) ** 2).sum(), [x64], create_graph=True)
    (hx,) = mg.grad(gx.sum(), [w64])
    xt, wt = torch.tensor(x64.numpy(), requires_grad=True), torch.tensor(w64.numpy(), requires_grad=True)
    (gxt,) = torch.autograd.grad((torch.nn.functional.linear(xt, wt) ** 2).sum(), [xt], create_graph=True)
    (hxt,) = torch.autograd.grad(gxt.sum(), [wt])
    assert_close(hx, hxt)


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("dropout_p", [0.0, 0.3])
def test_packed_attention_equals_unpacked(causal, dropout_p):
    qkv = mg.randn(3, 2, 2, 5, 4, requires_grad=True)
    weights = mg.randn(2, 2, 5, 4)
    mg.manual_seed(7)
    out, attn = attention(qkv[0], qkv[1], qkv[2], is_causal=causal, dropout_p=dropout_p,
                          packed=qkv)
    (out * weights).sum().backward()
    packed_grad = qkv.grad.numpy()

    qkv2 = mg.tensor(qkv.numpy(), requires_grad=True)
    mg.manual_seed(7)
    out2, attn2 = attention(qkv2[0], qkv2[1], qkv2[2], is_causal=causal, dropout_p=dropout_p)
    (out2 * weights).sum().backward()
    assert_close(out, out2.numpy())
    assert_close(attn, attn2.numpy())
    assert_close(packed_grad, qkv2.grad.numpy())


def test_packed_cross_attention_gradcheck_and_reference():
    q = mg.randn(2, 3, 4, **F64)
    kv = mg.randn(2, 2, 5, 4, **F64)
    mask = np.ones((2, 1, 5), dtype=bool)          # True: may attend
    mask[1, :, 3:] = False

    def cross(a, b):
        return attention(a, b[0], b[1], attn_mask=mask, packed=b)[0]
    assert mg.gradcheck(cross, [q, kv])
    assert cross(q, kv)._ctx.inputs[1] is kv      # the kernel read the packed tensor
    with mg.use_fused(False):
        reference = cross(q, kv)
    assert_close(cross(q, kv), reference.numpy())


def test_packed_attention_rejects_tensors_that_are_not_its_views():
    qkv = mg.randn(3, 2, 5, 4, requires_grad=True)
    other = mg.randn(3, 2, 5, 4)
    with pytest.raises(mg.ShapeError, match=r"packed of shape \(3, 2, 5, 4\) must hold"):
        attention(qkv[0], qkv[1], other[2], packed=qkv)
    with pytest.raises(mg.ShapeError, match=r"must hold"):
        attention(qkv[0], qkv[1], qkv[2], packed=mg.randn(3, 2, 5, 4))


def test_fast_dropout_mask_rate_scale_and_seed():
    from minigrad.ops.dropout import dropout_mask
    for p in (0.1, 0.5):
        mask = dropout_mask((400, 500), p, np.dtype(np.float32), "cpu")
        kept = mask != 0
        assert mask.dtype == np.float32
        assert abs(kept.mean() - (1 - p)) < 0.005
        np.testing.assert_array_equal(mask[kept], np.float32(1 / (1 - p)))
    mg.manual_seed(3)
    a = dropout_mask((7, 9), 0.5, np.dtype(np.float64), "cpu")
    mg.manual_seed(3)
    b = dropout_mask((7, 9), 0.5, np.dtype(np.float64), "cpu")
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.float64


def test_embedding_backward_equals_scatter_add():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 20, (8, 30))                 # many repeats
    w = mg.randn(20, 6, requires_grad=True)
    g = rng.standard_normal((8, 30, 6)).astype(np.float32)
    mg.embedding(mg.tensor(ids), w, padding_idx=3).backward(mg.tensor(g))
    expected = np.zeros((20, 6), np.float32)
    np.add.at(expected, ids.reshape(-1), g.reshape(-1, 6))
    expected[3] = 0
    np.testing.assert_allclose(w.grad.numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_backward_twice_with_retain_graph(smoothing):
    """The fused backward reuses its softmax buffer only when the graph is not retained."""
    x = mg.randn(6, 5, requires_grad=True)
    loss = mg.cross_entropy(x, mg.tensor([0, 4, -100, 2, 2, 1]), label_smoothing=smoothing)
    loss.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first, rtol=1e-6)
    with mg.use_fused(False):
        y = mg.tensor(x.numpy(), requires_grad=True)
        mg.cross_entropy(y, mg.tensor([0, 4, -100, 2, 2, 1]), label_smoothing=smoothing).backward()
    np.testing.assert_allclose(first, y.grad.numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(), (7,), (3, 5, 8)])
def test_gelu_tanh_in_place_kernel_equals_the_reference(shape, dtype):
    """The tanh GELU's forward and backward work in place on two arrays (issue 17): the
    same values and gradients as gelu_reference's primitive ops, and float64 gradcheck."""
    from minigrad.ops.activation import gelu_reference
    rng = np.random.default_rng(0)
    x_np = (rng.standard_normal(shape) * 3).astype(dtype)
    g_np = rng.standard_normal(shape).astype(dtype)
    results = []
    for fn in (lambda t: mg.gelu(t, approximate="tanh"),
               lambda t: gelu_reference(t, approximate="tanh")):
        x = mg.tensor(x_np, requires_grad=True)
        y = fn(x)
        y.backward(mg.tensor(g_np))
        results.append((y.numpy(), x.grad.numpy()))
    (y_fused, g_fused), (y_ref, g_ref) = results
    assert y_fused.dtype == y_ref.dtype == np.dtype(dtype) and y_fused.shape == shape
    tol = 1e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(y_fused, y_ref, rtol=tol, atol=tol)
    np.testing.assert_allclose(g_fused, g_ref, rtol=tol, atol=tol)
    if dtype == "float64":
        assert mg.gradcheck(lambda t: mg.gelu(t, approximate="tanh"),
                            [mg.tensor(x_np, requires_grad=True)])


def test_dropout_backward_without_and_with_a_graph_of_the_gradient():
    """The plain backward multiplies arrays; create_graph records a differentiable one."""
    x = mg.randn(6, 7, requires_grad=True)
    mg.manual_seed(1)
    y = mg.dropout(x, 0.3)
    mask = y.grad_fn.mask
    g = mg.randn(6, 7)
    y.backward(g)
    np.testing.assert_array_equal(x.grad.numpy(), g.numpy() * mask)
    x2 = mg.randn(6, 7, dtype="float64", requires_grad=True)
    mg.manual_seed(1)
    (gx,) = mg.grad((mg.dropout(x2, 0.3) ** 2).sum(), [x2], create_graph=True)
    assert gx.requires_grad
    (ggx,) = mg.grad(gx.sum(), [x2])
    mg.manual_seed(1)
    again = mg.dropout(mg.ones(6, 7, dtype="float64"), 0.3).numpy()
    np.testing.assert_allclose(ggx.numpy(), 2 * again ** 2)


def test_keep_freed_memory_is_a_setting_that_changes_no_numbers():
    """In a child process: the setting is process-wide (malloc's), not for this one."""
    import subprocess
    import sys
    code = ("import numpy as np, minigrad as mg\n"
            "def grad():\n"
            "    mg.manual_seed(0)\n"
            "    x = mg.randn(64, 256, requires_grad=True)\n"
            "    mg.dropout(mg.gelu(x, approximate='tanh'), 0.1).sum().backward()\n"
            "    return x.grad.numpy()\n"
            "kept = mg.freed_memory_kept()\n"
            "before = grad()\n"
            "assert mg.keep_freed_memory(False) == kept\n"
            "assert not mg.freed_memory_kept()\n"
            "np.testing.assert_array_equal(grad(), before)\n"
            "assert mg.keep_freed_memory() == kept == mg.freed_memory_kept()\n"
            "print('ok', kept)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.startswith("ok"), out.stderr[-2000:]
    if sys.platform.startswith("linux"):        # glibc: on by default at import
        assert out.stdout.split()[1] == "True", out.stdout


@pytest.mark.parametrize("value, kept", [("0", False), ("1", True), (" 1 ", True), ("", None),
                                         ("yes", None)])
def test_keep_freed_memory_env_variable_sets_it_at_import(value, kept):
    """MINIGRAD_KEEP_FREED_MEMORY=0 leaves malloc alone; 1 (or unset) keeps freed memory;
    anything else stops the import with an error naming the variable and the values."""
    import subprocess
    import sys
    env = dict(os.environ, MINIGRAD_KEEP_FREED_MEMORY=value)
    out = subprocess.run([sys.executable, "-c", "import minigrad as mg; print(mg.freed_memory_kept())"],
                         capture_output=True, text=True, timeout=300, env=env)
    if kept is None:
        assert out.returncode != 0
        assert "MINIGRAD_KEEP_FREED_MEMORY" in out.stderr and "expected 1" in out.stderr, out.stderr
    else:
        assert out.returncode == 0, out.stderr[-2000:]
        if sys.platform.startswith("linux"):
            assert out.stdout.strip() == str(kept)


def _dense_attention_run(layout, mask, dropout_p, monkeypatch, threads=1, key_major_from=2):
    """Outputs, weights and the packed gradient of the dense kernel on fixed data, with
    `threads` threads (forced for these small shapes) and the scores held key-major
    from `key_major_from` queries (attention.KEY_MAJOR_MIN_QUERIES)."""
    import minigrad.ops.attention as attention
    r = np.random.default_rng(0)
    x = r.standard_normal((3, 5, 2, 7, 4)).astype(np.float32)     # (3 parts, B, h, T, d)
    weighting = mg.tensor(r.standard_normal((5, 2, 7, 4)).astype(np.float32))
    m = {None: None, "causal": None,
         "padding": r.random((5, 1, 1, 7)) < 0.8,
         "float": r.standard_normal((7, 7)).astype(np.float32)}[mask]
    sdpa = mg.ops.attention.scaled_dot_product_attention_with_weights
    monkeypatch.setattr(attention, "PARALLEL_MIN_SCORES", 0)
    monkeypatch.setattr(attention, "KEY_MAJOR_MIN_QUERIES", key_major_from)
    monkeypatch.setattr(mg.parallel, "get_num_threads", lambda: threads)
    packed = mg.tensor(x, requires_grad=True)
    q, k, v = packed[0], packed[1], packed[2]
    mg.manual_seed(3)
    kw = dict(attn_mask=m, dropout_p=dropout_p, is_causal=mask == "causal")
    if layout == "qkv":
        out, w = sdpa(q, k, v, packed=packed, **kw)
    elif layout == "q,kv":
        kv = packed[1:]
        out, w = sdpa(q, kv[0], kv[1], packed=kv, **kw)
    else:
        out, w = sdpa(q * 1.0, k * 1.0, v * 1.0, **kw)
    (out * weighting).sum().backward()
    return [out.numpy(), w.numpy(), packed.grad.numpy()]


@pytest.mark.parametrize("layout", ["q,k,v", "qkv", "q,kv"])
@pytest.mark.parametrize("mask", [None, "padding", "causal", "float"])
@pytest.mark.parametrize("dropout_p", [0.0, 0.3])
def test_dense_attention_on_threads_gives_the_same_bits(layout, mask, dropout_p, monkeypatch):
    """The dense attention kernel splits its batch over threads (forced here for small
    shapes): outputs, weights and gradients equal the one-thread kernel bit for bit."""
    one, two = (_dense_attention_run(layout, mask, dropout_p, monkeypatch, threads=n)
                for n in (1, 2))
    for a, b in zip(one, two):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("layout", ["q,k,v", "qkv", "q,kv"])
@pytest.mark.parametrize("mask", [None, "padding", "causal", "float"])
@pytest.mark.parametrize("dropout_p", [0.0, 0.3])
@pytest.mark.parametrize("threads", [1, 2])
def test_dense_attention_key_major_scores_equal_query_major(layout, mask, dropout_p, threads,
                                                          monkeypatch):
    """The scores held key-major (the default from 2 queries) or query-major (as for one
    query) give the same outputs, weights and gradients up to float32 rounding."""
    key_major, query_major = (
        _dense_attention_run(layout, mask, dropout_p, monkeypatch, threads, key_major_from=n)
        for n in (0, 10 ** 9))
    for a, b in zip(key_major, query_major):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layout", ["q,k,v", "qkv", "q,kv"])
@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_fused_attention_weights_carry_the_references_gradient(layout, dropout):
    """A loss on the returned weights (and the output) gives the reference's gradients:
    the fused kernel's weights come from AttentionWeights, not detached."""
    from minigrad.ops.attention import (scaled_dot_product_attention_reference,
                                        scaled_dot_product_attention_with_weights)
    rng = np.random.default_rng(1)
    q0, k0, v0 = (rng.standard_normal((2, 3, 5, 4)) for _ in range(3))
    w_out, w_w = rng.standard_normal((2, 3, 5, 4)), rng.standard_normal((2, 3, 5, 5))
    mask = mg.tensor(rng.standard_normal((5, 5)) > -0.5)
    results = []
    for fused in (True, False):
        if layout == "qkv":
            leaves = [mg.tensor(np.stack([q0, k0, v0]), requires_grad=True)]
            (q, k, v), packed = leaves[0].unbind(0), leaves[0]
        elif layout == "q,kv":
            leaves = [mg.tensor(q0, requires_grad=True),
                      mg.tensor(np.stack([k0, v0]), requires_grad=True)]
            (q, (k, v)), packed = (leaves[0], leaves[1].unbind(0)), leaves[1]
        else:
            leaves = [mg.tensor(a, requires_grad=True) for a in (q0, k0, v0)]
            (q, k, v), packed = leaves, None
        mg.manual_seed(0)
        if fused:
            out, weights = scaled_dot_product_attention_with_weights(
                q, k, v, attn_mask=mask, dropout_p=dropout, packed=packed)
            assert weights.grad_fn.name == "attention_weights"
        else:
            out, weights = scaled_dot_product_attention_reference(q, k, v, attn_mask=mask,
                                                                  dropout_p=dropout)
        ((out * mg.tensor(w_out)).sum() + (weights * mg.tensor(w_w)).sum()).backward()
        results.append([t.grad.numpy() for t in leaves] + [out.numpy(), weights.numpy()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)

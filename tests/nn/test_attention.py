"""MultiheadAttention: equal to torch.nn.MultiheadAttention with the same weights, masks
combined as PyTorch does, clear errors for bad inputs, finite results when a row is fully masked."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.errors import DTypeError, ShapeError
from testutil import require_torch

E, H, T, S, B = 48, 3, 5, 7, 2


@pytest.fixture
def torch():
    torch = require_torch()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(threads)


def _pair(torch, batch_first=False, bias=True):
    m = nn.MultiheadAttention(E, H, batch_first=batch_first, bias=bias)
    ref = torch.nn.MultiheadAttention(E, H, batch_first=batch_first, bias=bias)
    ref.load_state_dict({k: torch.tensor(v.numpy()) for k, v in m.state_dict().items()})
    return m, ref


def _x(rng, length, batch_first):
    shape = (B, length, E) if batch_first else (length, B, E)
    return rng.standard_normal(shape).astype(np.float32)


def _check_grads(m, ref, inputs, ref_inputs):
    for x, rx in zip(inputs, ref_inputs):
        np.testing.assert_allclose(x.grad.numpy(), rx.grad.numpy(), rtol=1e-4, atol=1e-5)
    ref_params = dict(ref.named_parameters())
    for name, p in m.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), ref_params[name].grad.numpy(), rtol=1e-4,
                                   atol=1e-5, err_msg=name)


def _masks(kind):
    """attn_mask (T, S) and key_padding_mask (B, S) of one kind, or None."""
    causal = np.triu(np.ones((T, S), bool), k=S - T + 1)
    pad = np.zeros((B, S), bool)
    pad[1, -3:] = True
    if kind == "none":
        return None, None
    if kind == "bool":
        return causal, pad
    if kind == "float":
        return (np.where(causal, -np.inf, 0).astype(np.float32),
                np.where(pad, -np.inf, 0).astype(np.float32))
    if kind == "additive":            # finite additive biases, both masks
        rng = np.random.default_rng(5)
        return (rng.standard_normal((T, S)).astype(np.float32),
                rng.standard_normal((B, S)).astype(np.float32))
    if kind == "per_head":            # (B * H, T, S) attention mask
        rng = np.random.default_rng(6)
        m = rng.random((B * H, T, S)) < 0.3
        m[:, :, 0] = False            # keep one key per query
        return m, None
    raise AssertionError(kind)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("mask_kind", ["none", "bool", "float", "additive", "per_head"])
@pytest.mark.parametrize("average", [True, False])
def test_cross_attention_matches_torch(torch, batch_first, mask_kind, average):
    rng = np.random.default_rng(0)
    m, ref = _pair(torch, batch_first)
    q, kv = _x(rng, T, batch_first), _x(rng, S, batch_first)
    attn_mask, pad = _masks(mask_kind)
    mq, mkv = mg.tensor(q, requires_grad=True), mg.tensor(kv, requires_grad=True)
    tq, tkv = torch.tensor(q, requires_grad=True), torch.tensor(kv, requires_grad=True)
    out, w = m(mq, mkv, mkv, key_padding_mask=pad, attn_mask=attn_mask,
               average_attn_weights=average)
    t_out, t_w = ref(tq, tkv, tkv,
                     key_padding_mask=None if pad is None else torch.tensor(pad),
                     attn_mask=None if attn_mask is None else torch.tensor(attn_mask),
                     average_attn_weights=average)
    np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(w.numpy(), t_w.detach().numpy(), rtol=1e-5, atol=1e-6)
    g = rng.standard_normal(out.shape).astype(np.float32)
    (out * mg.tensor(g)).sum().backward()
    (t_out * torch.tensor(g)).sum().backward()
    _check_grads(m, ref, [mq, mkv], [tq, tkv])


@pytest.mark.parametrize("batch_first", [False, True])
def test_self_attention_matches_torch(torch, batch_first):
    rng = np.random.default_rng(1)
    m, ref = _pair(torch, batch_first)
    x = _x(rng, T, batch_first)
    causal = np.triu(np.ones((T, T), bool), k=1)
    mx, tx = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, w = m(mx, mx, mx, attn_mask=causal, average_attn_weights=False)
    t_out, t_w = ref(tx, tx, tx, attn_mask=torch.tensor(causal), average_attn_weights=False)
    np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(w.numpy(), t_w.detach().numpy(), rtol=1e-5, atol=1e-6)
    (out ** 2).sum().backward()
    (t_out ** 2).sum().backward()
    _check_grads(m, ref, [mx], [tx])


def test_distinct_key_and_value_and_no_bias_match_torch(torch):
    rng = np.random.default_rng(2)
    m, ref = _pair(torch, batch_first=True, bias=False)
    q, k, v = _x(rng, T, True), _x(rng, S, True), _x(rng, S, True)
    out, w = m(mg.tensor(q), mg.tensor(k), mg.tensor(v))
    t_out, t_w = ref(torch.tensor(q), torch.tensor(k), torch.tensor(v))
    np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(w.numpy(), t_w.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert m.in_proj_bias is None and m.out_proj.bias is None


def test_unbatched_input_matches_torch(torch):
    rng = np.random.default_rng(3)
    m, ref = _pair(torch)
    q = rng.standard_normal((T, E)).astype(np.float32)
    kv = rng.standard_normal((S, E)).astype(np.float32)
    pad = np.zeros(S, bool)
    pad[-2:] = True
    out, w = m(mg.tensor(q), mg.tensor(kv), mg.tensor(kv), key_padding_mask=pad)
    t_out, t_w = ref(torch.tensor(q), torch.tensor(kv), torch.tensor(kv),
                     key_padding_mask=torch.tensor(pad))
    assert out.shape == (T, E) and w.shape == (T, S)
    np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(w.numpy(), t_w.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_is_causal_equals_explicit_causal_mask():
    m = nn.MultiheadAttention(E, H, batch_first=True)
    x = mg.randn(B, T, E)
    a, wa = m(x, x, x, is_causal=True)
    b, wb = m(x, x, x, attn_mask=np.triu(np.ones((T, T), bool), k=1))
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6)
    assert np.all(np.triu(wa.numpy()[0], k=1) == 0)


def test_need_weights_false_returns_none():
    m = nn.MultiheadAttention(E, H)
    x = mg.randn(T, B, E)
    out, w = m(x, x, x, need_weights=False)
    assert w is None and out.shape == (T, B, E)


def test_composed_ops_equal_fused_kernel():
    """use_fused(False) records every step of attention (for the graph pictures): same numbers."""
    m = nn.MultiheadAttention(E, H, batch_first=True)
    x = mg.randn(B, T, E, requires_grad=True)
    pad = np.zeros((B, T), bool)
    pad[0, -1] = True
    out, _ = m(x, x, x, key_padding_mask=pad, is_causal=True)
    (out ** 2).sum().backward()
    g_fused = x.grad.numpy().copy()
    x.grad = None
    with mg.use_fused(False):
        out2, _ = m(x, x, x, key_padding_mask=pad, is_causal=True)
        (out2 ** 2).sum().backward()
    np.testing.assert_allclose(out.numpy(), out2.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g_fused, x.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_fully_masked_query_row_is_finite():
    """A query that may see no key at all gets zero attention, not NaN, and finite gradients."""
    m = nn.MultiheadAttention(E, H, batch_first=True)
    q = mg.randn(B, T, E, requires_grad=True)
    kv = mg.randn(B, S, E, requires_grad=True)
    attn_mask = np.zeros((T, S), bool)
    attn_mask[2] = True                       # query 2 blocked from every key
    pad = np.zeros((B, S), bool)
    pad[1] = True                             # sentence 1: every key is padding
    out, w = m(q, kv, kv, attn_mask=attn_mask, key_padding_mask=pad)
    (out ** 2).sum().backward()
    for t in (out, w, q.grad, kv.grad, m.in_proj_weight.grad, m.out_proj.weight.grad):
        assert np.isfinite(t.numpy()).all()
    assert np.all(w.numpy()[:, 2] == 0) and np.all(w.numpy()[1] == 0)


def test_dropout_on_weights_only_in_training():
    m = nn.MultiheadAttention(E, H, dropout=0.5, batch_first=True)
    x = mg.randn(B, T, E)
    a, _ = m(x, x, x)
    b, _ = m(x, x, x)
    assert not np.allclose(a.numpy(), b.numpy())
    m.eval()
    c, _ = m(x, x, x)
    d, _ = m(x, x, x)
    np.testing.assert_array_equal(c.numpy(), d.numpy())


def test_init_like_pytorch():
    m = nn.MultiheadAttention(64, 4)
    bound = np.sqrt(6.0 / (64 + 3 * 64))      # Xavier-uniform over the (3E, E) packed weight
    w = m.in_proj_weight.numpy()
    assert w.shape == (192, 64) and np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.all(m.in_proj_bias.numpy() == 0) and np.all(m.out_proj.bias.numpy() == 0)
    assert nn.MultiHeadAttention is nn.MultiheadAttention


# ------------------------------------------------------------------ bad input
def test_nhead_must_divide_embed_dim():
    with pytest.raises(ShapeError, match=r"num_heads=5 does not divide embed_dim=48"):
        nn.MultiheadAttention(48, 5)


def test_wrong_embedding_dimension():
    m = nn.MultiheadAttention(E, H)
    with pytest.raises(ShapeError, match=r"query has embedding dimension 40, expected "
                                         r"embed_dim=48 \(query shape \(5, 2, 40\)\)"):
        m(mg.randn(T, B, 40), mg.randn(S, B, E), mg.randn(S, B, E))
    with pytest.raises(ShapeError, match=r"key has embedding dimension 40"):
        m(mg.randn(T, B, E), mg.randn(S, B, 40), mg.randn(S, B, E))


def test_batch_and_length_mismatch():
    m = nn.MultiheadAttention(E, H, batch_first=True)
    with pytest.raises(ShapeError, match=r"different batch sizes 2 and 3"):
        m(mg.randn(2, T, E), mg.randn(3, S, E), mg.randn(3, S, E))
    with pytest.raises(ShapeError, match=r"key \(2, 7, 48\) and value \(2, 6, 48\)"):
        m(mg.randn(2, T, E), mg.randn(2, S, E), mg.randn(2, S - 1, E))


def test_mask_of_wrong_shape():
    m = nn.MultiheadAttention(E, H)
    q, kv = mg.randn(T, B, E), mg.randn(S, B, E)
    with pytest.raises(ShapeError, match=r"attn_mask of shape \(5, 5\) does not fit: expected "
                                         r"\(5, 7\) or .* \(6, 5, 7\)"):
        m(q, kv, kv, attn_mask=np.zeros((T, T), bool))
    with pytest.raises(ShapeError, match=r"key_padding_mask of shape \(7, 2\) does not fit: "
                                         r"expected \(batch, S\) = \(2, 7\)"):
        m(q, kv, kv, key_padding_mask=np.zeros((S, B), bool))


def test_mask_of_wrong_dtype():
    m = nn.MultiheadAttention(E, H)
    q, kv = mg.randn(T, B, E), mg.randn(S, B, E)
    with pytest.raises(DTypeError, match=r"attn_mask must be bool .* got dtype int64"):
        m(q, kv, kv, attn_mask=np.zeros((T, S), np.int64))
    with pytest.raises(DTypeError, match=r"key_padding_mask must be bool .* got dtype int32"):
        m(q, kv, kv, key_padding_mask=np.zeros((B, S), np.int32))


def _seeded_mha(lib):
    """An 8-wide, 2-head batch-first float64 MultiheadAttention of `lib` (minigrad or
    torch) with the same drawn weights in both."""
    mha = lib.nn.MultiheadAttention(8, 2, batch_first=True).double()
    with lib.no_grad():
        for i, p in enumerate(mha.parameters()):
            p.copy_(lib.tensor(np.random.default_rng(i).standard_normal(tuple(p.shape)) * 0.3))
    return mha


def test_a_learned_float_attn_mask_gets_torchs_gradient():
    """A relative-position / ALiBi-style bias passed as attn_mask is a Parameter: it must
    get its gradient (the fused kernel holds masks as constants, so it goes by the graph)."""
    torch = require_torch()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 8))
    bias = rng.standard_normal((5, 5)) * 0.5
    pad = np.array([[False] * 5, [False, False, False, True, True]])
    grads = []
    for lib in (mg, torch):
        mha = _seeded_mha(lib)
        rel = lib.nn.Parameter(lib.tensor(bias))
        out, _ = mha(lib.tensor(x), lib.tensor(x), lib.tensor(x), attn_mask=rel,
                     key_padding_mask=lib.tensor(pad), need_weights=False)
        (out * out).sum().backward()
        grads.append(rel.grad.numpy().copy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-9, atol=1e-12)
    assert np.abs(grads[0]).sum() > 0


def test_multihead_attention_weights_backpropagate_as_torch():
    """A loss on the returned (averaged) attention weights reaches the projections."""
    torch = require_torch()
    x = np.random.default_rng(2).standard_normal((2, 4, 8))
    grads = []
    for lib in (mg, torch):
        mha = _seeded_mha(lib)
        _, weights = mha(lib.tensor(x), lib.tensor(x), lib.tensor(x))
        (weights * weights.log()).sum().backward()          # an entropy term
        grads.append(mha.in_proj_weight.grad.numpy().copy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-8, atol=1e-12)


def test_keys_and_values_of_other_widths_as_torch():
    """kdim / vdim: three projections under torch's names and order, torch's numbers."""
    torch = require_torch()
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((2, 3, 8)), rng.standard_normal((2, 5, 6)), \
        rng.standard_normal((2, 5, 4))
    res = []
    for lib in (mg, torch):
        mha = lib.nn.MultiheadAttention(8, 2, kdim=6, vdim=4, batch_first=True).double()
        with lib.no_grad():
            for i, (_, p) in enumerate(sorted(mha.named_parameters())):
                p.copy_(lib.tensor(np.random.default_rng(i).standard_normal(tuple(p.shape)) * 0.3))
        Q, K, V = (lib.tensor(a, requires_grad=True) for a in (q, k, v))
        out, weights = mha(Q, K, V)
        (out.sum() + (weights * weights).sum()).backward()
        res.append([[n for n, _ in mha.named_parameters()], out.detach().numpy(),
                    K.grad.numpy(), V.grad.numpy(), mha.k_proj_weight.grad.numpy()])
    assert res[0][0] == res[1][0]
    for a, b in zip(res[0][1:], res[1][1:]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    with pytest.raises(ShapeError, match="key has embedding dimension 8, expected kdim=6"):
        mg.nn.MultiheadAttention(8, 2, kdim=6, vdim=4)(mg.zeros(3, 1, 8), mg.zeros(5, 1, 8),
                                                       mg.zeros(5, 1, 4))

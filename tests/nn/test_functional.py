"""minigrad.nn.functional against torch.nn.functional: values and every gradient in float64
over shapes drawn by hypothesis, a float64 finite-difference gradcheck per function, and
the errors for bad arguments."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minigrad as mg
import minigrad.nn.functional as F
from testutil import require_torch

settings.register_profile("functional", max_examples=15, deadline=None)


def _x(shape, rng, positive=False, requires_grad=True):
    a = rng.uniform(0.1, 1.0, shape) if positive else rng.normal(size=shape)
    return mg.tensor(a, dtype=mg.float64, requires_grad=requires_grad)


def _prob(shape, rng, axis=-1):
    p = rng.uniform(0.05, 1.0, shape)
    p[..., 0] = 0.0 if p.ndim and p.shape[-1] > 2 else p[..., 0]   # a zero target: xlogy
    return p / p.sum(axis, keepdims=True)


def _ids(rng, c, shape, ignore=None):
    ids = rng.integers(0, c, shape)
    if ignore is not None and ids.size:
        ids.flat[0] = ignore
    return ids


# name -> builder(rng, shape) -> (minigrad fn, torch fn, float64 input arrays, grad flags)
def _cases():
    def unary(mgf, tf):
        return lambda rng, s: (mgf, tf, [rng.normal(size=s)], [True])

    def loss2(mgf, tf):
        return lambda rng, s: (mgf, tf, [rng.normal(size=s), rng.normal(size=s)], [True, True])

    return {
        "relu": unary(F.relu, lambda t, x: t.nn.functional.relu(x)),
        "gelu": unary(F.gelu, lambda t, x: t.nn.functional.gelu(x)),
        "gelu_tanh": unary(lambda x: F.gelu(x, approximate="tanh"),
                           lambda t, x: t.nn.functional.gelu(x, approximate="tanh")),
        "silu": unary(F.silu, lambda t, x: t.nn.functional.silu(x)),
        "leaky_relu": unary(lambda x: F.leaky_relu(x, 0.2),
                            lambda t, x: t.nn.functional.leaky_relu(x, 0.2)),
        "elu": unary(F.elu, lambda t, x: t.nn.functional.elu(x)),
        "logsigmoid": unary(lambda x: F.logsigmoid(x * 20), lambda t, x: t.nn.functional.logsigmoid(x * 20)),
        "mish": unary(F.mish, lambda t, x: t.nn.functional.mish(x)),
        "glu": lambda rng, s: (F.glu, lambda t, x: t.nn.functional.glu(x),
                               [rng.normal(size=s[:-1] + (2 * s[-1],))], [True]),
        "elu_alpha": unary(lambda x: F.elu(x * 30, alpha=0.5),       # exp must not overflow
                           lambda t, x: t.nn.functional.elu(x * 30, alpha=0.5)),
        "softplus": unary(F.softplus, lambda t, x: t.nn.functional.softplus(x)),
        "softplus_beta": unary(lambda x: F.softplus(x * 10, beta=2.0, threshold=5.0),
                               lambda t, x: t.nn.functional.softplus(x * 10, beta=2.0, threshold=5.0)),
        "hardtanh": unary(lambda x: F.hardtanh(x, -0.5, 0.75),
                          lambda t, x: t.nn.functional.hardtanh(x, -0.5, 0.75)),
        "relu6": unary(lambda x: F.relu6(x * 5), lambda t, x: t.nn.functional.relu6(x * 5)),
        "selu": unary(lambda x: F.selu(x * 3), lambda t, x: t.nn.functional.selu(x * 3)),
        # (alpha 1 here: see test_celu_with_alpha_matches_torch_and_finite_differences)
        "celu": unary(lambda x: F.celu(x * 3), lambda t, x: t.nn.functional.celu(x * 3)),
        "softsign": unary(F.softsign, lambda t, x: t.nn.functional.softsign(x)),
        "threshold": unary(lambda x: F.threshold(x, 0.1, -2.0),
                           lambda t, x: t.nn.functional.threshold(x, 0.1, -2.0)),
        "softmin": unary(lambda x: F.softmin(x, dim=-1), lambda t, x: t.nn.functional.softmin(x, dim=-1)),
        "tanh": unary(F.tanh, lambda t, x: t.nn.functional.tanh(x)),
        "sigmoid": unary(F.sigmoid, lambda t, x: t.nn.functional.sigmoid(x)),
        "softmax": unary(lambda x: F.softmax(x, dim=-1), lambda t, x: t.nn.functional.softmax(x, dim=-1)),
        "log_softmax0": unary(lambda x: F.log_softmax(x, dim=0),
                              lambda t, x: t.nn.functional.log_softmax(x, dim=0)),
        "normalize": unary(lambda x: F.normalize(x, dim=-1),
                           lambda t, x: t.nn.functional.normalize(x, dim=-1)),
        "normalize_p1": unary(lambda x: F.normalize(x, p=1.0, dim=0),
                              lambda t, x: t.nn.functional.normalize(x, p=1.0, dim=0)),
        "pad": unary(lambda x: F.pad(x, (1, 2)), lambda t, x: t.nn.functional.pad(x, (1, 2))),
        "pad_crop": lambda rng, s: (lambda x: F.pad(x, (-1, 1, 2, 0), value=0.5),
                                    lambda t, x: t.nn.functional.pad(x, (-1, 1, 2, 0), value=0.5),
                                    [rng.normal(size=s + (3,) if len(s) < 2 else s[:-1] + (3,))], [True]),
        "mse_loss": loss2(F.mse_loss, lambda t, a, b: t.nn.functional.mse_loss(a, b)),
        "mse_sum": loss2(lambda a, b: F.mse_loss(a, b, reduction="sum"),
                         lambda t, a, b: t.nn.functional.mse_loss(a, b, reduction="sum")),
        "l1_loss": loss2(F.l1_loss, lambda t, a, b: t.nn.functional.l1_loss(a, b)),
        "smooth_l1": loss2(lambda a, b: F.smooth_l1_loss(a, b, beta=0.7),
                           lambda t, a, b: t.nn.functional.smooth_l1_loss(a, b, beta=0.7)),
        "smooth_l1_beta0": loss2(lambda a, b: F.smooth_l1_loss(a, b, beta=0.0, reduction="sum"),
                                 lambda t, a, b: t.nn.functional.smooth_l1_loss(a, b, beta=0.0,
                                                                                reduction="sum")),
        "huber": loss2(lambda a, b: F.huber_loss(a, b, delta=0.5, reduction="none"),
                       lambda t, a, b: t.nn.functional.huber_loss(a, b, delta=0.5, reduction="none")),
        "cosine_similarity": loss2(lambda a, b: F.cosine_similarity(a, b, dim=-1),
                                   lambda t, a, b: t.nn.functional.cosine_similarity(a, b, dim=-1)),
        "l1_none": loss2(lambda a, b: F.l1_loss(a, b, reduction="none"),
                         lambda t, a, b: t.nn.functional.l1_loss(a, b, reduction="none")),
        "bce_logits": lambda rng, s: (
            F.binary_cross_entropy_with_logits,
            lambda t, a, b: t.nn.functional.binary_cross_entropy_with_logits(a, b),
            [rng.normal(size=s) * 4, rng.uniform(size=s)], [True, True]),
        "bce_logits_pos_weight": lambda rng, s: (
            lambda a, b, w: F.binary_cross_entropy_with_logits(a, b, pos_weight=w, reduction="sum"),
            lambda t, a, b, w: t.nn.functional.binary_cross_entropy_with_logits(
                a, b, pos_weight=w, reduction="sum"),
            [rng.normal(size=s), rng.uniform(size=s), rng.uniform(0.5, 2, s[-1:])], [True, False, False]),
        "bce": lambda rng, s: (F.binary_cross_entropy,
                               lambda t, a, b: t.nn.functional.binary_cross_entropy(a, b),
                               [rng.uniform(0.05, 0.95, s), rng.uniform(size=s)], [True, True]),
        "kl_div_batchmean": lambda rng, s: (
            lambda a, b: F.kl_div(F.log_softmax(a, -1), b, reduction="batchmean"),
            lambda t, a, b: t.nn.functional.kl_div(t.nn.functional.log_softmax(a, -1), b,
                                                   reduction="batchmean"),
            [rng.normal(size=s), _prob(s, rng)], [True, False]),   # (torch: NaN grad at target 0)
        "kl_div_log_target": lambda rng, s: (
            lambda a, b: F.kl_div(a, b, reduction="sum", log_target=True),
            lambda t, a, b: t.nn.functional.kl_div(a, b, reduction="sum", log_target=True),
            [rng.normal(size=s), rng.normal(size=s)], [True, True]),
        "linear": lambda rng, s: (F.linear, lambda t, x, w, b: t.nn.functional.linear(x, w, b),
                                  [rng.normal(size=s), rng.normal(size=(3, s[-1])),
                                   rng.normal(size=3)], [True, True, True]),
        "layer_norm": lambda rng, s: (
            lambda x, w, b: F.layer_norm(x, s[-1:], w, b),
            lambda t, x, w, b: t.nn.functional.layer_norm(x, s[-1:], w, b),
            [rng.normal(size=s), rng.normal(size=s[-1:]), rng.normal(size=s[-1:])], [True] * 3),
    }


CLASS_CASES = {   # (N, C, d...) logits and class ids
    "cross_entropy": lambda t: (F.cross_entropy, t.nn.functional.cross_entropy, {}),
    "cross_entropy_smooth_ignore": lambda t: (F.cross_entropy, t.nn.functional.cross_entropy,
                                              dict(label_smoothing=0.1, ignore_index=1)),
    "cross_entropy_weight": lambda t: (F.cross_entropy, t.nn.functional.cross_entropy,
                                       dict(weight="w", reduction="mean")),
    "nll_loss": lambda t: (lambda x, y, **k: F.nll_loss(F.log_softmax(x, 1), y, **k),
                           lambda x, y, **k: t.nn.functional.nll_loss(
                               t.nn.functional.log_softmax(x, 1), y, **k), dict(ignore_index=0)),
    "nll_loss_weight_sum": lambda t: (lambda x, y, **k: F.nll_loss(F.log_softmax(x, 1), y, **k),
                                      lambda x, y, **k: t.nn.functional.nll_loss(
                                          t.nn.functional.log_softmax(x, 1), y, **k),
                                      dict(weight="w", reduction="sum")),
}

shapes = st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple)


def _compare(torch, mgf, tf, arrays, flags):
    xs = [mg.tensor(a, dtype=mg.float64, requires_grad=f) for a, f in zip(arrays, flags)]
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=f) for a, f in zip(arrays, flags)]
    out, ref = mgf(*xs), tf(torch, *ts)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-9, atol=1e-11)
    w = np.random.default_rng(1).normal(size=ref.shape)
    (out * mg.tensor(w)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    for x, t in zip(xs, ts):
        if t.requires_grad:
            np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-8, atol=1e-10)
    return xs


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(_cases()))
@settings(max_examples=12, deadline=None)
@given(shape=shapes, seed=st.integers(0, 2 ** 16))
def test_matches_torch_values_and_gradients(name, shape, seed):
    torch = require_torch()
    rng = np.random.default_rng(seed)
    mgf, tf, arrays, flags = _cases()[name](rng, shape)
    _compare(torch, mgf, tf, arrays, flags)


@pytest.mark.parametrize("name", sorted(_cases()))
def test_gradcheck_float64(name):
    rng = np.random.default_rng(3)
    mgf, _, arrays, flags = _cases()[name](rng, (2, 4))
    xs = [mg.tensor(a, dtype=mg.float64, requires_grad=f) for a, f in zip(arrays, flags)]
    assert mg.gradcheck(mgf, xs, atol=1e-6)


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(CLASS_CASES))
@settings(max_examples=12, deadline=None)
@given(n=st.integers(1, 5), c=st.integers(2, 5), extra=st.sampled_from([(), (3,), (2, 2)]),
       seed=st.integers(0, 2 ** 16))
def test_class_losses_match_torch(name, n, c, extra, seed):
    torch = require_torch()
    rng = np.random.default_rng(seed)
    mgf, tf, kwargs = CLASS_CASES[name](torch)
    logits, ids, w = rng.normal(size=(n, c) + extra), _ids(rng, c, (n,) + extra), rng.uniform(0.5, 2, c)
    if (ids != kwargs.get("ignore_index", -100)).sum() == 0:
        ids.flat[0] = (kwargs.get("ignore_index", 0) + 1) % c
    mk = {k: (mg.tensor(w) if v == "w" else v) for k, v in kwargs.items()}
    tk = {k: (torch.tensor(w) if v == "w" else v) for k, v in kwargs.items()}
    x = mg.tensor(logits, requires_grad=True)
    tx = torch.tensor(logits, requires_grad=True)
    out, ref = mgf(x, mg.tensor(ids), **mk), tf(tx, torch.tensor(ids), **tk)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-9, atol=1e-12)
    out.backward(), ref.backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-8, atol=1e-12)
    assert mg.gradcheck(lambda a: mgf(a, mg.tensor(ids), **mk), [mg.tensor(logits, requires_grad=True)])


@pytest.mark.torch
def test_cross_entropy_with_class_probabilities_matches_torch():
    torch = require_torch()
    rng = np.random.default_rng(0)
    logits, target = rng.normal(size=(4, 5, 3)), _prob((4, 3, 5), rng).transpose(0, 2, 1)
    _compare(torch, lambda a, b: F.cross_entropy(a, b, label_smoothing=0.2),
             lambda t, a, b: t.nn.functional.cross_entropy(a, b, label_smoothing=0.2),
             [logits, np.ascontiguousarray(target)], [True, False])


@pytest.mark.torch
def test_one_hot_embedding_dropout_softmax_default_dim_match_torch():
    torch = require_torch()
    ids = np.array([[0, 3], [2, 2]])
    np.testing.assert_array_equal(F.one_hot(mg.tensor(ids)).numpy(),
                                  torch.nn.functional.one_hot(torch.tensor(ids)).numpy())
    assert F.one_hot(mg.tensor(ids), num_classes=6).dtype == mg.int64
    w = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_array_equal(F.embedding(mg.tensor(ids), mg.tensor(w)).numpy(),
                                  torch.nn.functional.embedding(torch.tensor(ids), torch.tensor(w)).numpy())
    x = mg.randn(4, 5)
    assert F.dropout(x, 0.5, training=False) is x or np.array_equal(F.dropout(x, 0.5, False).numpy(), x.numpy())
    kept = F.dropout(mg.ones(1000), p=0.25).numpy()
    assert set(np.unique(kept)) <= {0.0, np.float32(1 / 0.75)}
    for shape in [(3,), (2, 3), (2, 3, 4), (2, 3, 4, 5)]:       # torch's implicit-dim rule
        a = np.random.default_rng(1).normal(size=shape)
        with pytest.warns(UserWarning):
            ref = torch.nn.functional.softmax(torch.tensor(a))
        np.testing.assert_allclose(F.softmax(mg.tensor(a)).numpy(), ref.numpy(), rtol=1e-12)


def test_sdpa_is_the_ops_function():
    from minigrad.ops import scaled_dot_product_attention
    assert F.scaled_dot_product_attention is scaled_dot_product_attention


@pytest.mark.parametrize("call,match", [
    (lambda: F.gelu(mg.randn(2), approximate="fast"), "approximate"),
    (lambda: F.mse_loss(mg.randn(2), mg.randn(3)), "mse_loss"),
    (lambda: F.l1_loss(mg.randn(2), mg.randn(2), reduction="avg"), "reduction"),
    (lambda: F.nll_loss(mg.randn(2, 3), mg.tensor([0, 3])), "nll_loss"),
    (lambda: F.nll_loss(mg.randn(2, 3), mg.tensor([0.5, 1.0])), "integer"),
    (lambda: F.one_hot(mg.tensor([0, 4]), 3), "one_hot"),
    (lambda: F.one_hot(mg.tensor([0.0])), "integer"),
    (lambda: F.pad(mg.randn(2), (1,)), "pad"),
    (lambda: F.pad(mg.randn(2), (1, 1), mode="reflect"), "constant"),
    (lambda: F.softmax(mg.randn(2), dim=0.5), "dim"),
    (lambda: F.dropout(mg.randn(2), p=1.5), "dropout"),
    (lambda: F.kl_div(mg.randn(2), mg.randn(2), reduction="batch"), "reduction"),
])
def test_bad_arguments_raise_named_errors(call, match):
    with pytest.raises(mg.MinigradError, match=match):
        call()


def test_legacy_size_average_and_reduce_map_as_torch():
    a, b = mg.randn(3, 2), mg.randn(3, 2)
    assert F.mse_loss(a, b, size_average=False).item() == pytest.approx(F.mse_loss(a, b, reduction="sum").item())
    assert F.mse_loss(a, b, reduce=False).shape == (3, 2)


@pytest.mark.torch
def test_nll_loss_with_every_target_ignored_is_nan_with_zero_gradients_as_torch():
    torch = require_torch()
    a = np.random.default_rng(0).normal(size=(3, 4))
    x, tx = mg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    out = F.nll_loss(x, mg.tensor([1, 1, 1]), ignore_index=1)
    ref = torch.nn.functional.nll_loss(tx, torch.tensor([1, 1, 1]), ignore_index=1)
    assert np.isnan(out.item()) and np.isnan(ref.item())
    out.backward(), ref.backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


@pytest.mark.torch
def test_binary_cross_entropy_of_saturated_probabilities_has_torchs_finite_gradient():
    """A sigmoid that rounds to exactly 0 or 1: torch's gradient (p - t) / max(p(1-p), 1e-12),
    not the NaN of differentiating the clamped log."""
    torch = require_torch()
    p, t = np.array([1.0, 0.0, 1.0, 0.0, 0.3], np.float32), np.array([1.0, 0.0, 0.0, 1.0, 1.0], np.float32)
    x, tx = mg.tensor(p, requires_grad=True), torch.tensor(p, requires_grad=True)
    out = F.binary_cross_entropy(x, mg.tensor(t), weight=mg.tensor(np.full(5, 0.5, np.float32)))
    ref = torch.nn.functional.binary_cross_entropy(tx, torch.tensor(t), weight=torch.full((5,), 0.5))
    out.backward(), ref.backward()
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
    assert np.isfinite(x.grad.numpy()).all()


def test_celu_with_alpha_matches_torch_and_finite_differences():
    """Values as torch's; the gradient by finite differences (torch's float64 celu
    gradient for alpha != 1 is off by ~1e-8: it is rebuilt from the output)."""
    torch = require_torch()
    x = np.random.default_rng(0).normal(size=(3, 4)) * 3
    got = F.celu(mg.tensor(x, dtype=mg.float64), alpha=0.7).numpy()
    np.testing.assert_allclose(got, torch.nn.functional.celu(torch.tensor(x), alpha=0.7).numpy(),
                               rtol=1e-12, atol=1e-14)
    xs = [mg.tensor(x, dtype=mg.float64, requires_grad=True)]
    assert mg.gradcheck(lambda t: F.celu(t, alpha=0.7), xs, atol=1e-6)
    with pytest.raises(mg.MinigradError, match="alpha"):
        F.celu(mg.zeros(2), alpha=0.0)


@pytest.mark.parametrize("name", ["hardsigmoid", "hardswish"])
def test_hard_activations_match_torch_and_finite_differences(name):
    """Values as torch's up to float32's 1/6 (torch's float64 kernels multiply by
    (float)(1/6) on some paths: ~3e-8 relative); the gradient by finite differences."""
    torch = require_torch()
    x = np.random.default_rng(1).normal(size=(4, 5)) * 4
    fn, tfn = getattr(F, name), getattr(torch.nn.functional, name)
    np.testing.assert_allclose(fn(mg.tensor(x, dtype=mg.float64)).numpy(),
                               tfn(torch.tensor(x)).numpy(), rtol=1e-7, atol=1e-12)
    x = x[np.abs(np.abs(x) - 3) > 1e-3]               # away from the kinks at -3 and 3
    assert mg.gradcheck(fn, [mg.tensor(x, dtype=mg.float64, requires_grad=True)], atol=1e-6)


@pytest.mark.parametrize("heads", [(6, 2), (4, 4), (3, 1)])
def test_grouped_query_attention_as_torch(heads):
    """enable_gqa: each key/value head serves a group of consecutive query heads."""
    torch = require_torch()
    hq, hkv = heads
    rng = np.random.default_rng(hq)
    q, k, v = (rng.standard_normal(s) for s in [(2, hq, 4, 8), (2, hkv, 5, 8), (2, hkv, 5, 8)])
    res = []
    for lib in (mg, torch):
        Q, K, V = (lib.tensor(a, requires_grad=True) for a in (q, k, v))
        out = lib.nn.functional.scaled_dot_product_attention(Q, K, V, enable_gqa=True,
                                                             is_causal=True)
        (out * out).sum().backward()
        res.append([out.detach().numpy(), Q.grad.numpy(), K.grad.numpy(), V.grad.numpy()])
    for a, b in zip(*res):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_grouped_query_attention_needs_head_counts_that_divide():
    q, kv = mg.zeros(1, 6, 2, 4), mg.zeros(1, 4, 2, 4)
    with pytest.raises(mg.ShapeError, match="6 query, 4 key and 4 value heads"):
        F.scaled_dot_product_attention(q, kv, kv, enable_gqa=True)


KINKS = [-6.0, -3.0, -1.0, -0.5, 0.0, 0.75, 1.0, 3.0, 6.0, -30.0, 30.0]


@pytest.mark.parametrize("name, kwargs", [
    ("relu", {}), ("relu6", {}), ("hardtanh", {}), ("hardtanh", dict(min_val=-0.5, max_val=0.75)),
    ("hardsigmoid", {}), ("hardswish", {}), ("softplus", {}), ("softplus", dict(beta=2.0, threshold=5.0)),
    ("logsigmoid", {}), ("leaky_relu", {}), ("elu", {}), ("celu", {}), ("selu", {}), ("silu", {}),
    ("mish", {}), ("threshold", dict(threshold=1.0, value=-2.0))])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_activations_at_their_kinks_give_torchs_values_and_gradients(name, kwargs, dtype):
    """At the points where a piecewise activation changes formula (0, +-1, +-3, 6, the
    clamp bounds) torch's derivative is a convention: relu6/hardtanh/hardsigmoid 0 at the
    bounds, hardswish 0 at -3 and 1 at 3, softplus/logsigmoid sigmoid's 0.5 at 0. Those
    are what training from zero weights starts at, so they must be torch's."""
    torch = require_torch()
    results = []
    for lib in (mg, torch):
        x = lib.tensor(KINKS, dtype=getattr(lib, dtype), requires_grad=True)
        y = getattr(lib.nn.functional, name)(x, **kwargs)
        y.backward(lib.ones_like(y))
        results.append((y.detach().numpy(), x.grad.numpy()))
    (ours, our_grad), (theirs, their_grad) = results
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-12)
    # (float64 hardsigmoid/hardswish: torch multiplies by float32's 1/6)
    np.testing.assert_allclose(our_grad, their_grad, rtol=1e-6, atol=1e-7)


def test_softplus_and_logsigmoid_keep_tiny_values_and_bce_with_logits_its_gradient_at_zero():
    torch = require_torch()
    x = np.array([-40.0, -20.0, -10.0, 0.0, 20.0])
    for name in ("softplus", "logsigmoid"):
        ours = getattr(F, name)(mg.tensor(x)).numpy()
        theirs = getattr(torch.nn.functional, name)(torch.tensor(x)).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)         # exp(-40) is not 0
    z = mg.zeros(2, dtype=mg.float64, requires_grad=True)
    F.binary_cross_entropy_with_logits(z, mg.tensor([1.0, 0.0], dtype=mg.float64),
                                       reduction="sum").backward()
    assert z.grad.tolist() == [-0.5, 0.5]                             # sigmoid(0) - t


def test_nll_loss_ignores_minus_infinity_at_other_classes():
    """Masked-out classes (log-probability -inf: action masking, constrained vocabularies)
    must not turn the loss into NaN; ignored rows stay 0 even where their class 0 is -inf."""
    torch = require_torch()
    x = np.array([[0.0, -np.inf, 1.0], [-np.inf, 2.0, 0.5], [-np.inf, 0.0, 0.0]])
    target = np.array([2, 1, -100])
    results = []
    for lib in (mg, torch):
        logits = lib.tensor(x, requires_grad=True)
        loss = lib.nn.functional.nll_loss(lib.nn.functional.log_softmax(logits, 1),
                                          lib.tensor(target))
        loss.backward()
        results.append((loss.item(), logits.grad.numpy()))
    assert np.isfinite(results[0][0])
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-12)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ["relu", "relu6", "hardtanh", "leaky_relu", "elu", "selu",
                                  "celu", "silu", "mish", "hardsigmoid", "hardswish"])
def test_inplace_activations_write_into_their_input_as_torch(name):
    """F.relu(h, inplace=True) changes h itself, so a later use of h sees the result and
    the gradient flows as torch's (a copy would leave h as it was)."""
    torch = require_torch()
    results = []
    for lib in (mg, torch):
        a = lib.tensor([-1.5, 0.5, 2.0], dtype=lib.float64, requires_grad=True)
        h = a * 1.0
        out = getattr(lib.nn.functional, name)(h, inplace=True)
        assert out is h
        (out.sum() + (h * h).sum()).backward()
        results.append((h.detach().numpy(), a.grad.numpy()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-12)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-6)

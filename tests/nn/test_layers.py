"""nn layers against PyTorch: forward values and every gradient (input and parameters)."""
import math

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
from testutil import assert_close, require_torch

pytestmark = pytest.mark.torch


def _t(x, requires_grad=False):
    torch = require_torch()
    return torch.tensor(np.array(x.numpy() if isinstance(x, mg.Tensor) else x),
                        requires_grad=requires_grad)


def _copy_params(mg_module, torch_module):
    """Give the torch module the minigrad module's parameter values."""
    torch = require_torch()
    sd = {k: torch.tensor(v.numpy().copy()) for k, v in mg_module.state_dict().items()}
    torch_module.load_state_dict(sd)


def _check_grads(mg_module, torch_module):
    torch_params = dict(torch_module.named_parameters())
    names = [n for n, _ in mg_module.named_parameters()]
    assert sorted(names) == sorted(torch_params)
    for name, p in mg_module.named_parameters():
        assert p.grad is not None, name
        assert_close(p.grad, torch_params[name].grad, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ Linear
@pytest.mark.parametrize("shape", [(7, 4), (2, 5, 4), (4,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(shape, bias):
    torch = require_torch()
    lin = nn.Linear(4, 3, bias=bias)
    ref = torch.nn.Linear(4, 3, bias=bias)
    _copy_params(lin, ref)
    x = mg.randn(*shape, requires_grad=True)
    xt = _t(x, True)
    y, yt = lin(x), ref(xt)
    assert_close(y, yt)
    g = mg.randn(*y.shape)
    y.backward(g)
    yt.backward(_t(g))
    assert_close(x.grad, xt.grad)
    _check_grads(lin, ref)


def test_linear_init_is_pytorch_kaiming_uniform_and_seeded():
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    w, b = lin.weight.numpy(), lin.bias.numpy()
    assert lin.weight.shape == (300, 400) and lin.bias.shape == (300,)
    assert w.dtype == np.float32 and np.abs(w).max() <= bound and np.abs(b).max() <= bound
    # U(-k, k) has standard deviation k / sqrt(3); 120k draws pin it to well within 1%
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound
    assert abs(w.mean()) < 0.01 * bound
    mg.manual_seed(5)
    a = nn.Linear(8, 8).weight.numpy()
    mg.manual_seed(5)
    assert np.array_equal(a, nn.Linear(8, 8).weight.numpy())


def test_linear_rejects_wrong_input_width():
    with pytest.raises(mg.ShapeError, match="in_features=4"):
        nn.Linear(4, 2)(mg.randn(3, 5))


# ------------------------------------------------------------------ Embedding
@pytest.mark.parametrize("padding_idx", [None, 0, -1])
def test_embedding_matches_torch_with_repeats_and_padding(padding_idx):
    torch = require_torch()
    emb = nn.Embedding(10, 6, padding_idx=padding_idx)
    if padding_idx is not None:
        assert np.all(emb.weight.numpy()[padding_idx] == 0)
    ref = torch.nn.Embedding(10, 6, padding_idx=padding_idx)
    _copy_params(emb, ref)
    ids = np.array([[1, 3, 3, 0, 9], [9, 9, 0, 2, 1]])      # repeated ids, padding (0 and 9)
    y, yt = emb(mg.tensor(ids)), ref(torch.tensor(ids))
    assert_close(y, yt)
    g = mg.randn(*y.shape)
    y.backward(g)
    yt.backward(_t(g))
    _check_grads(emb, ref)
    if padding_idx is not None:
        assert np.all(emb.weight.grad.numpy()[padding_idx] == 0)


def test_embedding_init_is_standard_normal():
    w = nn.Embedding(1000, 100).weight.numpy()
    assert abs(w.mean()) < 0.01 and abs(w.std() - 1) < 0.01


# ------------------------------------------------------------------ LayerNorm
@pytest.mark.parametrize("normalized_shape,affine,bias", [
    (4, True, True), ((3, 4), True, True), (4, False, True), (4, True, False)])
def test_layer_norm_matches_torch(normalized_shape, affine, bias):
    torch = require_torch()
    ln = nn.LayerNorm(normalized_shape, eps=1e-4, elementwise_affine=affine, bias=bias)
    ref = torch.nn.LayerNorm(normalized_shape, eps=1e-4, elementwise_affine=affine, bias=bias)
    for p in ln.parameters():                        # move away from ones / zeros
        p.data[...] = mg.randn(*p.shape).numpy()
    _copy_params(ln, ref)
    leaf = mg.randn(2, 5, 3, 4, requires_grad=True)
    xt = _t(leaf, True)
    y, yt = ln(leaf * 3 + 1), ref(xt * 3 + 1)      # mean 1, std 3: not already normalised
    assert_close(y, yt, atol=2e-5)
    g = mg.randn(*y.shape)
    y.backward(g)
    yt.backward(_t(g))
    assert_close(leaf.grad, xt.grad, atol=2e-5)
    if affine:
        _check_grads(ln, ref)


# ------------------------------------------------------------------ Dropout
def test_dropout_eval_is_identity():
    d = nn.Dropout(0.5).eval()
    x = mg.randn(100)
    assert np.array_equal(d(x).numpy(), x.numpy())


def test_dropout_keeps_expectation_and_masks_the_same_elements():
    p = 0.3
    d = nn.Dropout(p)
    x = mg.ones(200_000, requires_grad=True)
    y = d(x)
    out = y.numpy()
    keep = 1 - p
    np.testing.assert_allclose(np.unique(out), [0.0, 1 / keep], rtol=1e-6)
    # the fraction dropped is Binomial(n, p) / n: 5 standard deviations is about 0.005
    sd = math.sqrt(p * keep / out.size)
    assert abs((out == 0).mean() - p) < 5 * sd
    assert abs(out.mean() - 1.0) < 5 * sd / keep
    y.backward(mg.ones(*y.shape))
    np.testing.assert_array_equal(x.grad.numpy(), out)      # same mask, same scale


def test_dropout_extremes_and_bad_p():
    x = mg.randn(50)
    assert np.array_equal(nn.Dropout(0.0)(x).numpy(), x.numpy())
    assert np.all(nn.Dropout(1.0)(x).numpy() == 0)
    with pytest.raises(mg.MinigradError, match="must be in"):
        nn.Dropout(1.5)


def test_dropout_is_reproducible_under_manual_seed():
    mg.manual_seed(3)
    a = nn.Dropout(0.5)(mg.ones(64)).numpy()
    mg.manual_seed(3)
    assert np.array_equal(a, nn.Dropout(0.5)(mg.ones(64)).numpy())


# ------------------------------------------------------------------ activations
@pytest.mark.parametrize("make,make_ref", [
    (lambda: nn.GELU(), lambda t: t.nn.GELU()),
    (lambda: nn.GELU("tanh"), lambda t: t.nn.GELU(approximate="tanh")),
    (lambda: nn.ReLU(), lambda t: t.nn.ReLU()),
    (lambda: nn.Tanh(), lambda t: t.nn.Tanh()),
    (lambda: nn.Sigmoid(), lambda t: t.nn.Sigmoid()),
], ids=["gelu", "gelu_tanh", "relu", "tanh", "sigmoid"])
def test_activations_match_torch(make, make_ref):
    torch = require_torch()
    act, ref = make(), make_ref(torch)
    x = mg.randn(4, 33, requires_grad=True)
    xt = _t(x, True)
    y, yt = act(x), ref(xt)
    assert_close(y, yt)
    g = mg.randn(*y.shape)
    y.backward(g)
    yt.backward(_t(g))
    assert_close(x.grad, xt.grad)


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(mg.MinigradError, match="approximate"):
        nn.GELU("erf")


# ------------------------------------------------------------------ CrossEntropyLoss
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("extra_dims", [(), (3,)])
def test_cross_entropy_loss_matches_torch(reduction, label_smoothing, extra_dims):
    torch = require_torch()
    n, c = 6, 5
    logits = mg.randn(n, c, *extra_dims, requires_grad=True)
    targets = mg.randint(0, c, (n,) + extra_dims).numpy()
    targets.reshape(-1)[[1, 4]] = 0                 # pad id, ignored below
    loss_fn = nn.CrossEntropyLoss(ignore_index=0, label_smoothing=label_smoothing,
                                  reduction=reduction)
    ref = torch.nn.CrossEntropyLoss(ignore_index=0, label_smoothing=label_smoothing,
                                    reduction=reduction)
    lt = _t(logits, True)
    loss, loss_t = loss_fn(logits, mg.tensor(targets)), ref(lt, torch.tensor(targets))
    assert_close(loss, loss_t)
    g = mg.randn(*loss.shape) if reduction == "none" else None
    loss.backward(g)
    loss_t.backward(_t(g) if g is not None else None)
    assert_close(logits.grad, lt.grad)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("ignore_index", [-100, 2])
@pytest.mark.parametrize("functional", [True, False])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("extra_dims", [(), (3,)])
def test_weighted_cross_entropy_honours_ignore_index_and_reduction_as_torch(
        reduction, ignore_index, functional, label_smoothing, extra_dims):
    """With class weights, cross_entropy is nll_loss(log_softmax) (plus the weighted
    smoothing term): its ignore_index and reduction once reached nll_loss in the wrong
    places (every call gave the mean)."""
    torch = require_torch()
    rng = np.random.default_rng(1)
    logits = mg.tensor(rng.standard_normal((6, 4) + extra_dims), dtype=mg.float64,
                       requires_grad=True)
    targets = rng.integers(0, 4, (6,) + extra_dims)
    targets[-1] = ignore_index if ignore_index >= 0 else -100
    w = rng.uniform(0.5, 2.0, 4)
    lt = _t(logits, True)
    kw = dict(ignore_index=ignore_index, reduction=reduction, label_smoothing=label_smoothing)
    if functional:
        loss = nn.functional.cross_entropy(logits, mg.tensor(targets), weight=mg.tensor(w), **kw)
    else:
        loss = nn.CrossEntropyLoss(weight=mg.tensor(w), **kw)(logits, mg.tensor(targets))
    loss_t = torch.nn.functional.cross_entropy(lt, torch.tensor(targets), weight=torch.tensor(w),
                                               **kw)
    assert_close(loss, loss_t)
    loss.sum().backward()
    loss_t.sum().backward()
    assert_close(logits.grad, lt.grad)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_weighted_cross_entropy_with_class_probabilities_matches_torch(reduction, label_smoothing):
    torch = require_torch()
    rng = np.random.default_rng(2)
    logits = mg.tensor(rng.standard_normal((5, 3, 2)), dtype=mg.float64, requires_grad=True)
    probs = rng.dirichlet(np.ones(3), (5, 2)).transpose(0, 2, 1).copy()
    w = rng.uniform(0.5, 2.0, 3)
    kw = dict(reduction=reduction, label_smoothing=label_smoothing)
    lt = _t(logits, True)
    loss = nn.functional.cross_entropy(logits, mg.tensor(probs), weight=mg.tensor(w), **kw)
    loss_t = torch.nn.functional.cross_entropy(lt, torch.tensor(probs), weight=torch.tensor(w), **kw)
    assert_close(loss, loss_t)
    loss.sum().backward()
    loss_t.sum().backward()
    assert_close(logits.grad, lt.grad)


def test_weighted_smoothed_cross_entropy_of_only_ignored_targets_is_nan_with_zero_grads():
    """As torch, and as nll_loss: the mean over no counted target is NaN, its gradient 0."""
    torch = require_torch()
    x = np.random.default_rng(0).normal(size=(3, 4))
    targets, w = np.array([-100, -100, -100]), np.array([1.0, 2.0, 3.0, 4.0])
    for lib, t in ((torch, torch.tensor(x, requires_grad=True)),
                   (mg, mg.tensor(x, dtype=mg.float64, requires_grad=True))):
        loss = lib.nn.functional.cross_entropy(t, lib.tensor(targets), weight=lib.tensor(w),
                                               label_smoothing=0.1)
        loss.backward()
        assert np.isnan(float(loss.item()))
        np.testing.assert_array_equal(np.asarray(t.grad.numpy()), np.zeros((3, 4)))


def test_cross_entropy_loss_checks_arguments():
    with pytest.raises(mg.MinigradError, match="reduction"):
        nn.CrossEntropyLoss(reduction="avg")
    with pytest.raises(mg.ShapeError, match="targets of shape"):
        nn.CrossEntropyLoss()(mg.randn(4, 3), mg.tensor([0, 1]))


# ------------------------------------------------------------------ init helpers
def test_init_helpers_fill_in_place_with_the_expected_statistics():
    w = nn.Parameter(mg.zeros(300, 200))
    nn.init.xavier_uniform_(w)
    a = math.sqrt(6 / 500)
    assert np.abs(w.numpy()).max() <= a and abs(w.numpy().std() - a / math.sqrt(3)) < 0.01 * a
    nn.init.xavier_normal_(w, gain=2.0)
    assert abs(w.numpy().std() - 2 * math.sqrt(2 / 500)) < 0.01 * 2 * math.sqrt(2 / 500)
    nn.init.kaiming_uniform_(w, nonlinearity="relu")
    b = math.sqrt(2) * math.sqrt(3 / 200)
    assert np.abs(w.numpy()).max() <= b and w.numpy().max() > 0.95 * b
    nn.init.normal_(w, mean=2.0, std=0.5)
    assert abs(w.numpy().mean() - 2) < 0.01 and abs(w.numpy().std() - 0.5) < 0.01
    nn.init.uniform_(w, -3, -1)
    assert w.numpy().min() >= -3 and w.numpy().max() <= -1
    nn.init.constant_(w, 0.25)
    assert np.all(w.numpy() == 0.25)
    nn.init.zeros_(w)
    assert np.all(w.numpy() == 0)
    nn.init.ones_(w)
    assert np.all(w.numpy() == 1) and w.dtype == np.float32


def test_init_follows_manual_seed_and_dtype():
    w64 = nn.Parameter(mg.zeros(4, 4, dtype=mg.float64))
    mg.manual_seed(11)
    nn.init.normal_(w64)
    first = w64.numpy().copy()
    mg.manual_seed(11)
    nn.init.normal_(w64)
    assert w64.dtype == np.float64 and np.array_equal(first, w64.numpy())
    with pytest.raises(mg.MinigradError, match="at least 2 dimensions"):
        nn.init.xavier_uniform_(nn.Parameter(mg.zeros(5)))


def test_functional_linear_matches_module():
    lin = nn.Linear(3, 2)
    x = mg.randn(4, 3)
    assert_close(nn.functional.linear(x, lin.weight, lin.bias), lin(x).numpy())

"""Numerical robustness: the inputs that break naive formulas.

softmax, log_softmax and cross_entropy on logits of magnitude 1e4 (exp overflows
at 89 in float32), layer_norm on constant rows (variance 0), attention where
every key of a row is masked (softmax over nothing), and float16 inputs. In each
case the output and every gradient are finite, and match PyTorch wherever
PyTorch's are finite; both the fused kernels and the reference path
(use_fused(False)) are checked. A warning fails the test (the suite's settings
turn minigrad's RuntimeWarnings into errors, and these tests record the rest).
"""
import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from testutil import require_torch

pytestmark = pytest.mark.torch

FUSED = pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
DTYPES = pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64],
                                 ids=["float16", "float32", "float64"])
TOL = {np.float16: 2e-2, np.float32: 1e-5, np.float64: 1e-10}


@pytest.fixture(autouse=True)
def no_warnings():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    minigrads = [w for w in caught if "minigrad" in w.filename or "numpy" in w.filename]
    assert not minigrads, "; ".join(f"{w.category.__name__}: {w.message}" for w in minigrads)


def big_logits(dtype, magnitude):
    """Rows of huge logits: mixed signs, all equal, one standing out, all -magnitude."""
    rows = [[magnitude, -magnitude, 0.0, magnitude / 2, -magnitude / 3],
            [magnitude] * 5,
            [-magnitude] * 5,
            [magnitude, 0.0, 0.0, 0.0, 0.0],
            [-magnitude, -magnitude, -magnitude, -magnitude, magnitude - 1]]
    return np.array(rows, dtype=dtype)


def run(fn, arrays, fused, weights=None):
    """Output and input gradients of fn in minigrad (fused or reference path)."""
    xs = [mg.tensor(a, requires_grad=True) for a in arrays]
    with mg.use_fused(fused):
        out = fn(*xs)
    w = np.ones(out.shape, out.dtype) if weights is None else weights.astype(out.dtype)
    out.backward(mg.tensor(w))
    return out.numpy(), [x.grad.numpy() for x in xs]


def torch_run(fn, arrays, weights=None):
    """The same in PyTorch, computed in float64 from the same values."""
    torch = require_torch()
    ts = [torch.tensor(a.astype(np.float64), requires_grad=True) for a in arrays]
    out = fn(*ts)
    w = torch.ones_like(out) if weights is None else torch.tensor(weights.astype(np.float64))
    out.backward(w)
    return out.detach().numpy(), [t.grad.numpy() for t in ts]


def assert_finite_and_close(actual, expected, dtype, what):
    actual = np.asarray(actual, np.float64)
    assert np.isfinite(actual).all(), f"{what}: not finite: {actual}"
    finite = np.isfinite(expected)
    scale = max(1.0, float(np.abs(expected[finite]).max())) if finite.any() else 1.0
    np.testing.assert_allclose(actual[finite], expected[finite], rtol=TOL[dtype],
                               atol=TOL[dtype] * scale, err_msg=what)


# ------------------------------------------------------------------ softmax family
@FUSED
@DTYPES
@pytest.mark.parametrize("magnitude", [1e4, -1e4], ids=["+1e4", "-1e4"])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_of_huge_logits(op, magnitude, dtype, fused):
    torch = require_torch()
    x = big_logits(dtype, magnitude)
    w = np.random.default_rng(0).uniform(-1, 1, x.shape)
    out, (grad,) = run(lambda t: getattr(mg, op)(t, -1), [x], fused, w)
    t_out, (t_grad,) = torch_run(lambda t: getattr(torch, op)(t, -1), [x], w)
    assert_finite_and_close(out, t_out, dtype, f"{op} output")
    assert_finite_and_close(grad, t_grad, dtype, f"{op} gradient")


@FUSED
@DTYPES
@pytest.mark.parametrize("magnitude", [1e4, -1e4], ids=["+1e4", "-1e4"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cross_entropy_of_huge_logits(reduction, smoothing, magnitude, dtype, fused):
    torch = require_torch()
    x = big_logits(dtype, magnitude)
    targets = np.array([1, 0, 4, 2, 4])          # right, tied, wrong and far-off classes
    out, (grad,) = run(lambda t: mg.cross_entropy(t, mg.tensor(targets), label_smoothing=smoothing,
                                                  reduction=reduction), [x], fused)
    t_out, (t_grad,) = torch_run(lambda t: torch.nn.functional.cross_entropy(
        t, torch.tensor(targets), label_smoothing=smoothing, reduction=reduction), [x])
    # the loss of a confidently wrong row is ~2e4: float16 holds it to about 10
    assert_finite_and_close(out, t_out, dtype, "cross_entropy loss")
    assert_finite_and_close(grad, t_grad, dtype, "cross_entropy gradient")


# ------------------------------------------------------------------ layer norm
@FUSED
@DTYPES
@pytest.mark.parametrize("value", [0.0, 3.0, -1e4], ids=["zeros", "threes", "-1e4"])
def test_layer_norm_of_constant_rows(value, dtype, fused):
    """Variance 0: (x - mean) / sqrt(0 + eps) is 0, the output is the bias."""
    torch = require_torch()
    x = np.full((3, 6), value, dtype)
    x[2] = np.linspace(-1, 1, 6)                 # one ordinary row among the constant ones
    weight = np.linspace(0.5, 1.5, 6).astype(dtype)
    bias = np.linspace(-0.2, 0.3, 6).astype(dtype)
    w = np.random.default_rng(1).uniform(-1, 1, x.shape)
    out, grads = run(lambda a, b, c: mg.layer_norm(a, 6, b, c), [x, weight, bias], fused, w)
    t_out, t_grads = torch_run(lambda a, b, c: torch.nn.functional.layer_norm(a, (6,), b, c),
                               [x, weight, bias], w)
    assert_finite_and_close(out, t_out, dtype, "layer_norm output")
    np.testing.assert_allclose(out[:2], np.broadcast_to(bias, (2, 6)), rtol=0, atol=TOL[dtype])
    for name, g, tg in zip(["x", "weight", "bias"], grads, t_grads):
        assert_finite_and_close(g, tg, dtype, f"layer_norm gradient of {name}")


# ------------------------------------------------------------------ attention
def masked_attention_inputs(dtype):
    r = np.random.default_rng(2)
    q, k, v = (r.standard_normal((2, 3, 4, 5)).astype(dtype) for _ in range(3))
    mask = np.zeros((4, 4), bool)
    mask[1] = True                               # query 1 may see no key at all
    mask[2, :3] = True                           # query 2 sees only the last key
    return q, k, v, mask


@FUSED
@DTYPES
def test_attention_with_every_key_masked(dtype, fused):
    """A fully masked row gives output 0 and gradient 0 (PyTorch 2.5 and later too;
    older versions gave NaN); every other row matches PyTorch."""
    torch = require_torch()
    q, k, v, mask = masked_attention_inputs(dtype)
    w = np.random.default_rng(3).uniform(-1, 1, q.shape)
    out, grads = run(lambda a, b, c: mg.scaled_dot_product_attention(
        a, b, c, attn_mask=mg.tensor(~mask)), [q, k, v], fused, w)
    t_out, t_grads = torch_run(lambda a, b, c: torch.nn.functional.scaled_dot_product_attention(
        a, b, c, attn_mask=torch.tensor(~mask)), [q, k, v], w)
    assert (out[:, :, 1] == 0).all()
    assert_finite_and_close(out, t_out, dtype, "attention output")
    assert (grads[0][:, :, 1] == 0).all()        # the empty row's query gets no gradient
    for name, g in zip("qkv", grads):
        assert np.isfinite(g).all(), f"attention gradient of {name} is not finite"
    # and against PyTorch without the empty row, which adds nothing to any gradient
    # (an older PyTorch's NaN row would poison all of its key and value gradients)
    keep = np.ones(4, bool)
    keep[1] = False
    t_out2, t_grads2 = torch_run(lambda a, b, c: torch.nn.functional.scaled_dot_product_attention(
        a[:, :, keep], b, c, attn_mask=torch.tensor(~mask[keep])), [q, k, v], w[:, :, keep])
    assert_finite_and_close(grads[0][:, :, keep], t_grads2[0][:, :, keep], dtype, "gradient of q")
    assert_finite_and_close(grads[1], t_grads2[1], dtype, "gradient of k")
    assert_finite_and_close(grads[2], t_grads2[2], dtype, "gradient of v")


@FUSED
@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["float32", "float16"])
def test_multihead_attention_with_a_fully_padded_sequence(dtype, fused):
    """key_padding_mask hiding every key of one batch entry (an all-padding sentence):
    finite outputs and gradients, zeros for that entry's attention."""
    mg.manual_seed(0)
    mha = nn.MultiheadAttention(8, 2, batch_first=True).to(dtype)
    x = mg.randn(2, 5, 8, dtype=dtype, requires_grad=True)
    padding = np.zeros((2, 5), bool)
    padding[1] = True
    with mg.use_fused(fused):
        out, weights = mha(x, x, x, key_padding_mask=mg.tensor(padding))
    out.sum().backward()
    assert out.dtype == dtype and np.isfinite(out.numpy()).all()
    assert (weights.numpy()[1] == 0).all()
    assert np.isfinite(x.grad.numpy()).all()
    assert all(np.isfinite(p.grad.numpy()).all() for p in mha.parameters())


# ------------------------------------------------------------------ float16
@FUSED
def test_float16_transformer_step_is_finite_and_close_to_float32(fused):
    """A whole training step in float16 (where NumPy supports it): finite loss and
    gradients, and within float16 precision of the same step in float32."""
    from minigrad.models import Seq2SeqTransformer
    r = np.random.default_rng(4)
    src, tgt = r.integers(1, 11, (4, 7)), r.integers(1, 11, (4, 8))
    results = {}
    for dtype in (np.float32, np.float16):
        mg.manual_seed(0)
        model = Seq2SeqTransformer(11, 11, d_model=16, nhead=2, num_encoder_layers=1,
                                   num_decoder_layers=1, dim_feedforward=32,
                                   dropout=0.0).to(dtype)
        with mg.use_fused(fused):
            logits = model(mg.tensor(src), mg.tensor(tgt[:, :-1]))
            loss = mg.cross_entropy(logits.reshape(-1, 11), mg.tensor(tgt[:, 1:].reshape(-1)))
        loss.backward()
        assert loss.dtype == dtype and np.isfinite(loss.item())
        grads = {n: p.grad.numpy().astype(np.float64) for n, p in model.named_parameters()}
        assert all(np.isfinite(g).all() for g in grads.values())
        results[dtype] = (loss.item(), grads)
    (loss32, g32), (loss16, g16) = results[np.float32], results[np.float16]
    assert abs(loss16 - loss32) < 1e-2 * abs(loss32)
    for name in g32:
        scale = max(np.abs(g32[name]).max(), 1e-3)
        assert np.abs(g16[name] - g32[name]).max() < 5e-2 * scale, name

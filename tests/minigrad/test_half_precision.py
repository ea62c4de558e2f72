"""float16 and bfloat16 against PyTorch (issue 21): values, gradients and dtypes of every op
that sums, normalises or multiplies many terms, over long axes (tens of thousands of
elements) and large magnitudes.

The rule under test (as PyTorch on the CPU): a reduction, softmax, layer norm or loss over
float16/bfloat16 input accumulates in float32 and rounds to the input's dtype once; a
matmul multiplies in float32 and rounds once. Both libraries then agree to within about
one unit in the last place of the half dtype.
"""
import numpy as np
import pytest

import minigrad as mg
import minigrad.nn.functional as F
from testutil import require_torch

pytestmark = pytest.mark.torch

DTYPES = ["float16"] + (["bfloat16"] if hasattr(mg, "bfloat16") else [])
EPS = {"float16": 2.0 ** -10, "bfloat16": 2.0 ** -7}      # one unit in the last place at 1
TINY = {"float16": 2.0 ** -24, "bfloat16": 2.0 ** -133}   # the smallest subnormal


def _torch_dtype(torch, name):
    return getattr(torch, name)


def _inputs(rng, specs, dtype):
    """float32 arrays whose values the half dtype holds exactly (both libraries get the same)."""
    out = []
    for shape, scale, kind in specs:
        x = rng.standard_normal(shape).astype(np.float32) * scale
        if kind == "positive":
            x = np.abs(x) + scale * 0.01
        elif kind == "prob":
            x = rng.uniform(0.01, 0.99, shape).astype(np.float32)
        out.append(mg.tensor(x).to(dtype).float().numpy())       # rounded through the dtype
    return out


def _as_float32(t):
    if hasattr(t, "detach") and not isinstance(t, mg.Tensor):    # torch
        return t.detach().float().numpy()
    return t.float().numpy()


# name: (input specs (shape, scale, kind), minigrad function, torch function)
# the torch function receives torch as its first argument.
CASES = {
    "sum": ([((70000,), 10.0, "normal")], lambda x: x.sum(), lambda t, x: x.sum()),
    "sum_dim": ([((3, 40000), 100.0, "normal")], lambda x: x.sum(1), lambda t, x: x.sum(1)),
    "mean": ([((70000,), 100.0, "normal")], lambda x: x.mean(), lambda t, x: x.mean()),
    "mean_dim": ([((3, 40000), 100.0, "normal")], lambda x: x.mean(-1, keepdim=True),
                 lambda t, x: x.mean(-1, keepdim=True)),
    "var": ([((70000,), 50.0, "normal")], lambda x: x.var(), lambda t, x: x.var()),
    "var_dim": ([((3, 40000), 50.0, "normal")], lambda x: x.var(1, correction=0),
                lambda t, x: x.var(1, correction=0)),
    "std": ([((70000,), 50.0, "normal")], lambda x: x.std(), lambda t, x: x.std()),
    "softmax": ([((2, 30000), 10.0, "normal")], lambda x: mg.softmax(x, -1),
                lambda t, x: t.softmax(x, -1)),
    "log_softmax": ([((2, 30000), 10.0, "normal")], lambda x: mg.log_softmax(x, -1),
                    lambda t, x: t.log_softmax(x, -1)),
    "layer_norm": ([((4, 16384), 100.0, "normal"), ((16384,), 1.0, "normal"),
                    ((16384,), 1.0, "normal")],
                   lambda x, w, b: F.layer_norm(x, (16384,), w, b),
                   lambda t, x, w, b: t.nn.functional.layer_norm(x, (16384,), w, b)),
    "mse_loss": ([((70000,), 30.0, "normal"), ((70000,), 30.0, "normal")], F.mse_loss,
                 lambda t, x, y: t.nn.functional.mse_loss(x, y)),
    "l1_loss": ([((70000,), 1000.0, "normal"), ((70000,), 1000.0, "normal")], F.l1_loss,
                lambda t, x, y: t.nn.functional.l1_loss(x, y)),
    "kl_div": ([((4, 20000), 3.0, "normal"), ((4, 20000), 1.0, "prob")],
               lambda x, y: F.kl_div(x, y, reduction="batchmean"),
               lambda t, x, y: t.nn.functional.kl_div(x, y, reduction="batchmean")),
    "bce_with_logits": ([((70000,), 5.0, "normal"), ((70000,), 1.0, "prob")],
                        F.binary_cross_entropy_with_logits,
                        lambda t, x, y: t.nn.functional.binary_cross_entropy_with_logits(x, y)),
    "binary_cross_entropy": ([((70000,), 1.0, "prob"), ((70000,), 1.0, "prob")],
                             F.binary_cross_entropy,
                             lambda t, x, y: t.nn.functional.binary_cross_entropy(x, y)),
    "matmul": ([((64, 4096), 1.0, "normal"), ((4096, 48), 1.0, "normal")],
               lambda a, b: a @ b, lambda t, a, b: a @ b),
    "matmul_batched": ([((3, 16, 2048), 4.0, "normal"), ((2048, 16), 4.0, "normal")],
                       lambda a, b: a @ b, lambda t, a, b: a @ b),
    "linear": ([((32, 2048), 1.0, "normal"), ((96, 2048), 1.0, "normal"), ((96,), 1.0, "normal")],
               F.linear, lambda t, x, w, b: t.nn.functional.linear(x, w, b)),
    "exp": ([((70000,), 3.0, "normal")], mg.exp, lambda t, x: x.exp()),
    "log": ([((70000,), 1000.0, "positive")], mg.log, lambda t, x: x.log()),
    "add": ([((70000,), 1000.0, "normal"), ((70000,), 1000.0, "normal")],
            lambda a, b: a + b, lambda t, a, b: a + b),
    "mul": ([((70000,), 30.0, "normal"), ((70000,), 30.0, "normal")],
            lambda a, b: a * b, lambda t, a, b: a * b),
    "div": ([((70000,), 100.0, "normal"), ((70000,), 10.0, "positive")],
            lambda a, b: a / b, lambda t, a, b: a / b),
    "gelu": ([((70000,), 3.0, "normal")], mg.gelu, lambda t, x: t.nn.functional.gelu(x)),
    "sqrt_pow": ([((70000,), 100.0, "positive")], lambda x: x ** 0.5, lambda t, x: x ** 0.5),
}
# cross_entropy takes class ids: a case of its own
CE_SHAPE = (16, 32000)


def _close(actual, expected, dtype, what, spread=1e-2):
    """Within two units in the last place of the half dtype, relative, or absolute at the
    scale of `spread` times the largest element (a value: 1e-2; a gradient, whose elements
    are sums over terms as large as the largest: 1), plus a few subnormals near 0; inf where
    PyTorch has inf."""
    eps = EPS[dtype]
    scale = np.abs(expected[np.isfinite(expected)]).max() if np.isfinite(expected).any() else 1.0
    np.testing.assert_allclose(actual, expected, rtol=2 * eps,
                               atol=2 * eps * spread * scale + 4 * TINY[dtype], err_msg=what)


def _matches_torch(actual, half, exact, dtype, what, spread=1e-2):
    """`actual` (minigrad's, as float32) within half-precision tolerance of PyTorch's result
    in the same dtype (`half`); or, where PyTorch's own kernel rounds more often than
    minigrad's and lands further off (std's gradient, label smoothing's), of PyTorch's exact
    float64 result (`exact`) and no further from it than PyTorch's half result."""
    try:
        _close(actual, half, dtype, what, spread)
    except AssertionError:
        _close(actual, exact, dtype, what + " (against float64)", spread)
        finite = np.isfinite(exact)
        assert np.abs(actual - exact)[finite].max() <= np.abs(half - exact)[finite].max(), what


def _run_torch(torch, fn, arrays, dtype, g):
    """PyTorch's output and input gradients, as float32 arrays, in `dtype`."""
    ts = [torch.tensor(a).to(dtype).requires_grad_(True) for a in arrays]
    out = fn(torch, *ts)
    out.backward(torch.tensor(g).to(dtype))
    return out, [t.grad.double().numpy() for t in ts]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(CASES))
def test_op_matches_torch_in_half_precision(name, dtype):
    torch = require_torch()
    specs, mg_fn, torch_fn = CASES[name]
    arrays = _inputs(np.random.default_rng(sorted(CASES).index(name)), specs, dtype)
    xs = [mg.tensor(a).to(dtype).requires_grad_(True) for a in arrays]
    out = mg_fn(*xs)
    g = np.random.default_rng(1).standard_normal(tuple(out.shape)).astype(np.float32)
    g = mg.tensor(g).to(dtype).float().numpy()
    half, half_grads = _run_torch(torch, torch_fn, arrays, _torch_dtype(torch, dtype), g)
    exact, exact_grads = _run_torch(torch, torch_fn, arrays, torch.float64, g)

    assert str(out.dtype) == str(half.dtype).replace("torch.", ""), name
    _matches_torch(_as_float32(out), _as_float32(half), exact.detach().numpy(), dtype,
                   f"{name} {dtype}: value")
    out.backward(mg.tensor(g).to(dtype))
    for i, x in enumerate(xs):
        assert x.grad is not None and x.grad.dtype == x.dtype, f"{name}: grad {i} dtype"
        _matches_torch(_as_float32(x.grad), half_grads[i].astype(np.float32), exact_grads[i],
                       dtype, f"{name} {dtype}: grad {i}", spread=1.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_matches_torch_in_half_precision(dtype, smoothing):
    """Logits of magnitude 1e3 over 32,000 classes, one target ignored: PyTorch's float16
    kernel overflows to inf when smoothing sums the 32,000 log-probabilities; minigrad's
    float32 one does not (so the loss is checked against PyTorch's float64 loss)."""
    torch = require_torch()
    rng = np.random.default_rng(5)
    (logits,) = _inputs(rng, [(CE_SHAPE, 1000.0, "normal")], dtype)
    target = rng.integers(0, CE_SHAPE[1], CE_SHAPE[0])
    target[3] = -100
    x = mg.tensor(logits).to(dtype).requires_grad_(True)
    out = F.cross_entropy(x, mg.tensor(target), label_smoothing=smoothing)
    out.backward()

    def torch_ce(torch, t):
        return torch.nn.functional.cross_entropy(t, torch.tensor(target),
                                                 label_smoothing=smoothing)
    one = np.ones((), np.float32)
    half, (half_grad,) = _run_torch(torch, torch_ce, [logits], _torch_dtype(torch, dtype), one)
    exact, (exact_grad,) = _run_torch(torch, torch_ce, [logits], torch.float64, one)
    assert str(out.dtype) == str(half.dtype).replace("torch.", "")
    _close(_as_float32(out), exact.detach().numpy(), dtype, "loss")
    _matches_torch(_as_float32(x.grad), half_grad.astype(np.float32), exact_grad, dtype, "grad",
                   spread=1.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nll_loss_matches_torch_in_half_precision(dtype):
    torch = require_torch()
    rng = np.random.default_rng(6)
    (logp,) = _inputs(rng, [((2000, 50), 30.0, "normal")], dtype)
    target = rng.integers(0, 50, 2000)
    x = mg.tensor(logp).to(dtype).requires_grad_(True)
    t = torch.tensor(logp).to(_torch_dtype(torch, dtype)).requires_grad_(True)
    out = F.nll_loss(x, mg.tensor(target))
    expected = torch.nn.functional.nll_loss(t, torch.tensor(target))
    assert str(out.dtype) == str(expected.dtype).replace("torch.", "")
    _close(_as_float32(out), _as_float32(expected), dtype, "loss")
    out.backward()
    expected.backward()
    _close(_as_float32(x.grad), _as_float32(t.grad), dtype, "grad", spread=1.0)


# ------------------------------------------------------------------ the examples
def test_mean_gradient_over_70000_float16_ones_is_not_zero():
    x = mg.ones(70000, dtype=mg.float16, requires_grad=True)
    x.mean().backward()
    assert x.grad.dtype == np.float16
    assert (x.grad.numpy() == np.float16(1 / 70000)).all() and np.float16(1 / 70000) > 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_var_and_std_of_70000_plus_minus_ones_are_one(dtype):
    x = mg.tensor(np.where(np.arange(70000) % 2, 1.0, -1.0)).to(dtype)
    assert x.var().item() == pytest.approx(1.0, abs=EPS[dtype])
    assert x.std().item() == pytest.approx(1.0, abs=EPS[dtype])
    assert x.var().dtype == x.dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_sum_of_many_large_half_values_is_finite_in_float32_and_rounds_once(dtype):
    x = mg.full((70000,), 8.0, dtype=dtype)                 # 560000: past float16's 65504
    s = x.sum()
    assert s.dtype == x.dtype
    with np.errstate(over="ignore"):
        expected = float(np.float32(560000.0).astype(s.dtype))   # inf in float16, as PyTorch
    assert s.item() == expected
    assert x.float().sum().item() == 560000.0


def test_float32_reductions_do_not_upcast():
    """The float32 training path keeps its dtype everywhere (no hidden float64 or copies)."""
    x = mg.randn(8, 16, requires_grad=True)
    for out in (x.sum(), x.mean(1), x.var(), x.std(0), mg.softmax(x, -1), mg.log_softmax(x, 1)):
        assert out.dtype == np.float32
    (x.mean() + x.var()).backward()
    assert x.grad.dtype == np.float32


# ------------------------------------------------------------------ bfloat16 files
def test_bfloat16_safetensors_round_trip_with_the_library_and_torch(tmp_path):
    """minigrad writes real BF16 tensors that the safetensors library and torch read as the
    same values, and reads theirs back as bfloat16, bit for bit."""
    torch = require_torch()
    st = pytest.importorskip("safetensors.numpy")
    st_torch = pytest.importorskip("safetensors.torch")
    if not hasattr(mg, "bfloat16"):
        pytest.skip("bfloat16 needs ml_dtypes")
    x = mg.randn(4, 300) * 1000
    b = x.bfloat16()
    ours = tmp_path / "ours.safetensors"
    mg.io.save({"w": b, "h": x.half()}, ours)
    assert st.load_file(str(ours))["w"].dtype == b.dtype
    np.testing.assert_array_equal(st.load_file(str(ours))["w"].view(np.uint16),
                                  b.numpy().view(np.uint16))
    seen = st_torch.load_file(str(ours))["w"]
    assert seen.dtype == torch.bfloat16
    np.testing.assert_array_equal(seen.float().numpy(), b.float().numpy())
    np.testing.assert_array_equal(seen.float().numpy(),
                                  torch.tensor(x.numpy()).bfloat16().float().numpy())

    theirs = tmp_path / "theirs.safetensors"
    st_torch.save_file({"w": torch.tensor(x.numpy()).bfloat16()}, str(theirs))
    back = mg.io.load(theirs)["w"]
    assert back.dtype == mg.bfloat16
    np.testing.assert_array_equal(back.numpy().view(np.uint16), b.numpy().view(np.uint16))
    # torch.save-style files keep the dtype too
    mg.save({"w": b}, tmp_path / "state.safetensors")
    assert mg.load(tmp_path / "state.safetensors")["w"].dtype == mg.bfloat16


def test_bfloat16_dtype_api():
    if not hasattr(mg, "bfloat16"):
        pytest.skip("bfloat16 needs ml_dtypes")
    x = mg.randn(3, 4)
    for b in (x.bfloat16(), x.to("bfloat16"), x.to(mg.bfloat16), x.type(mg.bfloat16),
              mg.tensor([[1.0, 2.0]], dtype=mg.bfloat16), mg.zeros(2, dtype="bfloat16")):
        assert b.dtype == mg.bfloat16 and b.is_floating_point()
    assert mg.dtype.is_floating(mg.bfloat16) and not x.long().is_floating_point()
    b = x.bfloat16().requires_grad_(True)
    y = (b * 2.5 + 1) / 3
    assert y.dtype == mg.bfloat16                     # Python scalars keep the dtype
    assert (b + x.half()).dtype == mg.float32         # bfloat16 with float16: float32 (torch)
    assert (b + x).dtype == mg.float32 and (b + mg.tensor([1, 2, 3, 4])).dtype == mg.bfloat16
    y.sum().backward()
    assert b.grad.dtype == mg.bfloat16


def test_bfloat16_missing_ml_dtypes_error_names_the_install(monkeypatch):
    from minigrad import dtype as dtypes
    assert "pip install ml_dtypes" in dtypes.BFLOAT16_MISSING
    monkeypatch.setattr(dtypes, "_ml_dtypes", None)
    monkeypatch.delitem(dtypes._ALIASES, "bfloat16", raising=False)
    with pytest.raises(mg.DTypeError, match="pip install ml_dtypes"):
        dtypes.as_dtype("bfloat16")


# ------------------------------------------------------------------ autocast: matmul and losses
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", [((8, 300), (300, 5)), ((2, 3, 40), (40, 7)), ((50,), (50, 4))])
def test_matmul_under_autocast_runs_in_the_low_dtype_as_torch(dtype, shapes):
    """torch.autocast's lower-precision list holds matmul (CPU and CUDA alike): the output is
    in the low dtype, float32 leaves get float32 gradients."""
    torch = require_torch()
    rng = np.random.default_rng(2)
    a, b = (rng.standard_normal(s).astype(np.float32) for s in shapes)
    x, w = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    with mg.autocast("cpu", dtype=getattr(mg, dtype)):
        out = x @ w
    with torch.autocast("cpu", dtype=_torch_dtype(torch, dtype)):
        expected = ta @ tb
    assert str(out.dtype) == str(expected.dtype).replace("torch.", "") == dtype
    _close(_as_float32(out), _as_float32(expected), dtype, "matmul under autocast", spread=1.0)
    out.float().sum().backward()
    expected.float().sum().backward()
    assert x.grad.dtype == w.grad.dtype == np.float32
    for mine, theirs in ((x.grad, ta.grad), (w.grad, tb.grad)):
        _close(mine.numpy(), theirs.numpy(), dtype, "gradient", spread=1.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", ["mse_loss", "l1_loss", "kl_div",
                                  "binary_cross_entropy_with_logits"])
def test_losses_and_sum_run_in_float32_under_autocast(dtype, loss):
    """torch.autocast's float32 list: the losses (and sum) take low-precision inputs up to
    float32 and return float32."""
    torch = require_torch()
    rng = np.random.default_rng(3)
    a = rng.standard_normal((6, 500)).astype(np.float32)
    b = rng.uniform(0.1, 0.9, (6, 500)).astype(np.float32)
    low = getattr(mg, dtype)
    x, y = mg.tensor(a).to(low).requires_grad_(True), mg.tensor(b).to(low)
    with mg.autocast("cpu", dtype=low):
        out = getattr(F, loss)(x, y, reduction="sum")
        total = x.sum()
    assert out.dtype == total.dtype == np.float32
    ta, tb = (torch.tensor(v).to(_torch_dtype(torch, dtype)).float() for v in (a, b))
    expected = getattr(torch.nn.functional, loss)(ta, tb, reduction="sum")
    assert out.item() == pytest.approx(expected.item(), rel=1e-5)
    out.backward()
    assert x.grad.dtype == low


def test_float16_matmul_is_one_float32_gemm_rounded_once():
    """NumPy's float16 matmul would be an element loop; minigrad's is the float32 product
    rounded once to float16 (the module doc of ops/linalg.py)."""
    rng = np.random.default_rng(4)
    a = rng.standard_normal((16, 1000)).astype(np.float16)
    b = rng.standard_normal((1000, 8)).astype(np.float16)
    out = mg.tensor(a) @ mg.tensor(b)
    assert out.dtype == np.float16
    np.testing.assert_array_equal(out.numpy(), (a.astype(np.float32) @ b.astype(np.float32))
                                  .astype(np.float16))


# ------------------------------------------------------------------ every op keeps the dtype
KEEP_DTYPE = {
    "gelu": lambda x, y: mg.gelu(x), "gelu_tanh": lambda x, y: F.gelu(x, approximate="tanh"),
    "relu": lambda x, y: mg.relu(x), "silu": lambda x, y: F.silu(x),
    "sigmoid": lambda x, y: mg.sigmoid(x), "tanh": lambda x, y: mg.tanh(x),
    "sqrt": lambda x, y: mg.sqrt(x.abs() + 1), "rsqrt": lambda x, y: mg.rsqrt(x.abs() + 1),
    "sin": lambda x, y: mg.sin(x), "cos": lambda x, y: mg.cos(x),
    "pow": lambda x, y: (x.abs() + 1) ** 0.5, "square": lambda x, y: x ** 2,
    "clamp": lambda x, y: mg.clamp(x, -0.5, 0.5), "where": lambda x, y: mg.where(x > 0, x, y),
    "maximum": lambda x, y: mg.maximum(x, y), "abs": lambda x, y: mg.abs(x),
    "dropout": lambda x, y: mg.dropout(x, 0.5, training=True),
    "normalize": lambda x, y: F.normalize(x), "pad": lambda x, y: F.pad(x, (1, 1)),
    "embedding": lambda x, y: F.embedding(mg.tensor([0, 2]), x),
    "attention": lambda x, y: F.scaled_dot_product_attention(x[None], y[None], y[None]),
    "causal_attention": lambda x, y: F.scaled_dot_product_attention(x[None], x[None], y[None],
                                                                    is_causal=True),
    "cat": lambda x, y: mg.cat([x, y]), "amax": lambda x, y: x.amax(1),
    "max": lambda x, y: x.max(1)[0], "linear": lambda x, y: F.linear(x, y, y[0, :4]),
    "rsub": lambda x, y: 1 - x, "rdiv": lambda x, y: 2 / (x.abs() + 1),
    "scalar_mul": lambda x, y: x * 2.5, "masked_fill": lambda x, y: x.masked_fill(x > 0, 0.0),
    "log_softmax": lambda x, y: F.log_softmax(x, -1),
    "layer_norm": lambda x, y: F.layer_norm(x, (6,)),
}


@pytest.mark.parametrize("dtype", DTYPES)
def test_ops_keep_the_half_dtype_in_value_and_gradient(dtype):
    """No op turns float16/bfloat16 into float32 behind the user's back (NumPy takes
    bfloat16 * 0.5 to float32), and every gradient comes back in the input's dtype."""
    x = mg.randn(4, 6).to(dtype).requires_grad_(True)
    y = mg.randn(4, 6).to(dtype)
    for name, fn in KEEP_DTYPE.items():
        x.grad = None
        out = fn(x, y)
        assert out.dtype == x.dtype, f"{name}: {out.dtype}"
        out.float().sum().backward()
        assert x.grad is not None and x.grad.dtype == x.dtype, name

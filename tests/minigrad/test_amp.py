"""minigrad.autocast: which op runs in which dtype (against torch.autocast on the CPU where
torch's CPU lists agree with its CUDA lists, which minigrad follows), values, gradients to
float32 parameters, nesting, the decorator form, thread-locality and the cast cache."""
import threading

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn  # noqa: F401  (mg.nn.MultiheadAttention)
from minigrad import dtype as mg_dtype
from minigrad.errors import DTypeError, MinigradError

torch = pytest.importorskip("torch")
F = torch.nn.functional

LOW = [mg.float16] + ([mg_dtype.bfloat16] if hasattr(mg_dtype, "bfloat16") else [])
TORCH_OF = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def _t(a, requires_grad=False):
    return torch.tensor(np.asarray(a), requires_grad=requires_grad)


def _np(t):
    return t.detach().float().numpy()


def _tol(dtype):
    return dict(rtol=2e-2, atol=2e-2) if str(dtype) == "bfloat16" else dict(rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("low", LOW, ids=str)
@pytest.mark.parametrize("shape", [(4, 8), (2, 5, 16), (3, 1, 7, 33)])
@pytest.mark.parametrize("fused", [True, False])
def test_linear_runs_in_the_low_dtype_with_float32_gradients(low, shape, fused):
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(np.float32)
    w = rng.standard_normal((6, shape[-1])).astype(np.float32) / 4
    b = rng.standard_normal(6).astype(np.float32)
    mx, mw, mb = mg.tensor(x, requires_grad=True), mg.tensor(w, requires_grad=True), \
        mg.tensor(b, requires_grad=True)
    tx, tw, tb = _t(x, True), _t(w, True), _t(b, True)
    with mg.use_fused(fused), mg.autocast("cpu", dtype=low):
        y = mg.ops.linear(mx, mw, mb)
    with torch.autocast("cpu", dtype=TORCH_OF[str(low)]):
        ty = F.linear(tx, tw, tb)
    assert str(y.dtype) == str(ty.dtype).replace("torch.", "") == str(low)
    np.testing.assert_allclose(y.numpy().astype(np.float32), _np(ty), **_tol(low))
    (y.astype(mg.float32) ** 2).sum().backward()
    (ty.float() ** 2).sum().backward()
    for m, t in ((mx, tx), (mw, tw), (mb, tb)):
        assert m.grad.dtype == np.float32 and t.grad.dtype == torch.float32
        scale = np.abs(_np(t.grad)).max()
        np.testing.assert_allclose(m.grad.numpy(), _np(t.grad), rtol=0, atol=3e-2 * scale)


@pytest.mark.parametrize("low", LOW, ids=str)
@pytest.mark.parametrize("fused", [True, False])
def test_attention_runs_in_the_low_dtype(low, fused):
    rng = np.random.default_rng(1)
    q, k, v = (rng.standard_normal((2, 3, 5, 8)).astype(np.float32) for _ in range(3))
    with mg.use_fused(fused), mg.autocast("cpu", dtype=low):
        out = mg.scaled_dot_product_attention(mg.tensor(q), mg.tensor(k), mg.tensor(v),
                                              is_causal=True)
    with torch.autocast("cpu", dtype=TORCH_OF[str(low)]):
        tout = F.scaled_dot_product_attention(_t(q), _t(k), _t(v), is_causal=True)
    assert str(out.dtype) == str(low) and tout.dtype == TORCH_OF[str(low)]
    np.testing.assert_allclose(out.numpy().astype(np.float32), _np(tout), **_tol(low))


@pytest.mark.parametrize("low", LOW, ids=str)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_runs_in_float32(low, reduction):
    rng = np.random.default_rng(2)
    logits = (rng.standard_normal((64, 11)) * 5).astype(low)     # a float16 model's logits
    targets = rng.integers(0, 11, 64)
    ml = mg.tensor(logits, requires_grad=True)
    with mg.autocast("cpu", dtype=low):
        loss = mg.cross_entropy(ml, mg.tensor(targets), reduction=reduction)
    tl = torch.tensor(logits.astype(np.float32)).to(TORCH_OF[str(low)]).requires_grad_()
    with torch.autocast("cpu", dtype=TORCH_OF[str(low)]):
        tloss = F.cross_entropy(tl, torch.tensor(targets), reduction=reduction)
    assert loss.dtype == np.float32 and tloss.dtype == torch.float32
    np.testing.assert_allclose(loss.numpy(), _np(tloss), rtol=1e-5, atol=1e-5)
    loss.sum().backward()
    tloss.sum().backward()
    assert str(ml.grad.dtype) == str(low)            # the gradient comes back in the input's dtype
    np.testing.assert_allclose(ml.grad.numpy().astype(np.float32), _np(tl.grad), **_tol(low))


@pytest.mark.parametrize("low", LOW, ids=str)
@pytest.mark.parametrize("op", ["softmax", "log_softmax", "layer_norm"])
def test_float32_ops_cast_up_as_torch_cuda_autocast(low, op):
    # torch's CUDA autocast runs these in float32 (its CPU lists leave them in the low
    # dtype): the result is the float32 op of the upcast input
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((3, 4000)) * 8).astype(low)
    mx = mg.tensor(x, requires_grad=True)
    run = {"softmax": lambda a: mg.softmax(a, -1), "log_softmax": lambda a: mg.log_softmax(a, -1),
           "layer_norm": lambda a: mg.layer_norm(a, (4000,))}[op]
    trun = {"softmax": lambda a: F.softmax(a, -1), "log_softmax": lambda a: F.log_softmax(a, -1),
            "layer_norm": lambda a: F.layer_norm(a, (4000,))}[op]
    with mg.autocast("cpu", dtype=low):
        y = run(mx)
    assert y.dtype == np.float32
    expected = trun(torch.tensor(x.astype(np.float32)))
    np.testing.assert_allclose(y.numpy(), expected.numpy(), rtol=1e-5, atol=1e-6)
    y.sum().backward()
    assert str(mx.grad.dtype) == str(low)


def test_float64_and_integers_are_never_cast():
    x = mg.randn(3, 4, dtype=mg.float64)
    w = mg.randn(2, 4, dtype=mg.float64)
    with mg.autocast("cpu", dtype=mg.float16):
        assert mg.ops.linear(x, w).dtype == np.float64
        assert mg.softmax(x, -1).dtype == np.float64
        assert mg.cross_entropy(x, mg.tensor(np.array([0, 1, 2]))).dtype == np.float64


def test_other_ops_follow_promotion():
    with mg.autocast("cpu", dtype=mg.float16):
        y = mg.ops.linear(mg.randn(2, 4), mg.randn(3, 4))
        assert y.dtype == np.float16
        assert (y + mg.randn(2, 3)).dtype == np.float32           # as torch: promotion
        assert mg.relu(y).dtype == np.float16


def test_nesting_disabling_and_restoring():
    x, w = mg.randn(2, 4), mg.randn(3, 4)
    assert not mg.amp.is_autocast_enabled("cpu")
    with mg.autocast("cpu", dtype=mg.float16):
        assert mg.amp.is_autocast_enabled("cpu") and mg.amp.get_autocast_dtype("cpu") == np.float16
        with mg.autocast("cpu", enabled=False):
            assert mg.ops.linear(x, w).dtype == np.float32
        assert mg.ops.linear(x, w).dtype == np.float16
        with pytest.raises(ValueError):
            with mg.autocast("cpu", dtype=mg.float16):
                raise ValueError("inside")
        assert mg.ops.linear(x, w).dtype == np.float16     # restored after the exception
    assert not mg.amp.is_autocast_enabled("cpu")
    assert mg.ops.linear(x, w).dtype == np.float32


def test_decorator_form():
    @mg.autocast("cpu", dtype=mg.float16)
    def forward(x, w):
        return mg.ops.linear(x, w)
    assert forward(mg.randn(2, 4), mg.randn(3, 4)).dtype == np.float16
    assert not mg.amp.is_autocast_enabled("cpu")


def test_cuda_autocast_leaves_cpu_tensors_alone():
    with mg.autocast("cuda"):
        assert mg.amp.is_autocast_enabled("cuda") and not mg.amp.is_autocast_enabled("cpu")
        assert mg.ops.linear(mg.randn(2, 4), mg.randn(3, 4)).dtype == np.float32


def test_state_is_thread_local():
    seen = []
    with mg.autocast("cpu", dtype=mg.float16):
        t = threading.Thread(target=lambda: seen.append(
            mg.ops.linear(mg.randn(2, 4), mg.randn(3, 4)).dtype))
        t.start()
        t.join()
    assert seen == [np.float32]


def test_a_parameter_is_cast_once_per_region_and_gets_both_gradients():
    w = mg.randn(3, 4, requires_grad=True)
    x1, x2 = mg.randn(2, 4), mg.randn(5, 4)
    with mg.autocast("cpu", dtype=mg.float16):
        y1, y2 = mg.ops.linear(x1, w), mg.ops.linear(x2, w)
        assert y1.grad_fn.inputs[1] is y2.grad_fn.inputs[1]       # one cast of w
    with mg.autocast("cpu", dtype=mg.float16):
        y3 = mg.ops.linear(x1, w)
        assert y3.grad_fn.inputs[1] is not y1.grad_fn.inputs[1]   # a new region casts afresh
    (y1.astype(mg.float32).sum() + y2.astype(mg.float32).sum()).backward()
    expected = np.ones((3, 1), np.float32) * (x1.numpy().sum(0) + x2.numpy().sum(0))
    np.testing.assert_allclose(w.grad.numpy(), expected, rtol=2e-3, atol=2e-3)


def test_packed_attention_module_same_on_both_paths():
    mg.manual_seed(0)
    mha = mg.nn.MultiheadAttention(16, 4, batch_first=True)
    x = mg.randn(2, 7, 16)
    outs = []
    for fused in (True, False):
        with mg.use_fused(fused), mg.autocast("cpu", dtype=mg.float16):
            out = mha(x, x, x, need_weights=False)[0]
        assert out.dtype == np.float16
        outs.append(out.numpy().astype(np.float32))
    np.testing.assert_allclose(outs[0], outs[1], rtol=5e-3, atol=5e-3)


def test_bad_arguments():
    with pytest.raises(DTypeError, match="autocast"):
        mg.autocast("cpu", dtype=mg.float32)
    with pytest.raises(MinigradError, match="device_type"):
        mg.autocast("tpu", dtype=mg.float16)
    if not hasattr(mg_dtype, "bfloat16"):
        with pytest.raises(DTypeError, match="bfloat16"):
            mg.autocast("cpu")
    else:
        assert mg.autocast("cpu").fast_dtype == mg_dtype.bfloat16
    assert mg.autocast("cuda").fast_dtype == np.float16

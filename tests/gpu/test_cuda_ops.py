"""Every op on "cuda" gives the CPU's numbers (forward and gradients).

Runs only where CuPy sees an NVIDIA GPU (benchmarks/gpu_check.sh runs it there);
elsewhere each test is skipped with the reason.
"""
import numpy as np
import pytest

import minigrad as mg

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not mg.cuda_is_available(), reason="needs CuPy and an NVIDIA GPU")]

RNG = np.random.default_rng(0)


def _arr(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


CASES = {
    "add": (lambda a, b: a + b, [(3, 4), (4,)]),
    "mul": (lambda a, b: a * b, [(2, 3, 4), (3, 1)]),
    "div": (lambda a, b: a / (b.abs() + 1), [(3, 4), (3, 4)]),
    "pow": (lambda a: a ** 2, [(5,)]),
    "exp_log": (lambda a: (a.exp() + 1).log(), [(3, 4)]),
    "tanh_sigmoid_relu": (lambda a: a.tanh() + a.sigmoid() + a.relu(), [(3, 4)]),
    "gelu": (lambda a: mg.gelu(a) + mg.gelu(a, approximate="tanh"), [(3, 4)]),
    "matmul": (lambda a, b: a @ b, [(2, 3, 4), (4, 5)]),
    "sum_mean_var": (lambda a: a.sum(0) + a.mean(-1, keepdims=True) + a.var(1), [(4, 4)]),
    "max": (lambda a: a.max(-1).values + a.amax(0).sum(), [(3, 5)]),
    "shape": (lambda a: a.reshape(6, 2).T.unsqueeze(0).expand(2, 2, 6), [(3, 4)]),
    "concat": (lambda a, b: mg.concat([a, b], 1), [(3, 4), (3, 2)]),
    "stack": (lambda a, b: mg.stack([a, b], 1), [(3, 4), (3, 4)]),
    "getitem": (lambda a: a[[0, 0, 2], 1:], [(3, 4)]),
    "softmax": (lambda a: mg.softmax(a, -1) * mg.log_softmax(a, 0), [(3, 4)]),
    "layer_norm": (lambda a, w, b: mg.layer_norm(a, (4,), w, b), [(3, 4), (4,), (4,)]),
    "attention": (lambda q, k, v: mg.scaled_dot_product_attention(q, k, v, is_causal=True),
                  [(2, 2, 5, 8), (2, 2, 5, 8), (2, 2, 5, 8)]),
    "where_masked_fill": (lambda a, b: mg.where(a > 0, a, b).masked_fill(b > 1, 0.0),
                          [(3, 4), (3, 4)]),
}


def _run(fn, arrays, device):
    inputs = [mg.tensor(a, device=device, requires_grad=True) for a in arrays]
    out = fn(*inputs)
    weights = mg.tensor(np.linspace(-1, 1, out.numel(), dtype=np.float32).reshape(out.shape),
                        device=device)
    (out * weights).sum().backward()
    return out.numpy(), [t.grad.numpy() for t in inputs]


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_matches_cpu(name):
    fn, shapes = CASES[name]
    arrays = [_arr(*s) for s in shapes]
    out_cpu, grads_cpu = _run(fn, arrays, "cpu")
    out_gpu, grads_gpu = _run(fn, arrays, "cuda")
    np.testing.assert_allclose(out_gpu, out_cpu, rtol=1e-4, atol=1e-5)
    for g, c in zip(grads_gpu, grads_cpu):
        np.testing.assert_allclose(g, c, rtol=1e-4, atol=1e-5)


def test_cross_entropy_and_embedding_match_cpu():
    logits = _arr(6, 5)
    targets = np.array([0, 4, -100, 2, 2, 1])
    weight = _arr(7, 3)
    ids = np.array([[1, 2, 1], [6, 0, 0]])
    results = {}
    for device in ("cpu", "cuda"):
        x = mg.tensor(logits, device=device, requires_grad=True)
        loss = mg.cross_entropy(x, mg.tensor(targets, device=device), label_smoothing=0.1)
        w = mg.tensor(weight, device=device, requires_grad=True)
        e = mg.embedding(mg.tensor(ids, device=device), w, padding_idx=0)
        (loss + e.sum()).backward()
        results[device] = (loss.item(), x.grad.numpy(), w.grad.numpy())
    np.testing.assert_allclose(results["cuda"][0], results["cpu"][0], rtol=1e-5)
    for g, c in zip(results["cuda"][1:], results["cpu"][1:]):
        np.testing.assert_allclose(g, c, rtol=1e-4, atol=1e-6)


def test_dropout_on_gpu_keeps_expectation():
    x = mg.ones(1000, 1000, device="cuda")
    y = mg.dropout(x, 0.25)
    assert y.device == "cuda:0"
    assert abs(float(y.mean().item()) - 1.0) < 0.01


def test_device_round_trip_and_mixing_error():
    a = mg.randn(3, 4)
    b = a.to("cuda")
    assert b.device == "cuda:0"
    np.testing.assert_array_equal(b.to("cpu").numpy(), a.numpy())
    with pytest.raises(mg.DeviceError, match="cpu.*cuda:0|cuda:0.*cpu"):
        a + b


def test_masks_and_indices_from_the_host():
    """Arrays and lists are placed on the input's device (torch takes Python sequences
    so); a CPU tensor of several elements is refused with the op's name, a 0-d one is
    taken (both as torch)."""
    x = mg.arange(6.0, device="cuda").reshape(2, 3)
    mask = np.array([[True, False, True], [False, True, False]])
    np.testing.assert_array_equal(x.masked_select(mask).numpy(), [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(x.masked_fill(mask.tolist(), -1.0).numpy(),
                                  [[-1, 1, -1], [3, -1, 5]])
    np.testing.assert_array_equal(mg.where(mg.tensor(True), x, 0.0).numpy(), x.numpy())
    np.testing.assert_array_equal(x.index_select(1, [2, 0]).numpy(), [[2, 0], [5, 3]])
    for op, call in [("masked_select", lambda: x.masked_select(mg.tensor(mask))),
                     ("where", lambda: mg.where(mg.tensor(mask), x, 0.0)),
                     ("cross_entropy", lambda: mg.cross_entropy(x, mg.tensor([0, 1])))]:
        with pytest.raises(mg.DeviceError, match=f"{op}: .* is on cpu but the input is on cuda:0"):
            call()


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("affine", [True, False], ids=["affine", "plain"])
@pytest.mark.parametrize("shape,nd", [((3, 1), 1), ((2, 5, 33), 1), ((4, 1500), 1),
                                      ((2, 3, 4, 5), 2), ((7, 256), 1), ((1, 64), 1)])
def test_fused_layer_norm_kernel_matches_cpu(shape, nd, affine, dtype):
    """cuda_kernels' one-launch layer norm: the CPU's values and gradients (rows shorter
    and longer than a thread block, several normalised axes, a constant row)."""
    r = np.random.default_rng(1)
    x = (r.standard_normal(shape) * 3 + 1).astype(dtype)
    x[(0,) * (x.ndim - nd)] = 2.5                      # a constant row: variance 0
    norm = shape[-nd:]
    arrays = [x] + ([r.standard_normal(norm).astype(dtype) for _ in range(2)] if affine else [])
    weights = r.standard_normal(shape).astype(dtype)
    results = {}
    for device in ("cpu", "cuda"):
        inputs = [mg.tensor(a, device=device, requires_grad=True) for a in arrays]
        out = mg.layer_norm(inputs[0], norm, *inputs[1:], eps=1e-5)
        (out * mg.tensor(weights, device=device)).sum().backward()
        results[device] = [out.numpy()] + [t.grad.numpy() for t in inputs]
    tol = 2e-5 if dtype == np.float32 else 1e-10
    for got, want in zip(results["cuda"], results["cpu"]):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1, np.abs(want).max()))


def test_range_checks_and_ignored_targets_on_the_gpu():
    from minigrad.backend import int_range
    cp = pytest.importorskip("cupy")
    for values, ignore in [([3, -100, 5], -100), ([-100, -100], -100), ([[2, 9], [0, 1]], None),
                           ([], None), ([7], 7)]:
        a = np.asarray(values, dtype=np.int64)
        assert int_range(cp.asarray(a), ignore) == int_range(a, ignore), (values, ignore)
    assert int_range(cp.asarray(np.array([4, 200], np.uint8))) == (4, 200)
    with pytest.raises(mg.IndexOutOfRangeError, match="cross_entropy: target 5"):
        mg.cross_entropy(mg.zeros(2, 5, device="cuda"), mg.tensor([1, 5], device="cuda"))
    logits = mg.randn(3, 4, device="cuda", requires_grad=True)
    loss = mg.cross_entropy(logits, mg.tensor([-100, -100, -100], device="cuda"))
    loss.backward()                  # the mean over no targets: NaN, and a zero gradient
    assert np.isnan(loss.item()) and not logits.grad.numpy().any()


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_dropout_mask_kernel_values(dtype):
    """The one-pass GPU mask: only 0 and 1/keep, in the input's dtype, about keep kept."""
    y = mg.dropout(mg.ones(400, 500, device="cuda", dtype=dtype), 0.3).numpy()
    assert y.dtype == dtype
    assert set(np.unique(y).tolist()) == {0.0, float(dtype(1 / 0.7))}
    assert abs((y != 0).mean() - 0.7) < 0.01

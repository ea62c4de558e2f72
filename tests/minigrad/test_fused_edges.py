"""Every fused kernel equals its public reference (`<op>_reference`) on the edge cases, in
value and in gradient: empty rows, fully masked rows, all-ignored targets, -inf and +inf
inputs, float16 and float64; and both equal PyTorch where PyTorch defines the result.

NaN counts as equal to NaN: where the result is NaN (log_softmax of a row of -inf, the
mean of no targets), both paths must say so, in the same places.
"""
import numpy as np
import pytest

import minigrad as mg
from minigrad import ops
from minigrad.ops import dispatch
from testutil import require_torch

INF = np.inf
TOL = {np.float64: 1e-10, np.float32: 1e-5, np.float16: 2e-3}


def paths(public, reference, arrays, dtype, seed=0):
    """Run the op three ways: fused (the default), through the dispatch with
    use_fused(False), and by calling the reference directly. Each returns (outputs,
    gradients of a fixed weighting of the outputs) as float64 arrays."""
    results = []
    for how in ("fused", "use_fused(False)", "reference"):
        xs = [mg.tensor(np.asarray(a, dtype=dtype), requires_grad=True) for a in arrays]
        mg.manual_seed(seed)                 # dropout draws the same mask every time
        with mg.use_fused(how == "fused"):
            out = (reference if how == "reference" else public)(*xs)
        w = mg.tensor(np.random.default_rng(1).uniform(0.5, 1.5, out.shape), dtype=out.dtype)
        grads = mg.grad((out * w).sum(), xs, allow_unused=True) if out.requires_grad else \
            [None] * len(xs)
        grads = [np.zeros(x.shape) if g is None else g.numpy().astype(np.float64)
                 for x, g in zip(xs, grads)]
        results.append((out.numpy().astype(np.float64), grads))
    fused = results[0]
    tol = TOL[np.dtype(dtype).type]
    for out, grads in results[1:]:
        np.testing.assert_allclose(out, fused[0], rtol=tol, atol=tol, equal_nan=True)
        for g, fg in zip(grads, fused[1]):
            np.testing.assert_allclose(g, fg, rtol=tol, atol=tol, equal_nan=True)
    return fused


def like_torch(result, torch_fn, arrays, dtype, tol=None):
    """Compare (outputs, gradients) with PyTorch's, same weighting of the outputs."""
    torch = require_torch()
    xs = [torch.tensor(np.asarray(a, dtype=dtype), requires_grad=True) for a in arrays]
    out = torch_fn(*xs)
    w = torch.tensor(np.random.default_rng(1).uniform(0.5, 1.5, tuple(out.shape)), dtype=out.dtype)
    grads = torch.autograd.grad((out * w).sum(), xs, allow_unused=True)
    tol = tol or TOL[np.dtype(dtype).type]
    np.testing.assert_allclose(result[0], out.detach().double().numpy(), rtol=tol, atol=tol,
                               equal_nan=True)
    for mine, theirs in zip(result[1], grads):
        theirs = np.zeros(mine.shape) if theirs is None else theirs.double().numpy()
        np.testing.assert_allclose(mine, theirs, rtol=tol, atol=tol, equal_nan=True)


DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])


# ------------------------------------------------------------------ softmax, log_softmax
SOFTMAX_CASES = {
    "plain": np.array([[1.0, 2.0, -3.0], [0.5, 0.5, 0.5]]),
    "a -inf entry": np.array([[0.0, -INF, 1.0], [2.0, 1.0, -INF]]),
    "a row of -inf": np.array([[-INF, -INF, -INF], [0.0, 1.0, 2.0]]),
    "a +inf entry": np.array([[INF, 1.0, 0.0], [0.0, 1.0, 2.0]]),
    "no rows": np.zeros((0, 3)),
    "empty rows": np.zeros((2, 0)),
}


@DTYPES
@pytest.mark.parametrize("case", list(SOFTMAX_CASES))
def test_softmax_edges(case, dtype):
    x = SOFTMAX_CASES[case]
    r = paths(lambda t: mg.softmax(t, -1), lambda t: ops.softmax_reference(t, -1), [x], dtype)
    if case == "a row of -inf":             # zeros, not NaN (PyTorch: NaN), and no gradient
        assert (r[0][0] == 0).all() and (r[1][0][0] == 0).all()
    elif dtype != np.float16:
        like_torch(r, lambda t: t.softmax(-1), [x], dtype)
    r = paths(lambda t: mg.log_softmax(t, -1), lambda t: ops.log_softmax_reference(t, -1),
              [x], dtype)
    if dtype != np.float16:
        like_torch(r, lambda t: t.log_softmax(-1), [x], dtype)


# ------------------------------------------------------------------ layer_norm
LAYER_NORM_CASES = {
    "plain": (np.array([[1.0, 2.0, 4.0], [0.0, -1.0, 5.0]]), (3,)),
    "constant row": (np.array([[2.0, 2.0, 2.0], [0.0, -1.0, 5.0]]), (3,)),
    "a -inf entry": (np.array([[1.0, -INF, 4.0], [0.0, -1.0, 5.0]]), (3,)),
    "no rows": (np.zeros((0, 3)), (3,)),
    "empty normalized shape": (np.zeros((2, 0)), (0,)),
    "two axes": (np.arange(12.0).reshape(2, 2, 3) ** 1.5, (2, 3)),
}


@DTYPES
@pytest.mark.parametrize("case", list(LAYER_NORM_CASES))
def test_layer_norm_edges(case, dtype):
    x, shape = LAYER_NORM_CASES[case]
    r = np.random.default_rng(2)
    w, b = r.uniform(0.5, 2, shape), r.uniform(-1, 1, shape)

    def public(t, w, b):
        return mg.layer_norm(t, shape, w, b, eps=1e-5)

    def reference(t, w, b):                      # float16 is computed in float32 (both paths)
        f = (lambda a: a.astype(np.float32)) if t.dtype == np.float16 else (lambda a: a)
        out = ops.layer_norm_reference(f(t), shape, f(w), f(b), eps=1e-5)
        return out.astype(t.dtype)
    result = paths(public, reference, [x, w, b], dtype)
    if dtype != np.float16:
        like_torch(result, lambda t, w, b: __import__("torch").nn.functional.layer_norm(
            t, shape, w, b, eps=1e-5), [x, w, b], dtype, tol=1e-4 if dtype == np.float32 else None)


# ------------------------------------------------------------------ cross_entropy
CE_CASES = {
    "plain": (np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]), [2, 0]),
    "all targets ignored": (np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]), [-100, -100]),
    "some ignored": (np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]), [-100, 1]),
    "no rows": (np.zeros((0, 3)), []),
    "-inf on a wrong class": (np.array([[1.0, -INF, 0.5], [0.0, -1.0, 3.0]]), [0, 2]),
    "-inf on the target": (np.array([[1.0, -INF, 0.5], [0.0, -1.0, 3.0]]), [1, 2]),
}


@DTYPES
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("case", list(CE_CASES))
def test_cross_entropy_edges(case, reduction, smoothing, dtype):
    x, t = CE_CASES[case]
    t = np.array(t, dtype=np.int64)
    kw = dict(ignore_index=-100, label_smoothing=smoothing, reduction=reduction)

    def reference(z):                            # float16 is computed in float32 (both paths)
        f = z.astype(np.float32) if z.dtype == np.float16 else z
        return ops.cross_entropy_reference(f, t, **kw).astype(z.dtype)
    r = paths(lambda z: mg.cross_entropy(z, t, **kw), reference, [x], dtype)
    if case == "all targets ignored":            # NaN mean of nothing, but a zero gradient
        assert (r[1][0] == 0).all()
    if dtype != np.float16 and not (smoothing and "-inf" in case):
        # (smoothing over a -inf logit: PyTorch's sum of log-probabilities is -inf, its
        # gradient NaN; ours too, but the weighted comparison would compare inf with inf)
        like_torch(r, lambda z: __import__("torch").nn.functional.cross_entropy(
            z, __import__("torch").tensor(t), **kw), [x], dtype)


# ------------------------------------------------------------------ gelu
@DTYPES
@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_edges(approximate, dtype):
    x = np.array([-INF, -30.0, -3.0, -0.5, 0.0, 0.5, 3.0, 30.0, INF])
    if dtype == np.float32:               # (PyTorch's float32 gelu(inf) is NaN, its float64 inf)
        x = x[1:-1]
    r = paths(lambda t: mg.gelu(t, approximate), lambda t: ops.gelu_reference(t, approximate),
              [x], dtype)
    if dtype != np.float16:
        like_torch(r, lambda t: __import__("torch").nn.functional.gelu(t, approximate=approximate),
                   [x], dtype)
    paths(lambda t: mg.gelu(t, approximate), lambda t: ops.gelu_reference(t, approximate),
          [np.zeros((0, 3))], dtype)


# ------------------------------------------------------------------ linear
@DTYPES
@pytest.mark.parametrize("shape", [(2, 3, 4), (0, 4), (3, 0), (4,)])
def test_linear_edges(shape, dtype):
    r = np.random.default_rng(3)
    x, w, b = r.standard_normal(shape), r.standard_normal((5, shape[-1])), r.standard_normal(5)
    res = paths(ops.linear, ops.linear_reference, [x, w, b], dtype)
    if dtype != np.float16:
        like_torch(res, require_torch().nn.functional.linear if shape[-1] else
                   (lambda x, w, b: x @ w.T + b), [x, w, b], dtype,
                   tol=1e-4 if dtype == np.float32 else None)


# ------------------------------------------------------------------ attention
def _attention_arrays(t, s, r):
    return [r.standard_normal((2, t, 4)), r.standard_normal((2, s, 4)), r.standard_normal((2, s, 3))]


ATTENTION_CASES = {        # (T, S, mask builder (T, S) -> mask or None, is_causal)
    "plain": (3, 4, lambda t, s: None, False),
    "causal, T < S (top-left aligned, as PyTorch)": (2, 4, lambda t, s: None, True),
    "bool mask, a row fully masked": (3, 4, lambda t, s: np.arange(t)[:, None] != 1, False),
    "bool mask and causal": (4, 4, lambda t, s: np.arange(s)[None, :] != 2, True),
    "float mask with -inf, a row all -inf": (
        3, 4, lambda t, s: np.where(np.arange(t)[:, None] == 0, -INF,
                                    np.linspace(-1, 1, t * s).reshape(t, s)), False),
    "no queries": (0, 4, lambda t, s: None, False),
    "no keys": (3, 0, lambda t, s: None, False),
}


@DTYPES
@pytest.mark.parametrize("dropout_p", [0.0, 0.4])
@pytest.mark.parametrize("case", list(ATTENTION_CASES))
def test_attention_edges(case, dropout_p, dtype):
    t, s, build, causal = ATTENTION_CASES[case]
    mask = build(t, s)
    if mask is not None and mask.dtype.kind == "f":
        mask = mask.astype(dtype)
    arrays = _attention_arrays(t, s, np.random.default_rng(4))
    kw = dict(attn_mask=mask, dropout_p=dropout_p, is_causal=causal)

    def reference(q, k, v):
        return ops.scaled_dot_product_attention_reference(q, k, v, **kw)[0]
    r = paths(lambda q, k, v: mg.scaled_dot_product_attention(q, k, v, **kw), reference, arrays,
              dtype)
    assert np.isfinite(r[0]).all() and all(np.isfinite(g).all() for g in r[1])
    if "fully masked" in case or "all -inf" in case:
        row = 1 if "fully" in case else 0
        assert (r[0][:, row] == 0).all() and (r[1][0][:, row] == 0).all()
    if dtype != np.float16 and dropout_p == 0 and s > 0:
        torch = require_torch()
        tmask = None if mask is None else torch.tensor(mask)
        if causal:                                   # PyTorch: a mask or is_causal, not both
            lower = torch.ones(t, s, dtype=torch.bool).tril()
            tmask = lower if tmask is None else (tmask & lower)
        like_torch(r, lambda q, k, v: torch.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=tmask), arrays, dtype)


def test_attention_weights_agree_and_rows_sum_to_one_or_zero():
    r = np.random.default_rng(5)
    q, k, v = (mg.tensor(a, dtype=mg.float64) for a in _attention_arrays(3, 4, r))
    mask = np.ones((3, 4), bool)
    mask[2] = False
    weights = []
    for fused in (True, False):
        with mg.use_fused(fused):
            out, w = ops.scaled_dot_product_attention_with_weights(q, k, v, attn_mask=mask)
        weights.append(w.numpy())
        np.testing.assert_allclose(out.numpy(), (w @ v).numpy(), atol=1e-12)
    np.testing.assert_allclose(weights[0], weights[1], atol=1e-12)
    np.testing.assert_allclose(weights[0].sum(-1), [[1, 1, 0]] * 2, atol=1e-12)


def test_a_float_mask_that_requires_grad_runs_the_reference_and_gets_its_gradient():
    torch = require_torch()
    r = np.random.default_rng(6)
    arrays = _attention_arrays(3, 4, r) + [r.standard_normal((3, 4))]
    q, k, v, m = (mg.tensor(a, dtype=mg.float64, requires_grad=True) for a in arrays)
    assert "attn_mask requires grad" in dispatch.why_not_fused("attention", q, k, v, attn_mask=m)
    out = mg.scaled_dot_product_attention(q, k, v, attn_mask=m)
    assert out._ctx.name != "attention"
    grads = mg.grad(out.sum(), [q, k, v, m])
    tq, tk, tv, tm = (torch.tensor(a, requires_grad=True) for a in arrays)
    t_out = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, attn_mask=tm)
    t_grads = torch.autograd.grad(t_out.sum(), [tq, tk, tv, tm])
    for mine, theirs in zip(grads, t_grads):
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-10, atol=1e-10)


# ------------------------------------------------------------------ the dispatch
def test_fused_op_names_are_the_kernels_names():
    from minigrad.ops.activation import GELU
    from minigrad.ops.attention import ScaledDotProductAttention
    from minigrad.ops.cross_entropy import CrossEntropy
    from minigrad.ops.layer_norm import LayerNorm
    from minigrad.ops.linear import Linear
    from minigrad.ops.softmax import LogSoftmax, Softmax
    kernels = {"softmax": Softmax, "log_softmax": LogSoftmax, "layer_norm": LayerNorm,
               "cross_entropy": CrossEntropy, "scaled_dot_product_attention": ScaledDotProductAttention,
               "gelu": GELU, "linear": Linear}
    assert {op: k.name for op, k in kernels.items()} == dispatch.FUSED_OPS


def test_why_not_fused_gives_reasons():
    x = mg.randn(2, 3, requires_grad=True)
    assert dispatch.why_not_fused("softmax", x) is None
    with mg.use_fused(False):
        assert dispatch.why_not_fused("softmax", x) == "minigrad.use_fused(False) is in effect"
    with pytest.raises(mg.MinigradError, match="unknown op 'softmaxx'.*softmax"):
        dispatch.why_not_fused("softmaxx", x)


@pytest.mark.parametrize("fused", [True, False])
def test_softmax_and_the_step_by_step_attention_are_twice_differentiable(fused):
    """Second derivatives through softmax (kernel or reference) and through attention
    under use_fused(False) equal PyTorch's."""
    torch = require_torch()
    r = np.random.default_rng(7)
    arrays = _attention_arrays(3, 4, r)
    mask = np.ones((3, 4), bool)
    mask[1, 2:] = False

    def mine(q, k, v):
        return (mg.softmax(q, -1) ** 2).sum() + \
            (mg.scaled_dot_product_attention(q, k, v, attn_mask=mask) ** 2).sum()

    def theirs(q, k, v):
        return (q.softmax(-1) ** 2).sum() + (torch.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=torch.tensor(mask)) ** 2).sum()
    xs = [mg.tensor(a, dtype=mg.float64, requires_grad=True) for a in arrays]
    with mg.use_fused(fused):
        if fused:                        # the fused attention is once-differentiable
            grads = mg.grad((mg.softmax(xs[0], -1) ** 2).sum(), xs[:1], create_graph=True)
        else:
            grads = mg.grad(mine(*xs), xs, create_graph=True)
        second = mg.grad(sum((g * g).sum() for g in grads), xs, allow_unused=True)
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    t_out = (ts[0].softmax(-1) ** 2).sum() if fused else theirs(*ts)
    t_grads = torch.autograd.grad(t_out, ts[:1] if fused else ts, create_graph=True)
    t_second = torch.autograd.grad(sum((g * g).sum() for g in t_grads), ts, allow_unused=True)
    for a, b in zip(second, t_second):
        if b is None:
            assert a is None or not a.numpy().any()
        else:
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-11)


def test_erf_is_a_twice_differentiable_op_equal_to_torch():
    torch = require_torch()
    x = mg.tensor(np.linspace(-5, 5, 23), dtype=mg.float64, requires_grad=True)
    assert mg.gradcheck(ops.erf, [x])
    (g,) = mg.grad(ops.erf(x).sum(), [x], create_graph=True)
    (h,) = mg.grad(g.sum(), [x])
    t = torch.tensor(x.numpy(), requires_grad=True)
    (tg,) = torch.autograd.grad(torch.erf(t).sum(), [t], create_graph=True)
    (th,) = torch.autograd.grad(tg.sum(), [t])
    np.testing.assert_allclose(ops.erf(x).numpy(), torch.erf(t).detach().numpy(), atol=1e-15)
    np.testing.assert_allclose(g.numpy(), tg.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(h.numpy(), th.numpy(), rtol=1e-12, atol=1e-15)
    with pytest.raises(mg.DTypeError, match="erf: expected a floating point tensor"):
        ops.erf(mg.tensor([1, 2]))


def test_a_mask_that_would_enlarge_the_scores_is_refused():
    q, k, v = (mg.randn(3, 4) for _ in range(3))
    for mask in (np.ones((2, 3, 3), bool), np.zeros((5, 3, 3))):
        with pytest.raises(mg.ShapeError, match=r"attn_mask of shape \(\d, 3, 3\) does not "
                                                r"broadcast to the scores' shape \(3, 3\)"):
            mg.scaled_dot_product_attention(q, k, v, attn_mask=mask)

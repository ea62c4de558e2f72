"""Fused kernels against their composed reference versions (`use_fused(False)`): the
same outputs and the same gradients, in float64 to within 1e-10."""
import os

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from testutil import FRESH_CASES, assert_close

EXAMPLES = int(os.environ.get("MINIGRAD_EXAMPLES", "15"))
# The same cases on every run; MINIGRAD_HYPOTHESIS_RANDOM=1 draws fresh ones (testutil)
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=not FRESH_CASES,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def run_both(fn, arrays, fused_name, seed=0):
    """fn(*tensors) with fused kernels and with the composed reference; compare outputs
    and the gradients of a random weighting of the outputs."""
    results = []
    for fused in (True, False):
        xs = [mg.tensor(a, dtype=mg.float64, requires_grad=True) for a in arrays]
        mg.manual_seed(seed)                   # dropout draws the same mask both times
        with mg.use_fused(fused):
            outs = fn(*xs)
        outs = list(outs) if isinstance(outs, tuple) else [outs]
        names = op_names(outs)
        r = np.random.default_rng(1)
        weights = [mg.tensor(r.standard_normal(o.shape), dtype=mg.float64) for o in outs]
        grads = mg.grad([o for o in outs if o.requires_grad], xs,
                        grad_outputs=[w for o, w in zip(outs, weights) if o.requires_grad],
                        allow_unused=True)
        results.append((outs, grads, names))
    (f_outs, f_grads, f_names), (c_outs, c_grads, c_names) = results
    assert fused_name in f_names, f"the fused run should end in {fused_name}, got {f_names}"
    assert fused_name not in c_names, f"the composed run should not use {fused_name}"
    for a, b in zip(f_outs, c_outs):
        assert_close(a, b.numpy())
    for x, a, b in zip(arrays, f_grads, c_grads):
        a = np.zeros(np.shape(x)) if a is None else a.numpy()
        b = np.zeros(np.shape(x)) if b is None else b.numpy()
        assert_close(a, b)


def op_names(outputs):
    """Names of every op recorded in the graph behind `outputs`."""
    names, seen = set(), set()
    stack = [o._ctx for o in outputs if o._ctx is not None]
    while stack:
        fn = stack.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        names.add(fn.name)
        stack.extend(t._ctx for t in fn.inputs if t._ctx is not None)
    return names


def seeded(data):
    return np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))


@SETTINGS
@given(data=st.data())
def test_softmax_and_log_softmax(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    r = seeded(data)
    x = r.standard_normal(shape) * 5
    if data.draw(st.booleans(), label="some -inf"):   # masked entries, every row keeps one
        blocked = r.random(shape) < 0.3
        first = [slice(None)] * len(shape)
        first[axis] = 0
        blocked[tuple(first)] = False
        x[blocked] = -np.inf
    run_both(lambda t: mg.softmax(t, axis), [x], "softmax")
    run_both(lambda t: mg.log_softmax(t, axis), [np.where(np.isinf(x), -30.0, x)], "log_softmax")


@SETTINGS
@given(data=st.data())
def test_layer_norm(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    nd = data.draw(st.integers(1, min(2, len(shape))))
    norm = shape[len(shape) - nd:]
    r = seeded(data)
    has_w, has_b = data.draw(st.booleans()), data.draw(st.booleans())
    arrays = [r.standard_normal(shape)] + [r.standard_normal(norm)] * has_w \
        + [r.standard_normal(norm)] * has_b

    def fn(x, *wb):
        return mg.layer_norm(x, norm, wb[0] if has_w else None, wb[-1] if has_b else None)
    run_both(fn, arrays, "layer_norm")


@SETTINGS
@given(data=st.data())
def test_cross_entropy(data):
    r = seeded(data)
    n, c = data.draw(st.integers(1, 5)), data.draw(st.integers(2, 6))
    extra = data.draw(st.lists(st.integers(1, 3), max_size=1))
    ignore_index = data.draw(st.sampled_from([-100, 1]))
    targets = r.integers(0, c, (n, *extra))
    targets[r.random(targets.shape) < 0.3] = ignore_index
    targets.reshape(-1)[0] = 0                      # at least one counted target
    kw = dict(ignore_index=ignore_index,
              label_smoothing=data.draw(st.sampled_from([0.0, 0.1, 0.25])),
              reduction=data.draw(st.sampled_from(["mean", "sum", "none"])))
    logits = r.standard_normal((n, c, *extra)) * 3
    run_both(lambda x: mg.cross_entropy(x, targets, **kw), [logits], "cross_entropy")


@SETTINGS
@given(data=st.data())
def test_attention(data):
    r = seeded(data)
    batch = data.draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=2))
    t, s, d = (data.draw(st.integers(1, 4)) for _ in range(3))
    kind = data.draw(st.sampled_from(["none", "bool", "float", "causal", "bool+causal"]))
    mask = None
    if kind in ("bool", "bool+causal"):                 # True: may attend
        mask = r.random((t, s)) >= 0.3
        if data.draw(st.booleans(), label="first row fully blocked"):
            mask[0] = False
    elif kind == "float":
        mask = r.standard_normal(batch + (t, s))
        mask[..., -1, :] = -np.inf                  # a fully masked row
    p = data.draw(st.sampled_from([0.0, 0.0, 0.3]))
    scale = data.draw(st.sampled_from([None, 0.5]))

    def fn(q, k, v):
        return mg.ops.scaled_dot_product_attention_with_weights(
            q, k, v, attn_mask=mask, dropout_p=p, is_causal="causal" in kind, scale=scale)
    arrays = [r.standard_normal(batch + (t, d)), r.standard_normal(batch + (s, d)),
              r.standard_normal(batch + (s, 3))]
    run_both(lambda q, k, v: fn(q, k, v)[0], arrays, "attention")
    # the returned weights agree too (and fully masked rows are zero, not NaN)
    weights = []
    for fused in (True, False):
        mg.manual_seed(0)
        with mg.use_fused(fused):
            weights.append(fn(*[mg.tensor(a, dtype=mg.float64) for a in arrays])[1].numpy())
    np.testing.assert_allclose(weights[0], weights[1], rtol=1e-10, atol=1e-12)
    assert np.isfinite(weights[0]).all()


@SETTINGS
@given(data=st.data())
def test_gelu(data):
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    x = seeded(data).standard_normal(shape) * 3
    approximate = data.draw(st.sampled_from(["tanh", "none"]))
    run_both(lambda t: mg.gelu(t, approximate=approximate), [x], "gelu")


def test_fully_masked_query_row_gives_zeros_and_finite_gradients():
    """Fused and composed: a query that may attend to nothing outputs 0, never NaN."""
    r = np.random.default_rng(0)
    q, k, v = (mg.tensor(r.standard_normal(s), dtype=mg.float64, requires_grad=True)
               for s in [(2, 3, 4), (2, 5, 4), (2, 5, 2)])
    mask = np.ones((3, 5), bool)                # True: may attend
    mask[1] = False
    for fused in (True, False):
        with mg.use_fused(fused):
            out, weights = mg.ops.scaled_dot_product_attention_with_weights(q, k, v, attn_mask=mask)
        grads = mg.grad(out.sum(), [q, k, v])
        assert np.all(out.numpy()[:, 1] == 0) and np.all(weights.numpy()[:, 1] == 0)
        assert all(np.isfinite(g.numpy()).all() for g in grads)
        assert np.all(grads[0].numpy()[:, 1] == 0)

"""Fuzz the layers, optimizers, schedules, gradient clipping and io.

Layers are built from random (valid or invalid) constructor arguments, given
PyTorch's module the same weights, and called on random inputs: outputs and
gradients must match, or both refuse. Optimizers take random hyper-parameters
and parameters of random shapes and dtypes, and must follow PyTorch step by
step, also across a state_dict round trip. io must round-trip any named tensors
bit for bit and refuse any broken file with a CheckpointError.
"""
import json
import os
import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import nn
from minigrad.errors import MinigradError
from minigrad.io import CheckpointError
from reliability.fuzzlib import (ALSO_RAISED, DTYPES, EXPECTED_ERROR, MATCHED, NUMPY_ONLY,
                                 NUMPY_REFERENCE, SELF_CONSISTENT, STRICTER, STRUCTURAL,
                                 assert_counted, assert_same, check, count, dtypes, expect_error,
                                 float_dtypes, fuzz_settings, rng, shapes, torch, values)
from testutil import require_torch

pytestmark = [pytest.mark.torch,      # PyTorch says so each time it builds Linear(0, n)
              pytest.mark.filterwarnings("ignore:Initializing zero-element tensors")]


@pytest.fixture(autouse=True)
def _torch():
    require_torch()


def tnn():
    return torch().nn


def copy_params(ours, theirs, names):
    """Give the torch module our weights (same names, as the converters assume)."""
    t = torch()
    with t.no_grad():
        for mine, their in names:
            p = dict(ours.named_parameters())[mine]
            getattr_path(theirs, their).copy_(t.from_numpy(p.numpy().copy()))


def getattr_path(obj, path):
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


# ------------------------------------------------------------------ layers
@fuzz_settings(60)
@given(data=st.data(), n_in=st.integers(-1, 4), n_out=st.integers(-1, 4), bias=st.booleans(),
       dtype=dtypes, lead=shapes(max_dims=2, max_side=3))
def test_linear(data, n_in, n_out, bias, dtype, lead):
    width = n_in if data.draw(st.integers(0, 4), label="fits") else n_in + 1
    x = values(rng(data), lead + (max(width, 0),), dtype)

    def ours(x):
        m = nn.Linear(n_in, n_out, bias=bias)
        return m(x), m

    def make():
        mine = nn.Linear(n_in, n_out, bias=bias)
        theirs = tnn().Linear(n_in, n_out, bias=bias)
        copy_params(mine, theirs, [("weight", "weight")] + ([("bias", "bias")] if bias else []))
        return mine, theirs
    try:
        mine, theirs = make()
    except MinigradError as e:                       # refused: PyTorch must refuse it too
        assert "Linear" in str(e) or "linear" in str(e)
        with pytest.raises(Exception):
            tnn().Linear(n_in, n_out, bias=bias)
        count(ALSO_RAISED)
        return
    except Exception as e:                           # noqa: BLE001
        pytest.fail(f"Linear({n_in}, {n_out}): raised {type(e).__name__} (not a MinigradError): {e}")
    def reference(x):                                # float64 NumPy
        out = x.astype(np.float64) @ mine.weight.numpy().astype(np.float64).T
        return out + mine.bias.numpy() if bias else out
    check("linear", lambda x: mine(x), lambda x: theirs(x), [x], args=(n_in, n_out),
          also=("Linear", "matmul"), reference=reference)


@fuzz_settings(60)
@given(data=st.data(), vocab=st.integers(0, 5), dim=st.integers(0, 3),
       padding_idx=st.sampled_from([None, 0, 2, -1, 5, -6]), id_dtype=dtypes,
       ids_shape=shapes(max_dims=2, max_side=3))
def test_embedding_module(data, vocab, dim, padding_idx, id_dtype, ids_shape):
    r = rng(data)
    ids = r.integers(0, max(vocab, 1) + (data.draw(st.integers(0, 4), label="oob") == 0),
                     ids_shape).astype(id_dtype)
    try:
        mine = nn.Embedding(vocab, dim, padding_idx=padding_idx)
    except MinigradError as e:
        assert "Embedding" in str(e) and str(padding_idx) in str(e)
        with pytest.raises(Exception):
            tnn().Embedding(vocab, dim, padding_idx=padding_idx)
        count(ALSO_RAISED)
        return
    theirs = tnn().Embedding(vocab, dim, padding_idx=padding_idx)
    copy_params(mine, theirs, [("weight", "weight")])

    def torch_fn(i):
        return theirs(i.long() if i.dtype == torch().int32 else i)
    check("embedding", lambda i: mine(i), torch_fn, [ids], args=(vocab, padding_idx),
          also=("Embedding",))
    if padding_idx is not None and vocab:          # the padding row stays zero at init
        assert not mine.weight.numpy()[padding_idx].any()


@fuzz_settings(60)
@given(data=st.data(), dtype=float_dtypes, shape=shapes(min_dims=1, max_dims=3, max_side=3),
       affine=st.booleans(), bias=st.booleans(), eps=st.sampled_from([1e-5, 1e-2]))
def test_layer_norm_module(data, dtype, shape, affine, bias, eps):
    k = data.draw(st.integers(1, len(shape)), label="normalized dims")
    normalized = shape[len(shape) - k:]
    if data.draw(st.integers(0, 5), label="mismatch") == 0:
        normalized = tuple(s + 1 for s in normalized)
    x = values(rng(data), shape, dtype)
    mine = nn.LayerNorm(normalized, eps=eps, elementwise_affine=affine, bias=bias).to(dtype)
    theirs = tnn().LayerNorm(normalized, eps=eps, elementwise_affine=affine, bias=bias).to(
        getattr(torch(), np.dtype(dtype).name))
    # (eps = 0 on a constant row is 0 / 0: test_fuzz_ops.py covers it with a float64 referee)
    # theirs follows the input's dtype, so that float64 can referee float16 (see fuzzlib)
    check("layer_norm", lambda x: mine(x), lambda x: theirs.to(x.dtype)(x), [x],
          args=(normalized,), also=("LayerNorm",))


@fuzz_settings(30)
@given(data=st.data(), p=st.sampled_from([0.0, 0.3, 1.0, -0.5, 1.5, 2]),
       shape=shapes(max_dims=3), train=st.booleans())
def test_dropout_module(data, p, shape, train):
    x = values(rng(data), shape, np.float32)
    try:
        mine = nn.Dropout(p)
    except MinigradError as e:
        assert "Dropout" in str(e) and str(p) in str(e)
        with pytest.raises(Exception):
            tnn().Dropout(p)
        count(ALSO_RAISED)
        return
    theirs = tnn().Dropout(p)
    mine.train(train)
    theirs.train(train)
    check("dropout", lambda x: mine(x), lambda x: theirs(x), [x], args=(p,),
          random=train and 0 < p < 1)


@fuzz_settings(100)
@given(data=st.data(), embed=st.integers(-1, 6), heads=st.integers(-1, 3), bias=st.booleans(),
       batch_first=st.booleans(), layout=st.sampled_from(["batched", "batched", "unbatched"]),
       t=st.integers(1, 3), s=st.integers(1, 3), b=st.integers(1, 2),
       mask=st.sampled_from([None, "attn_bool", "attn_float", "padding", "both", "bad"]),
       need_weights=st.booleans(), average=st.booleans(), self_attention=st.booleans())
def test_multihead_attention(data, embed, heads, bias, batch_first, layout, t, s, b, mask,
                             need_weights, average, self_attention):
    try:
        mine = nn.MultiheadAttention(embed, heads, bias=bias, batch_first=batch_first)
    except MinigradError as e:
        assert "MultiheadAttention" in str(e) and (str(embed) in str(e) or str(heads) in str(e))
        with pytest.raises(Exception):
            tnn().MultiheadAttention(embed, heads, bias=bias, batch_first=batch_first)
        count(ALSO_RAISED)
        return
    theirs = tnn().MultiheadAttention(embed, heads, bias=bias, batch_first=batch_first)
    names = [("in_proj_weight", "in_proj_weight"), ("out_proj.weight", "out_proj.weight")]
    if bias:
        names += [("in_proj_bias", "in_proj_bias"), ("out_proj.bias", "out_proj.bias")]
    copy_params(mine, theirs, names)
    r = rng(data)
    e_in = embed if data.draw(st.integers(0, 6), label="fits") else embed + 1
    if self_attention:
        s = t

    def shaped(n):
        if layout == "unbatched":
            return (n, e_in)
        return (b, n, e_in) if batch_first else (n, b, e_in)
    q = values(r, shaped(t), np.float32)
    k = q if self_attention else values(r, shaped(s), np.float32)
    v = q if self_attention else values(r, shaped(s), np.float32)
    masks = {}
    if mask in ("attn_bool", "both"):
        masks["attn_mask"] = np.triu(np.ones((t, s), bool), 1)
    if mask == "attn_float":
        masks["attn_mask"] = np.where(r.random((t, s)) < 0.3, -np.inf, 0.0).astype(np.float32)
    if mask in ("padding", "both"):
        masks["key_padding_mask"] = r.random((b, s) if layout == "batched" else (s,)) < 0.3
    if mask == "bad":
        masks["attn_mask"] = np.zeros((t + 1, s), bool)
    arrays = [q] if self_attention else [q, k, v]
    kw = dict(need_weights=need_weights, average_attn_weights=average)

    def ours(*xs):
        xs = xs * 3 if self_attention else xs
        out, w = mine(*xs, **{k_: mg.tensor(m) for k_, m in masks.items()}, **kw)
        return (out, w) if w is not None else out

    def torchs(*xs):
        xs = xs * 3 if self_attention else xs
        out, w = theirs(*xs, **{k_: torch().from_numpy(m) for k_, m in masks.items()}, **kw)
        return (out, w) if w is not None else out
    # rows with every key masked: NaN in PyTorch's module, 0 in minigrad (documented)
    check("MultiheadAttention", ours, torchs, arrays,
          args=(embed, heads, e_in, *[m.shape for m in masks.values()]),
          also=("attention", "linear", "matmul"), nan_ok=True)


@fuzz_settings(40)
@given(data=st.data(), reduction=st.sampled_from(["mean", "sum", "none", "max"]),
       smoothing=st.sampled_from([0.0, 0.2, 1.0, 1.5, -0.1]),
       ignore_index=st.sampled_from([-100, 0, 2]), n=st.integers(0, 4), c=st.integers(1, 4))
def test_cross_entropy_loss_module(data, reduction, smoothing, ignore_index, n, c):
    r = rng(data)
    try:
        mine = nn.CrossEntropyLoss(ignore_index=ignore_index, label_smoothing=smoothing,
                                 reduction=reduction)
    except MinigradError as e:
        assert "CrossEntropyLoss" in str(e)
        if smoothing < 0:            # PyTorch lets a negative smoothing through; minigrad does not
            count(STRICTER)
            return
        with pytest.raises(Exception):
            tnn().CrossEntropyLoss(ignore_index=ignore_index, label_smoothing=smoothing,
                                   reduction=reduction)(torch().zeros(1, 2), torch().zeros(1).long())
        count(ALSO_RAISED)
        return
    theirs = tnn().CrossEntropyLoss(ignore_index=ignore_index, label_smoothing=smoothing,
                                    reduction=reduction)
    logits, targets = values(r, (n, c), np.float32), r.integers(0, c, (n,))
    check("cross_entropy", lambda x, y: mine(x, y), lambda x, y: theirs(x, y), [logits, targets],
          args=(smoothing, reduction))


# ------------------------------------------------------------------ state dicts
@fuzz_settings(60)
@given(data=st.data())
def test_load_state_dict_reports_every_problem(data):
    """Drop, add, reshape and retype entries at random: load_state_dict names every
    problem in one error (or, with strict=False, loads what fits)."""
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 2))
    state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    keys = sorted(state)
    dropped = data.draw(st.lists(st.sampled_from(keys), unique=True, max_size=2), label="drop")
    reshaped = data.draw(st.lists(st.sampled_from(keys), unique=True, max_size=2), label="shape")
    for k in reshaped:
        state[k] = np.zeros(state[k].shape + (1,), np.float32)
    for k in dropped:
        del state[k]
    extra = data.draw(st.lists(st.sampled_from(["3.weight", "0.gamma", ""]), unique=True,
                               max_size=2), label="extra")
    for k in extra:
        state[k] = np.zeros(2, np.float32)
    strict = data.draw(st.booleans(), label="strict")
    bad_shapes = [k for k in reshaped if k not in dropped]
    if bad_shapes or (strict and (dropped or extra)):
        msg = expect_error("load_state_dict", lambda: model.load_state_dict(
            {k: mg.tensor(v) for k, v in state.items()}, strict=strict))
        for k in bad_shapes + (dropped + extra if strict else []):
            assert repr(k) in msg or k in msg, f"{k!r} not named in {msg!r}"
    else:
        missing, unexpected = model.load_state_dict({k: mg.tensor(v) for k, v in state.items()},
                                                    strict=strict)
        assert sorted(missing) == sorted(dropped) and sorted(unexpected) == sorted(extra)
        for k, v in model.state_dict().items():
            if k in state:
                np.testing.assert_array_equal(v.numpy(), state[k])
        count(NUMPY_ONLY)


# ------------------------------------------------------------------ optimizers
def random_params(data):
    """Parameters of random shapes (0-d and empty too) and one float dtype, with grads."""
    r = rng(data)
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="param dtype")
    shapes_ = data.draw(st.lists(shapes(max_dims=3, max_side=3), min_size=1, max_size=3),
                        label="param shapes")
    weights = [r.standard_normal(s).astype(dtype) for s in shapes_]
    grads = [[None if data.draw(st.integers(0, 6), label="no grad") == 0 else
              r.standard_normal(s).astype(dtype) for s in shapes_] for _ in range(3)]
    return weights, grads


OPTIMIZERS = {
    "SGD": dict(lr=st.sampled_from([0.1, 0.0, -0.1]), momentum=st.sampled_from([0.0, 0.9, -0.5]),
                dampening=st.sampled_from([0.0, 0.1]), nesterov=st.booleans(),
                weight_decay=st.sampled_from([0.0, 0.01, -1.0])),
    "Adam": dict(lr=st.sampled_from([1e-2, 0.0, -1.0]),
                 betas=st.sampled_from([(0.9, 0.999), (0.0, 0.5), (1.0, 0.9), (0.9, -0.1)]),
                 eps=st.sampled_from([1e-8, 0.0, -1.0]), weight_decay=st.sampled_from([0.0, 0.1, -1.0]),
                 amsgrad=st.booleans()),
}
OPTIMIZERS["AdamW"] = OPTIMIZERS["Adam"]


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
@fuzz_settings(40)
@given(data=st.data())
def test_optimizer_follows_torch_across_a_state_dict_round_trip(name, data):
    hyper = {k: data.draw(v, label=k) for k, v in OPTIMIZERS[name].items()}
    weights, grads = random_params(data)
    t = torch()
    mine = [nn.Parameter(w.copy()) for w in weights]
    theirs = [t.tensor(w.copy(), requires_grad=True) for w in weights]
    try:
        opt = getattr(mg.optim, name)(mine, **hyper)
    except MinigradError as e:
        told = [str(x) for v in hyper.values() for x in (v if isinstance(v, tuple) else (v,))]
        assert name in str(e) and any(x in str(e) for x in told), str(e)
        with pytest.raises(Exception):
            getattr(t.optim, name)(theirs, **hyper)
        count(ALSO_RAISED)
        return
    topt = getattr(t.optim, name)(theirs, **hyper)
    for i, step_grads in enumerate(grads):
        for p, tp, g in zip(mine, theirs, step_grads):
            p.grad = None if g is None else mg.tensor(g.copy())
            tp.grad = None if g is None else t.tensor(g.copy())
        opt.step()
        topt.step()
        if i == 0:             # a fresh optimizer restored from a copy of the state goes on
            saved = opt.state_dict()
            opt = getattr(mg.optim, name)(mine, **hyper)
            opt.load_state_dict({"state": {k: {n: (mg.tensor(v.numpy().copy())
                                                   if isinstance(v, mg.Tensor) else v)
                                               for n, v in s.items()}
                                           for k, s in saved["state"].items()},
                                 "param_groups": saved["param_groups"]})
    for p, tp in zip(mine, theirs):
        assert_same(name, p.numpy(), tp.detach().numpy(), tol=1e-5 if p.dtype == np.float32
                    else 1e-12)
    count(MATCHED)


@fuzz_settings(60)
@given(data=st.data(), max_norm=st.sampled_from([1.0, 0.1, 0.0, 1e6]),
       norm_type=st.sampled_from([2.0, 1.0, 0.5, float("inf"), 3, 0.0, -1.0]),
       error_if_nonfinite=st.booleans(), poison=st.booleans())
def test_clip_grad_norm(data, max_norm, norm_type, error_if_nonfinite, poison):
    weights, grads = random_params(data)
    t = torch()
    mine = [nn.Parameter(w) for w in weights]
    theirs = [t.tensor(w, requires_grad=True) for w in weights]
    for p, tp, g in zip(mine, theirs, grads[0]):
        if g is not None and poison and g.size:
            g = g.copy()
            g.flat[0] = np.inf
        p.grad = None if g is None else mg.tensor(g.copy())
        tp.grad = None if g is None else t.tensor(g.copy())

    def ours():
        return mg.optim.clip_grad_norm_(mine, max_norm, norm_type, error_if_nonfinite)

    original = [p.grad.numpy().copy() for p in mine if p.grad is not None]
    try:
        total = ours()
    except MinigradError as e:
        assert "clip_grad_norm_" in str(e)
        if norm_type <= 0:           # PyTorch takes 0 (a count of nonzeros) and negatives too
            count(STRICTER)
            return
        with pytest.raises(Exception):
            t.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type, error_if_nonfinite)
        count(ALSO_RAISED)
        return
    try:
        t_total = t.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type, error_if_nonfinite)
    except RuntimeError:             # e.g. PyTorch has no inf-norm of an empty gradient
        assert_same("clip_grad_norm_", total.numpy(), total_norm_reference(original, norm_type),
                    tol=1e-5, equal_dtype=False)
        count(NUMPY_REFERENCE)
        return
    tol = 1e-5 if weights[0].dtype == np.float32 else 1e-10
    assert_same("clip_grad_norm_", total.numpy(), t_total.numpy(), tol=tol, equal_dtype=False)
    for p, tp in zip(mine, theirs):
        if p.grad is not None:
            assert_same("clip_grad_norm_ (gradients)", p.grad.numpy(), tp.grad.numpy(), tol=tol)
    count(MATCHED)


def total_norm_reference(grads, norm_type):
    """The norm of all gradients together, in float64 NumPy (0 for no elements)."""
    g = np.concatenate([g.astype(np.float64).ravel() for g in grads] + [np.zeros(0)])
    if g.size == 0:
        return np.float64(0.0)
    if norm_type == float("inf"):
        return np.abs(g).max()
    return (np.abs(g) ** norm_type).sum() ** (1.0 / norm_type)


SCHEDULES = {
    "NoamLR": lambda opt, a, b: mg.optim.NoamLR(opt, d_model=a, warmup_steps=b),
    "CosineWithWarmup": lambda opt, a, b: mg.optim.CosineWithWarmup(opt, a, b),
    "ConstantLR": lambda opt, a, b: mg.optim.ConstantLR(opt, factor=a / 10, total_iters=b),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
@fuzz_settings(30)
@given(a=st.integers(-2, 12), b=st.integers(-2, 12))
def test_schedules(name, a, b):
    """Valid settings give finite, non-negative rates, the same after a state_dict round
    trip; invalid ones raise a MinigradError naming the schedule and the bad value."""
    params = [nn.Parameter(np.zeros(2, np.float32))]
    opt = mg.optim.SGD(params, lr=0.5)
    try:
        sched = SCHEDULES[name](opt, a, b)
    except MinigradError as e:
        msg = str(e)
        assert name in msg and (str(a) in msg or str(b) in msg or str(a / 10) in msg), msg
        count(EXPECTED_ERROR)
        return
    rates = []
    for _ in range(15):
        rates.append(opt.param_groups[0]["lr"])
        sched.step()
    assert all(np.isfinite(r) and r >= 0 for r in rates), rates
    state = json.loads(json.dumps(sched.state_dict()))       # what a checkpoint stores
    again = SCHEDULES[name](mg.optim.SGD(params, lr=0.5), a, b)
    again.load_state_dict(state)
    assert again.get_last_lr() == sched.get_last_lr()
    if name == "ConstantLR" and b >= 1:      # PyTorch's (total_iters <= 0: its chained form
        #                                      keeps the factor forever, its closed form does not)
        t = torch()
        topt = t.optim.SGD([t.zeros(2, requires_grad=True)], lr=0.5)
        tsched = t.optim.lr_scheduler.ConstantLR(topt, factor=a / 10, total_iters=b)
        want = []
        for _ in range(15):
            want.append(topt.param_groups[0]["lr"])
            topt.step()
            tsched.step()
        np.testing.assert_allclose(rates, want, rtol=1e-12)
        count(MATCHED)
        return
    np.testing.assert_allclose(rates, [SCHEDULE_FORMULAS[name](i, a, b) for i in range(15)],
                               rtol=1e-12)
    count(NUMPY_ONLY)


def _noam(step, d_model, warmup, factor=1.0):
    """Vaswani et al. (2017), section 5.3 (step 0 counts as step 1)."""
    s = max(step, 1)
    return factor * d_model ** -0.5 * min(s ** -0.5, s * warmup ** -1.5)


def _cosine_with_warmup(step, warmup, total, base=0.5, min_lr=0.0):
    """Linear warmup from 0, then half a cosine down to min_lr at `total`, flat after."""
    if step < warmup:
        return base * step / max(1, warmup)
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_lr + (base - min_lr) * 0.5 * (1.0 + np.cos(np.pi * progress))


def _constant(step, factor_times_10, total_iters, base=0.5):
    """PyTorch's closed form: base * factor for the first total_iters steps, then base."""
    return base * (factor_times_10 / 10 if step < total_iters else 1.0)


SCHEDULE_FORMULAS = {"NoamLR": _noam, "CosineWithWarmup": _cosine_with_warmup,
                     "ConstantLR": _constant}


# ------------------------------------------------------------------ io
names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)


@fuzz_settings(80)
@given(data=st.data(), metadata=st.dictionaries(names, names, max_size=3) | st.none(),
       pad=st.integers(0, 300))
def test_save_load_round_trip(data, metadata, pad, tmp_path_factory):
    """Any names (unicode, dots, empty), dtypes, shapes (0-d, empty) and layouts
    (non-contiguous), and metadata of any length: loaded back bit for bit."""
    r = rng(data)
    tensors = {}
    for name in data.draw(st.lists(names | st.just("__metadata__"), unique=True, max_size=4),
                          label="names"):
        a = values(r, data.draw(shapes(max_dims=3), label="shape"),
                   data.draw(st.sampled_from([np.dtype("uint8")] + DTYPES), label="dtype"))
        if a.ndim >= 2 and data.draw(st.booleans(), label="transposed"):
            a = a.T
        tensors[name] = mg.tensor(a) if data.draw(st.booleans(), label="tensor") else a
    if metadata is not None:
        metadata = {**metadata, "pad": "x" * pad}             # header lengths of every size
    path = str(tmp_path_factory.mktemp("io") / "t.safetensors")
    if "__metadata__" in tensors:                # the format's own header entry
        expect_error("save", lambda: mg.save(tensors, path, metadata), ["'__metadata__'"],
                     CheckpointError)
        return
    mg.save(tensors, path, metadata)
    back = mg.load(path)
    assert sorted(back) == sorted(tensors)
    for k, v in tensors.items():
        v = v.numpy() if isinstance(v, mg.Tensor) else v
        assert back[k].dtype == v.dtype and back[k].shape == v.shape
        assert np.array_equal(back[k].numpy(), v)
    if metadata is not None:
        assert mg.io.load_metadata(path) == metadata
    count(NUMPY_ONLY)


@fuzz_settings(30)
@given(key=st.sampled_from([1, None, ("a",)]), value=st.sampled_from(["text", None, object()]),
       meta=st.sampled_from([{"a": 1}, {2: "b"}, {"c": None}]))
def test_save_refuses_what_safetensors_cannot_hold(key, value, meta, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("io") / "t.safetensors")
    # (minigrad.save takes any torch.save key, as torch does; io.save writes flat files only)
    expect_error("save", lambda: mg.io.save({key: np.zeros(2)}, path), [repr(key)],
                 CheckpointError)
    expect_error("save", lambda: mg.save({"x": np.array([value], dtype=object)}, path),
                 ["'x'", "object"], CheckpointError)
    expect_error("save", lambda: mg.save({"x": np.zeros(2)}, path, metadata=meta),
                 ["metadata"], CheckpointError)
    assert not os.listdir(os.path.dirname(path)), "a failed save left a file behind"


@fuzz_settings(80)
@given(data=st.data(), kind=st.sampled_from(["truncate", "flip", "random", "pickle", "zip",
                                             "npy", "empty", "header"]))
def test_load_of_a_broken_file_raises_checkpoint_error(data, kind, tmp_path_factory):
    """Truncated, bit-flipped, random, foreign (pickle, zip, .npy) and hand-broken
    headers: load and load_checkpoint raise CheckpointError, never anything else
    (and never run code from the file)."""
    folder = tmp_path_factory.mktemp("io")
    good = str(folder / "good.safetensors")
    mg.manual_seed(0)                 # the same file every time (its RNG state is in it)
    model = nn.Linear(3, 2)
    mg.io.save_checkpoint(good, model, mg.optim.Adam(model.parameters()), step=3)
    raw = open(good, "rb").read()
    r = rng(data)
    if kind == "truncate":
        blob = raw[:data.draw(st.integers(0, len(raw) - 1), label="length")]
    elif kind == "flip":
        blob = bytearray(raw)
        i = data.draw(st.integers(0, len(raw) - 1), label="byte")
        blob[i] ^= 1 << data.draw(st.integers(0, 7), label="bit")
        blob = bytes(blob)
    elif kind == "random":
        blob = r.integers(0, 256, data.draw(st.integers(0, 200), label="size"), np.uint8).tobytes()
    elif kind == "pickle":
        blob = pickle.dumps({"weight": [1.0, 2.0]})
    elif kind == "zip":
        blob = b"PK\x03\x04" + raw
    elif kind == "npy":
        blob = b"\x93NUMPY" + raw
    elif kind == "empty":
        blob = b""
    else:
        header = {"w": {"dtype": data.draw(st.sampled_from(["F32", "X99", "F16"]), label="dt"),
                        "shape": data.draw(st.sampled_from([[2], [-1], [3, 3], "x"]), label="sh"),
                        "data_offsets": data.draw(st.sampled_from([[0, 8], [8, 0], [0, 10**9],
                                                                   "bad"]), label="off")}}
        text = json.dumps(header).encode()
        blob = len(text).to_bytes(8, "little") + text + b"\0" * 8
    path = str(folder / "broken.safetensors")
    with open(path, "wb") as f:
        f.write(blob)
    for load in (lambda: mg.load(path),
                 lambda: mg.io.load_checkpoint(path, model, mg.optim.Adam(model.parameters()))):
        try:
            load()
        except CheckpointError as e:
            count(EXPECTED_ERROR)
            assert "load" in str(e)
        except MinigradError as e:                  # e.g. a state that does not fit: also fine
            count(EXPECTED_ERROR)
            assert str(e)
        except Exception as e:                      # noqa: BLE001
            pytest.fail(f"{kind}: raised {type(e).__name__} (not a MinigradError): {e}")
        else:                                        # a flipped bit in the data itself is
            assert kind in ("flip", "header"), kind  # undetectable; the file still loads:
            from safetensors.numpy import load_file  # with the values the bytes hold
            reference = load_file(path)
            for k, v in mg.load(path).items():
                np.testing.assert_array_equal(v.numpy(), reference[k])
            count(NUMPY_ONLY)


# ------------------------------------------------------------------ the whole model
_MODEL = {}


def small_model():
    if "m" not in _MODEL:
        from minigrad.models import Seq2SeqTransformer
        mg.manual_seed(0)
        _MODEL["m"] = Seq2SeqTransformer(7, 9, d_model=8, nhead=2, num_encoder_layers=1,
                                         num_decoder_layers=1, dim_feedforward=16, dropout=0.0)
    return _MODEL["m"]


@fuzz_settings(60)
@given(data=st.data(), src_dtype=dtypes, tgt_dtype=dtypes,
       src_shape=shapes(min_dims=1, max_dims=3, max_side=4),
       tgt_shape=shapes(min_dims=1, max_dims=3, max_side=4))
def test_transformer_inputs(data, src_dtype, tgt_dtype, src_shape, tgt_shape):
    """Token ids of any dtype, rank and range into Seq2SeqTransformer: logits of shape
    (B, T, tgt_vocab), or a MinigradError naming the model and the bad ids."""
    r = rng(data)
    if data.draw(st.booleans(), label="well formed"):   # (else valid inputs are too rare)
        src_shape, tgt_shape = (2, src_shape[-1]), (2, tgt_shape[-1])
        src_dtype, tgt_dtype = (d if d.kind in "iu" else np.dtype(np.int64)
                                for d in (src_dtype, tgt_dtype))
    src = r.integers(-1 if data.draw(st.integers(0, 5), label="neg") == 0 else 0, 8,
                     src_shape).astype(src_dtype)
    tgt = r.integers(0, 10 if data.draw(st.integers(0, 5), label="big") == 0 else 9,
                     tgt_shape).astype(tgt_dtype)
    model = small_model()
    valid = (src.ndim == tgt.ndim == 2 and src.dtype.kind in "iu" and tgt.dtype.kind in "iu"
             and src.shape[0] == tgt.shape[0] and (src.size == 0 or 0 <= src.min() and
                                                    src.max() < 7)
             and (tgt.size == 0 or tgt.max() < 9))
    if not valid:
        expect_error("Seq2SeqTransformer", lambda: model(mg.tensor(src), mg.tensor(tgt)),
                     [str(src.shape), str(tgt.shape), str(src.dtype), str(tgt.dtype), "-1", "9"],
                     also=("embedding",))
        return
    with mg.no_grad():
        out = model(mg.tensor(src), mg.tensor(tgt))
    assert out.shape == tgt.shape + (9,) and out.dtype == np.float32
    assert np.isfinite(out.numpy()).all()
    with mg.no_grad():                 # the ids' dtype changes nothing
        want = model(mg.tensor(src.astype(np.int64)), mg.tensor(tgt.astype(np.int64)))
    np.testing.assert_array_equal(out.numpy(), want.numpy())
    count(SELF_CONSISTENT)


@fuzz_settings(40)
@given(data=st.data(), how=st.sampled_from(["greedy", "beam"]), max_len=st.integers(-1, 5),
       beam=st.integers(-1, 3), start=st.integers(-1, 9), end=st.sampled_from([None, 2, 9]),
       batch=st.integers(0, 2), length=st.integers(0, 3))
def test_decoding_arguments(data, how, max_len, beam, start, end, batch, length):
    """Greedy and beam decoding with any lengths, beam sizes and symbols: sequences of
    at most max_len tokens from the vocabulary, or a MinigradError naming the decoder."""
    src = rng(data).integers(1, 7, (batch, length))
    model = small_model()
    if how == "greedy":
        call = lambda: model.greedy_decode(mg.tensor(src), max_len, start, end)   # noqa: E731
        op = "greedy_decode"
    else:
        call = lambda: model.beam_search(mg.tensor(src), beam, max_len, start, end or 2)  # noqa
        op = "beam_search"
    try:
        with mg.no_grad():
            out = call()
    except MinigradError as e:
        msg = str(e)
        assert op in msg or "Seq2SeqTransformer" in msg or "embedding" in msg, msg
        count(EXPECTED_ERROR)
        return
    except Exception as e:                            # noqa: BLE001
        pytest.fail(f"{op}: raised {type(e).__name__} (not a MinigradError): {e}")
    ids = out.numpy() if isinstance(out, mg.Tensor) else np.asarray(out[0] if isinstance(
        out, tuple) else out)
    assert ids.ndim == 2 and ids.shape[0] == batch and ids.shape[1] <= max_len, ids.shape
    assert ids.size == 0 or (0 <= ids.min() and ids.max() < 9)
    count(STRUCTURAL)


def test_every_kind_of_outcome_was_counted():
    """Runs after the file's fuzz cases: each kind of outcome they can end in happened
    (a count of zero means a check that never runs)."""
    assert_counted(__file__, [MATCHED, ALSO_RAISED, EXPECTED_ERROR, STRICTER, NUMPY_REFERENCE,
                              NUMPY_ONLY, SELF_CONSISTENT, STRUCTURAL])

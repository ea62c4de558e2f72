"""Issue 15 (alias15): the everyday torch methods and functions a plain PyTorch program
calls: arithmetic and comparisons by name (add(alpha=), div(rounding_mode=), eq, ...),
log1p / expm1 / log2 / erf, the rounding family, isnan / isinf / isclose / allclose /
equal, logsumexp, lerp, t / narrow / select / diag / diagonal / tile / movedim,
masked_scatter, mm / bmm / dot / outer / tensordot, meshgrid, unique, in-place forms
and the layout queries (stride, is_contiguous, element_size, nelement).

From one table of specs:
* `test_gradcheck`: float64 central differences (`minigrad.gradcheck`) for every
  differentiable op (rounding ops too: their gradient is zero away from the jumps);
* `test_matches_torch`: values, dtypes and every input gradient equal PyTorch's in
  float64, float32 and float16, over hypothesis-drawn shapes (broadcast pairs included).
Then the edge cases one by one: integer dtypes, rounding modes, NaN / inf, errors.
"""
import math
import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad.tensor import Tensor
from testutil import FRESH_CASES, require_torch

EXAMPLES = int(os.environ.get("MINIGRAD_EXAMPLES", "5"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=not FRESH_CASES,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ------------------------------------------------------------------ drawing inputs
@dataclass
class Case:
    values: list                         # float64 arrays: the differentiable inputs
    params: dict = field(default_factory=dict)


def rng(data):
    return np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))


def shape_of(data, min_dims=0, max_dims=3, min_side=1, max_side=4):
    return data.draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                                      max_side=max_side), label="shape")


def pair_shapes(data, n=2):
    return data.draw(hnp.mutually_broadcastable_shapes(num_shapes=n, max_dims=3, min_side=1,
                                                       max_side=3), label="shapes").input_shapes


def unary(kind):
    """One input; `kind` keeps it where the op is smooth (and float16 rounds alike)."""
    def draw(data):
        r = rng(data)
        shape = shape_of(data)
        if kind == "log1p":
            x = r.uniform(-0.8, 3.0, shape)
        elif kind == "positive":
            x = r.uniform(0.25, 4.0, shape)
        elif kind == "steps":        # away from the jumps of floor, ceil, round, trunc, sign
            x = r.integers(-4, 5, shape) + r.choice([0.125, 0.375, 0.625, 0.875], shape)
        else:
            x = r.standard_normal(shape)
        return Case([x])
    return draw


def binary(kind="any"):
    def draw(data):
        r = rng(data)
        sa, sb = pair_shapes(data)
        a = r.standard_normal(sa)
        b = r.uniform(0.5, 2.0, sb) * r.choice([-1.0, 1.0], sb) if kind == "divisor" else \
            r.standard_normal(sb)
        if kind == "pow":
            a = r.uniform(0.5, 2.0, sa)
        return Case([a, b])
    return draw


def draw_division(data):
    """a = (q + f) * b with f in [0.1, 0.9]: a / b stays away from the integers."""
    r = rng(data)
    shape = shape_of(data)
    b = r.uniform(0.5, 2.0, shape) * r.choice([-1.0, 1.0], shape)
    a = (r.integers(-3, 4, shape) + r.uniform(0.1, 0.9, shape)) * b
    return Case([a, b], dict(mode=data.draw(st.sampled_from(["trunc", "floor"]))))


def draw_alpha(data):
    case = binary()(data)
    case.params["alpha"] = data.draw(st.sampled_from([1, 2, -0.5]), label="alpha")
    return case


def draw_lerp(data):
    r = rng(data)
    sa, sb, sw = pair_shapes(data, 3)
    if data.draw(st.booleans(), label="scalar weight"):
        return Case([r.standard_normal(sa), r.standard_normal(sb)], dict(w=0.3))
    return Case([r.standard_normal(sa), r.standard_normal(sb), r.uniform(0, 1, sw)])


def draw_compare(data):
    """Halves in [-1, 1]: exact in float16, with ties."""
    r = rng(data)
    sa, sb = pair_shapes(data)
    return Case([r.integers(-2, 3, sa) / 2, r.integers(-2, 3, sb) / 2])


def draw_logsumexp(data):
    r = rng(data)
    x = r.standard_normal(shape_of(data, min_dims=1)) * 3
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1) |
                    st.lists(st.integers(-x.ndim, x.ndim - 1), min_size=1, max_size=x.ndim,
                             unique_by=lambda d: d % x.ndim).map(tuple), label="dim")
    return Case([x], dict(dim=dim, keepdim=data.draw(st.booleans(), label="keepdim")))


def draw_t(data):
    return Case([rng(data).standard_normal(shape_of(data, 0, 2))])


def draw_narrow(data):
    x = rng(data).standard_normal(shape_of(data, min_dims=1))
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1), label="dim")
    n = x.shape[dim]
    start = data.draw(st.integers(-n, n - 1), label="start")
    length = data.draw(st.integers(0, n - start % n), label="length")
    return Case([x], dict(dim=dim, start=start, length=length))


def draw_select(data):
    x = rng(data).standard_normal(shape_of(data, min_dims=1))
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1), label="dim")
    n = x.shape[dim]
    return Case([x], dict(dim=dim, index=data.draw(st.integers(-n, n - 1), label="index")))


def draw_diag(data):
    x = rng(data).standard_normal(shape_of(data, 1, 2))
    return Case([x], dict(diagonal=data.draw(st.integers(-3, 3), label="diagonal")))


def draw_diagonal(data):
    x = rng(data).standard_normal(shape_of(data, 2, 4))
    d1, d2 = data.draw(st.lists(st.integers(-x.ndim, x.ndim - 1), min_size=2, max_size=2,
                                unique_by=lambda d: d % x.ndim), label="dims")
    return Case([x], dict(offset=data.draw(st.integers(-3, 3)), dim1=d1, dim2=d2))


def draw_tile(data):
    x = rng(data).standard_normal(shape_of(data))
    return Case([x], dict(dims=tuple(data.draw(st.lists(st.integers(1, 3), max_size=4)))))


def draw_movedim(data):
    x = rng(data).standard_normal(shape_of(data, min_dims=1))
    n = data.draw(st.integers(1, x.ndim), label="count")
    one = st.integers(-x.ndim, x.ndim - 1)
    src, dst = (tuple(data.draw(st.lists(one, min_size=n, max_size=n,
                                         unique_by=lambda d: d % x.ndim))) for _ in range(2))
    return Case([x], dict(source=src, destination=dst))


def draw_masked_scatter(data):
    r = rng(data)
    shape = shape_of(data)
    mask_shape = data.draw(st.integers(0, len(shape)), label="mask dims")
    mask = np.asarray(r.random(shape[mask_shape:]) < 0.5)
    n = int(np.broadcast_to(mask, shape).sum())
    return Case([r.standard_normal(shape), r.standard_normal(n + data.draw(st.integers(0, 2)))],
                dict(mask=mask))


def draw_products(op):
    def draw(data):
        r = rng(data)
        n, m, p, b = (data.draw(st.integers(1, 4)) for _ in range(4))
        shapes = {"mm": [(n, m), (m, p)], "bmm": [(b, n, m), (b, m, p)], "dot": [(n,), (n,)],
                  "outer": [(n,), (m,)]}[op]
        return Case([r.standard_normal(s) for s in shapes])
    return draw


def draw_tensordot(data):
    r = rng(data)
    a_shape = shape_of(data, 1, 3)
    k = data.draw(st.integers(0, len(a_shape)), label="dims")
    extra = shape_of(data, 0, 2)
    if data.draw(st.booleans(), label="pairs") and k:
        perm = tuple(data.draw(st.permutations(range(k))))
        con = list(range(len(a_shape) - k, len(a_shape)))
        b_shape = tuple(a_shape[con[i]] for i in perm) + extra
        dims = ([con[i] for i in perm], list(range(k)))
    else:
        b_shape, dims = a_shape[len(a_shape) - k:] + extra, k
    return Case([r.standard_normal(a_shape), r.standard_normal(b_shape)], dict(dims=dims))


def draw_meshgrid(data):
    r = rng(data)
    n = data.draw(st.integers(1, 3), label="count")
    return Case([r.standard_normal(data.draw(st.integers(1, 3))) for _ in range(n)],
                dict(indexing=data.draw(st.sampled_from(["ij", "xy"]))))


def draw_where(data):
    r = rng(data)
    sa, sb, sc = pair_shapes(data, 3)
    return Case([r.standard_normal(sa), r.standard_normal(sb)], dict(cond=np.asarray(r.random(sc) < 0.5)))


# ------------------------------------------------------------------ the table
@dataclass
class Spec:
    name: str
    draw: Callable
    mg: Callable
    torch: Callable
    gradcheck: bool = True
    half: bool = True                    # also compared in float16

    def __repr__(self):
        return self.name


def method(name, **fixed):
    return lambda x, **p: getattr(x, name)(**fixed, **p)


def both(name, **fixed):
    """The same call on minigrad and torch: x.name(*others, **params)."""
    return lambda *xs, **p: getattr(xs[0], name)(*xs[1:], **fixed, **p)


def _mask(lib, x, p):
    return lib.tensor(p["mask"]) if lib is mg else __import__("torch").from_numpy(p["mask"])


SPECS = [
    *(Spec(n, unary(k), both(n), both(n)) for n, k in [
        ("log1p", "log1p"), ("expm1", "any"), ("log2", "positive"), ("erf", "any"),
        ("square", "any"), ("reciprocal", "positive"), ("neg", "any"), ("floor", "steps"),
        ("ceil", "steps"), ("round", "steps"), ("trunc", "steps"), ("sign", "steps")]),
    Spec("round_decimals", unary("steps"), both("round", decimals=1), both("round", decimals=1)),
    *(Spec(n, unary("any"), both(n), both(n), gradcheck=False)
      for n in ["isnan", "isinf", "isfinite", "logical_not"]),
    Spec("add_alpha", draw_alpha, both("add"), both("add")),
    Spec("sub_alpha", draw_alpha, both("sub"), both("sub")),
    Spec("mul", binary(), both("mul"), both("mul")),
    Spec("div", binary("divisor"), both("div"), both("div")),
    Spec("pow", binary("pow"), both("pow"), both("pow")),
    Spec("div_rounding", draw_division,
         lambda a, b, mode: a.div(b, rounding_mode=mode),
         lambda a, b, mode: a.div(b, rounding_mode=mode)),
    *(Spec(n, draw_compare, both(n), both(n), gradcheck=False)
      for n in ["eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "isclose"]),
    Spec("lerp", draw_lerp, lambda a, b, w=None, **p: a.lerp(b, w if w is not None else p["w"]),
         lambda a, b, w=None, **p: a.lerp(b, w if w is not None else p["w"])),
    Spec("where", draw_where,
         lambda a, b, cond: a.where(mg.tensor(cond), b),
         lambda a, b, cond: a.where(__import__("torch").from_numpy(cond), b)),
    Spec("logsumexp", draw_logsumexp, both("logsumexp"), both("logsumexp")),
    Spec("mg.logsumexp", draw_logsumexp, lambda x, **p: mg.logsumexp(x, **p),
         lambda x, **p: __import__("torch").logsumexp(x, **p)),
    Spec("clamp_min", unary("any"), both("clamp_min", min=0.25), both("clamp_min", min=0.25)),
    Spec("clamp_max", unary("any"), both("clamp_max", max=-0.25), both("clamp_max", max=-0.25)),
    Spec("t", draw_t, both("t"), both("t")),
    Spec("narrow", draw_narrow, both("narrow"), both("narrow")),
    Spec("select", draw_select, both("select"), both("select")),
    Spec("diag", draw_diag, both("diag"), both("diag")),
    Spec("diagonal", draw_diagonal, both("diagonal"), both("diagonal")),
    Spec("tile", draw_tile, lambda x, dims: x.tile(dims), lambda x, dims: x.tile(dims)),
    Spec("movedim", draw_movedim, both("movedim"), both("movedim")),
    Spec("masked_scatter", draw_masked_scatter,
         lambda x, s, mask: x.masked_scatter(mg.tensor(mask), s),
         lambda x, s, mask: x.masked_scatter(__import__("torch").from_numpy(mask), s)),
    *(Spec(n, draw_products(n), both(n), both(n)) for n in ["mm", "bmm", "dot", "outer"]),
    Spec("tensordot", draw_tensordot, lambda a, b, dims: mg.tensordot(a, b, dims=dims),
         lambda a, b, dims: __import__("torch").tensordot(a, b, dims=dims)),
    Spec("meshgrid", draw_meshgrid, lambda *xs, indexing: mg.meshgrid(*xs, indexing=indexing),
         lambda *xs, indexing: __import__("torch").meshgrid(*xs, indexing=indexing)),
]


def outputs(result):
    return list(result) if isinstance(result, (tuple, list)) else [result]


@pytest.mark.parametrize("spec", [s for s in SPECS if s.gradcheck], ids=repr)
@settings(SETTINGS, max_examples=max(2, EXAMPLES // 2))
@given(data=st.data())
def test_gradcheck(spec, data):
    case = spec.draw(data)
    xs = [Tensor(np.array(v, np.float64), requires_grad=True) for v in case.values]
    assert mg.gradcheck(lambda *t: sum(o.sum() * (i + 1) for i, o in
                                       enumerate(outputs(spec.mg(*t, **case.params)))), xs)


TOLERANCE = {np.float64: 1e-10, np.float32: 1e-5, np.float16: 1e-2}


def close(actual, expected, dtype):
    a = np.asarray(actual.numpy(), dtype=np.float64)
    e = expected.detach().double().numpy()
    assert a.shape == e.shape, f"shape {a.shape} != {e.shape}"
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(a, e, rtol=tol, atol=tol * max(1.0, float(np.abs(e).max(initial=0))))


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16],
                         ids=["float64", "float32", "float16"])
@pytest.mark.parametrize("spec", SPECS, ids=repr)
@SETTINGS
@given(data=st.data())
def test_matches_torch(spec, dtype, data):
    torch = require_torch()
    case = spec.draw(data)
    arrays = [np.asarray(v, dtype=dtype) for v in case.values]
    xs = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    ts = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    outs, touts = outputs(spec.mg(*xs, **case.params)), outputs(spec.torch(*ts, **case.params))
    assert len(outs) == len(touts)
    for o, t in zip(outs, touts):
        assert str(o.dtype) == str(t.dtype).replace("torch.", ""), (o.dtype, t.dtype)
        if o.dtype.kind == "f":
            close(o, t, dtype)
        else:
            np.testing.assert_array_equal(o.numpy(), t.numpy())
    floats = [(o, t) for o, t in zip(outs, touts) if o.dtype.kind == "f"]
    if not any(t.requires_grad for _, t in floats):
        return
    weights = [np.random.default_rng(1).standard_normal(o.shape).astype(dtype) for o, _ in floats]
    grads = mg.grad([o for o, _ in floats], xs, grad_outputs=[Tensor(w) for w in weights],
                    allow_unused=True)
    tgrads = torch.autograd.grad([t for _, t in floats], ts, allow_unused=True,
                                 grad_outputs=[torch.from_numpy(w) for w in weights])
    for x, g, tg in zip(xs, grads, tgrads):
        g = Tensor(np.zeros(x.shape, x.dtype)) if g is None else g
        tg = torch.zeros(x.shape, dtype=ts[0].dtype) if tg is None else tg
        assert g.dtype == x.dtype
        close(g, tg, dtype)

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
import os
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad.tensor import Tensor
from opspecs import Case, assert_matches_torch, outputs, rng, shape_of
from testutil import FRESH_CASES, require_torch

EXAMPLES = int(os.environ.get("MINIGRAD_EXAMPLES", "5"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=not FRESH_CASES,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ------------------------------------------------------------------ drawing inputs
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
        elif kind == "unit":         # inside (-1, 1), away from asin's and acos's poles
            x = r.uniform(-0.9, 0.9, shape)
        elif kind == "prob":         # inside (0, 1), away from logit's poles
            x = r.uniform(0.05, 0.95, shape)
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
        if kind == "positive":       # a positive second operand (xlogy's log)
            b = r.uniform(0.25, 4.0, sb)
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


def draw_unbind(data):
    x = rng(data).standard_normal(shape_of(data, min_dims=1))
    return Case([x], dict(dim=data.draw(st.integers(-x.ndim, x.ndim - 1), label="dim")))


def draw_repeat_interleave(data):
    r = rng(data)
    x = r.standard_normal(shape_of(data, min_dims=1))
    dim = data.draw(st.none() | st.integers(-x.ndim, x.ndim - 1), label="dim")
    n = x.size if dim is None else x.shape[dim]
    per_entry = data.draw(st.booleans(), label="one count per entry")
    repeats = r.integers(0, 3, n) if per_entry else int(r.integers(0, 3))
    return Case([x], dict(repeats=repeats, dim=dim))


def _repeat_interleave(lib):
    def call(x, repeats, dim):
        if isinstance(repeats, np.ndarray):
            repeats = lib.tensor(repeats)
        return x.repeat_interleave(repeats, dim=dim)
    return call


def draw_nan_to_num(data):
    r = rng(data)
    x = r.standard_normal(shape_of(data))
    special = r.choice([0.0, np.nan, np.inf, -np.inf], x.shape, p=[0.55, 0.15, 0.15, 0.15])
    x = np.where(special == 0.0, x, special)
    settings = data.draw(st.sampled_from([{}, dict(nan=2.0), dict(posinf=9.0, neginf=-7.0)]),
                         label="replacements")
    return Case([x], settings)


def draw_diff(data):
    r = rng(data)
    x = r.standard_normal(shape_of(data, min_dims=1))
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1), label="dim")
    values = [x]
    if data.draw(st.booleans(), label="prepend"):
        shape = list(x.shape)
        shape[dim] = 1
        values.append(r.standard_normal(shape))
    return Case(values, dict(n=data.draw(st.integers(0, 2), label="n"), dim=dim))


def draw_median(data):
    """Distinct quarters: exact in float16, no ties (torch leaves a tie's index open)."""
    r = rng(data)
    shape = shape_of(data, min_dims=1)
    x = (r.permutation(int(np.prod(shape))) - 7).reshape(shape) / 4
    return Case([x], dict(dim=data.draw(st.integers(-x.ndim, x.ndim - 1), label="dim"),
                          keepdim=data.draw(st.booleans(), label="keepdim")))


def draw_nan_reduce(data):
    x = rng(data).standard_normal(shape_of(data, min_dims=1))
    dim = data.draw(st.none() | st.integers(-x.ndim, x.ndim - 1), label="dim")
    return Case([x], dict(dim=dim, keepdim=data.draw(st.booleans(), label="keepdim")))


def draw_addc(data):
    r = rng(data)
    sa, sb, sc = pair_shapes(data, 3)
    return Case([r.standard_normal(sa), r.standard_normal(sb),
                 r.uniform(0.5, 2.0, sc) * r.choice([-1.0, 1.0], sc)],
                dict(value=data.draw(st.sampled_from([1, 0.5, -2]), label="value")))


def draw_take_along_dim(data):
    r = rng(data)
    x = r.standard_normal(shape_of(data, min_dims=1))
    if data.draw(st.booleans(), label="flat"):
        return Case([x], dict(indices=r.integers(0, x.size, shape_of(data)), dim=None))
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1), label="dim")
    shape = [data.draw(st.sampled_from([1, n]), label="broadcast") for n in x.shape]
    shape[dim] = data.draw(st.integers(0, 3), label="taken")
    return Case([x], dict(indices=r.integers(0, x.shape[dim], shape), dim=dim))


def draw_tensor_split(data):
    x = rng(data).standard_normal(shape_of(data, min_dims=1))
    dim = data.draw(st.integers(-x.ndim, x.ndim - 1), label="dim")
    n = x.shape[dim]
    how = data.draw(st.one_of(st.integers(1, 4),
                              st.lists(st.integers(0, n + 1), max_size=3).map(sorted)),
                    label="sections or indices")
    return Case([x], dict(how=how, dim=dim))


def draw_cosine_similarity(data):
    r = rng(data)
    sa, sb = pair_shapes(data)
    ndim = max(len(sa), len(sb), 1)
    return Case([r.standard_normal(sa or (1,)), r.standard_normal(sb or (1,))],
                dict(dim=data.draw(st.integers(-ndim, ndim - 1), label="dim")))


def draw_pairwise_distance(data):
    r = rng(data)
    sa, sb = pair_shapes(data)
    return Case([r.standard_normal(sa or (1,)), r.standard_normal(sb or (1,))],
                dict(p=data.draw(st.sampled_from([2.0, 1.0, 3.0]), label="p"),
                     keepdim=data.draw(st.booleans(), label="keepdim")))


def draw_cdist(data):
    r = rng(data)
    batch = shape_of(data, 0, 1)
    m = data.draw(st.integers(1, 3), label="M")
    p_rows, r_rows = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
    return Case([r.standard_normal(batch + (p_rows, m)), r.standard_normal(batch + (r_rows, m))],
                dict(p=data.draw(st.sampled_from([2.0, 1.0, 3.0]), label="p")))


def draw_rms_norm(data):
    r = rng(data)
    x = r.standard_normal(shape_of(data, min_dims=1))
    n = data.draw(st.integers(1, x.ndim), label="normalized dims")
    values = [x]
    if data.draw(st.booleans(), label="weight"):
        values.append(r.standard_normal(x.shape[x.ndim - n:]))
    return Case(values, dict(shape=x.shape[x.ndim - n:], eps=data.draw(st.sampled_from([None, 1e-3]))))


def draw_index_put(data):
    """x, values for x[idx] (broadcast from a trailing shape), idx along the first axis:
    distinct positions unless accumulating (a repeated write keeps an unspecified value)."""
    r = rng(data)
    x = r.standard_normal(shape_of(data, min_dims=1))
    accumulate = data.draw(st.booleans(), label="accumulate")
    n = data.draw(st.integers(0, x.shape[0] + (2 if accumulate else 0)), label="count")
    idx = r.integers(0, x.shape[0], n) if accumulate else r.permutation(x.shape[0])[:n]
    tail = (n,) + x.shape[1:]
    value_shape = tail[data.draw(st.integers(0, len(tail)), label="broadcast from"):]
    return Case([x, r.standard_normal(value_shape)], dict(idx=idx, accumulate=accumulate))


def _index_put(lib):
    def call(x, v, idx, accumulate):
        return lib.index_put(x, (lib.tensor(idx, dtype=lib.int64),), v, accumulate=accumulate)
    return call


def draw_addmm(batched):
    def draw(data):
        r = rng(data)
        b, n, m, p = (data.draw(st.integers(1, 3)) for _ in range(4))
        out = (b, n, p) if batched else (n, p)
        start = data.draw(st.integers(0, len(out)), label="input broadcast from")
        mats = [(b, n, m), (b, m, p)] if batched else [(n, m), (m, p)]
        return Case([r.standard_normal(out[start:])] + [r.standard_normal(s) for s in mats],
                    dict(beta=data.draw(st.sampled_from([1, 0.5, 0])),
                         alpha=data.draw(st.sampled_from([1, -2]))))
    return draw


def draw_distinct_rows(data):
    """Distinct quarters (no ties: order statistics pick one entry), with a dim."""
    r = rng(data)
    shape = shape_of(data, min_dims=1)
    x = (r.permutation(int(np.prod(shape))) - 5).reshape(shape) / 4
    return Case([x], dict(dim=data.draw(st.integers(-x.ndim, x.ndim - 1), label="dim")))


def draw_kthvalue(data):
    case = draw_distinct_rows(data)
    n = case.values[0].shape[case.params["dim"]]
    case.params["k"] = data.draw(st.integers(1, n), label="k")
    case.params["keepdim"] = data.draw(st.booleans(), label="keepdim")
    return case


def draw_quantile(data):
    case = draw_distinct_rows(data)
    case.params["q"] = data.draw(st.sampled_from([0.0, 0.3, 0.5, 1.0, (0.1, 0.75)]), label="q")
    case.params["keepdim"] = data.draw(st.booleans(), label="keepdim")
    case.params["interpolation"] = data.draw(st.sampled_from(
        ["linear", "lower", "higher", "midpoint", "nearest"]), label="interpolation")
    if data.draw(st.booleans(), label="all dims"):
        case.params["dim"] = None
    return case


def _quantile(lib):
    def call(x, q, **p):
        q = lib.tensor(q, dtype=x.dtype) if isinstance(q, tuple) else q
        return lib.quantile(x, q, **p)
    return call


def draw_pair_same(data):
    r = rng(data)
    shape = shape_of(data)
    return Case([r.standard_normal(shape), r.standard_normal(shape)])


def draw_matrices(data):
    r = rng(data)
    n = data.draw(st.integers(1, 3), label="count")
    return Case([r.standard_normal(shape_of(data, 0, 2)) for _ in range(n)])


def draw_rows_to_stack(data):
    r = rng(data)
    shape = shape_of(data, 1, 3)
    n = data.draw(st.integers(1, 3), label="count")
    return Case([r.standard_normal(shape) for _ in range(n)])


def draw_rot90(data):
    r = rng(data)
    x = r.standard_normal(shape_of(data, 2, 3))
    a, b = data.draw(st.permutations(range(x.ndim)), label="dims")[:2]
    return Case([x], dict(k=data.draw(st.integers(-2, 5), label="k"), dims=(a, b)))


def draw_kron(data):
    r = rng(data)
    return Case([r.standard_normal(shape_of(data, 0, 3)), r.standard_normal(shape_of(data, 0, 3))])


def draw_vectors(data):
    r = rng(data)
    n = data.draw(st.integers(1, 3), label="count")
    return Case([r.standard_normal(data.draw(st.integers(1, 3), label="length")) for _ in range(n)])


def draw_sorted_search(data):
    r = rng(data)
    seq = np.sort(r.integers(-5, 6, data.draw(st.integers(1, 6), label="n"))) / 2
    values = r.integers(-6, 7, shape_of(data)) / 2
    return Case([], dict(seq=seq, values=values, right=data.draw(st.booleans(), label="right")))


def _search(lib, op):
    def call(seq, values, right):
        seq, values = lib.tensor(seq), lib.tensor(values)
        return lib.searchsorted(seq, values, right=right) if op == "searchsorted" else \
            lib.bucketize(values, seq, right=right)
    return call


def draw_runs(data):
    r = rng(data)
    return Case([], dict(x=r.integers(0, 3, shape_of(data, 1, 3)),
                         dim=data.draw(st.none() | st.just(0), label="dim")))


def _unique_consecutive(lib):
    def call(x, dim):
        return lib.unique_consecutive(lib.tensor(x), return_inverse=True, return_counts=True,
                                      dim=dim)
    return call


def _torch_via_float32(fn):
    """torch's `fn` for ops torch has no float16 CPU kernel for (cdist, quantile): float16
    inputs are compared with its float32 result rounded to float16."""
    def call(*xs, **params):
        torch = __import__("torch")
        half = xs[0].dtype == torch.float16
        out = fn(*(x.float() if half else x for x in xs), **params)
        return out.half() if half else out
    return call


_torch_cdist = _torch_via_float32(lambda *xs, p: __import__("torch").cdist(*xs, p=p))


def _functional(name):
    return lambda lib: getattr(__import__("minigrad.nn.functional" if lib == "mg" else
                                          "torch.nn.functional", fromlist=["x"]), name)


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


def both(name, **fixed):
    """The same call on minigrad and torch: x.name(*others, **params)."""
    return lambda *xs, **p: getattr(xs[0], name)(*xs[1:], **fixed, **p)


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
    Spec("lerp", draw_lerp, lambda a, b, w: a.lerp(b, w), lambda a, b, w: a.lerp(b, w)),
    Spec("where", draw_where,
         lambda a, b, cond: a.where(mg.tensor(cond, device=a.device), b),
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
         lambda x, s, mask: x.masked_scatter(mg.tensor(mask, device=x.device), s),
         lambda x, s, mask: x.masked_scatter(__import__("torch").from_numpy(mask), s)),
    *(Spec(n, draw_products(n), both(n), both(n)) for n in ["mm", "bmm", "dot", "outer"]),
    Spec("tensordot", draw_tensordot, lambda a, b, dims: mg.tensordot(a, b, dims=dims),
         lambda a, b, dims: __import__("torch").tensordot(a, b, dims=dims)),
    Spec("meshgrid", draw_meshgrid, lambda *xs, indexing: mg.meshgrid(*xs, indexing=indexing),
         lambda *xs, indexing: __import__("torch").meshgrid(*xs, indexing=indexing)),
    Spec("unbind", draw_unbind, both("unbind"), both("unbind")),
    Spec("repeat_interleave", draw_repeat_interleave, _repeat_interleave(mg),
         lambda *xs, **p: _repeat_interleave(__import__("torch"))(*xs, **p)),
    Spec("nan_to_num", draw_nan_to_num, both("nan_to_num"), both("nan_to_num"),
         gradcheck=False),                       # (finite differences at NaN and inf)
    Spec("diff", draw_diff, lambda x, *pre, **p: x.diff(prepend=pre[0] if pre else None, **p),
         lambda x, *pre, **p: x.diff(prepend=pre[0] if pre else None, **p)),
    Spec("median", draw_median, both("median"), both("median")),
    Spec("median_all", draw_t, both("median"), both("median")),
    # second round (ops/more_math.py, ops/unary.py)
    *(Spec(n, unary(k), both(n), both(n)) for n, k in [
        ("tan", "unit"), ("sinh", "any"), ("cosh", "any"), ("asin", "unit"), ("acos", "unit"),
        ("atan", "any"), ("log10", "positive"), ("exp2", "any"), ("logit", "prob")]),
    Spec("logit_eps", unary("any"), both("logit", eps=0.2), both("logit", eps=0.2)),
    Spec("atan2", binary(), both("atan2"), both("atan2")),
    Spec("xlogy", binary("positive"), both("xlogy"), both("xlogy")),
    Spec("logaddexp", binary(), both("logaddexp"), both("logaddexp")),
    Spec("hypot", binary("divisor"), both("hypot"), both("hypot")),
    Spec("nansum", draw_nan_reduce, both("nansum"), both("nansum")),
    Spec("nanmean", draw_nan_reduce, both("nanmean"), both("nanmean")),
    Spec("addcmul", draw_addc, both("addcmul"), both("addcmul")),
    Spec("addcdiv", draw_addc, both("addcdiv"), both("addcdiv")),
    Spec("take_along_dim", draw_take_along_dim,
         lambda x, indices, dim: x.take_along_dim(mg.tensor(indices, device=x.device), dim),
         lambda x, indices, dim: x.take_along_dim(__import__("torch").from_numpy(indices), dim)),
    Spec("tensor_split", draw_tensor_split,
         lambda x, how, dim: x.tensor_split(how, dim=dim),
         lambda x, how, dim: x.tensor_split(how, dim=dim)),
    Spec("broadcast_tensors", lambda data: Case([rng(data).standard_normal(s)
                                                 for s in pair_shapes(data, 3)]),
         lambda *xs: mg.broadcast_tensors(*xs),
         lambda *xs: __import__("torch").broadcast_tensors(*xs)),
    Spec("cosine_similarity", draw_cosine_similarity,
         lambda *xs, **p: _functional("cosine_similarity")("mg")(*xs, **p),
         lambda *xs, **p: _functional("cosine_similarity")("torch")(*xs, **p)),
    Spec("pairwise_distance", draw_pairwise_distance,
         lambda *xs, **p: _functional("pairwise_distance")("mg")(*xs, **p),
         lambda *xs, **p: _functional("pairwise_distance")("torch")(*xs, **p)),
    Spec("frac", unary("any"), both("frac"), both("frac")),
    Spec("fmax", draw_pair_same, lambda a, b: mg.fmax(a, b),
         lambda a, b: __import__("torch").fmax(a, b)),
    Spec("fmin", draw_pair_same, lambda a, b: mg.fmin(a, b),
         lambda a, b: __import__("torch").fmin(a, b)),
    Spec("dist", draw_pair_same, lambda a, b: mg.dist(a, b, 3),
         lambda a, b: __import__("torch").dist(a, b, 3)),
    Spec("kthvalue", draw_kthvalue, both("kthvalue"), both("kthvalue")),
    Spec("cummax", draw_distinct_rows, both("cummax"), both("cummax")),
    Spec("cummin", draw_distinct_rows, both("cummin"), both("cummin")),
    Spec("quantile", draw_quantile, _quantile(mg),
         _torch_via_float32(lambda *xs, **p: _quantile(__import__("torch"))(*xs, **p))),
    *(Spec(n, draw_rows_to_stack, lambda *xs, n=n: getattr(mg, n)(list(xs)),
           lambda *xs, n=n: getattr(__import__("torch"), n)(list(xs)))
      for n in ["hstack", "vstack", "column_stack", "dstack"]),
    Spec("block_diag", draw_matrices, lambda *xs: mg.block_diag(*xs),
         lambda *xs: __import__("torch").block_diag(*xs)),
    Spec("cartesian_prod", draw_vectors, lambda *xs: mg.cartesian_prod(*xs),
         lambda *xs: __import__("torch").cartesian_prod(*xs)),
    Spec("atleast_2d", lambda data: Case([rng(data).standard_normal(shape_of(data, 0, 3))]),
         lambda x: mg.atleast_2d(x), lambda x: __import__("torch").atleast_2d(x)),
    Spec("fliplr", lambda data: Case([rng(data).standard_normal(shape_of(data, 2, 3))]),
         both("fliplr"), both("fliplr")),
    Spec("flipud", lambda data: Case([rng(data).standard_normal(shape_of(data, 1, 3))]),
         both("flipud"), both("flipud")),
    Spec("rot90", draw_rot90, both("rot90"), both("rot90")),
    Spec("kron", draw_kron, both("kron"), both("kron")),
    Spec("searchsorted", draw_sorted_search, _search(mg, "searchsorted"),
         lambda **p: _search(__import__("torch"), "searchsorted")(**p), gradcheck=False),
    Spec("bucketize", draw_sorted_search, _search(mg, "bucketize"),
         lambda **p: _search(__import__("torch"), "bucketize")(**p), gradcheck=False),
    Spec("unique_consecutive", draw_runs, _unique_consecutive(mg),
         lambda **p: _unique_consecutive(__import__("torch"))(**p), gradcheck=False),
    Spec("addmm", draw_addmm(False), lambda *xs, **p: mg.addmm(*xs, **p),
         lambda *xs, **p: __import__("torch").addmm(*xs, **p)),
    Spec("baddbmm", draw_addmm(True), lambda *xs, **p: mg.baddbmm(*xs, **p),
         lambda *xs, **p: __import__("torch").baddbmm(*xs, **p)),
    Spec("index_put", draw_index_put, _index_put(mg),
         lambda *xs, **p: _index_put(__import__("torch"))(*xs, **p)),
    Spec("cdist", draw_cdist, lambda *xs, p: mg.cdist(*xs, p=p), _torch_cdist),
    Spec("rms_norm", draw_rms_norm,
         lambda x, *w, shape, eps: _functional("rms_norm")("mg")(x, shape, *w, eps=eps),
         lambda x, *w, shape, eps: _functional("rms_norm")("torch")(x, shape, *w, eps=eps)),
]


@pytest.mark.parametrize("spec", [s for s in SPECS if s.gradcheck], ids=repr)
@settings(SETTINGS, max_examples=max(2, EXAMPLES // 2))
@given(data=st.data())
def test_gradcheck(spec, data):
    case = spec.draw(data)
    xs = [Tensor(np.array(v, np.float64), requires_grad=True) for v in case.values]
    assert mg.gradcheck(lambda *t: sum(o.sum() * (i + 1) for i, o in
                                       enumerate(outputs(spec.mg(*t, **case.params)))), xs)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16],
                         ids=["float64", "float32", "float16"])
@pytest.mark.parametrize("spec", SPECS, ids=repr)
@SETTINGS
@given(data=st.data())
def test_matches_torch(spec, dtype, data):
    torch = require_torch()
    case = spec.draw(data)
    arrays = [np.asarray(v, dtype=dtype).copy() for v in case.values]
    assert_matches_torch(torch, spec.mg, spec.torch, arrays, case.params, dtype)


# ------------------------------------------------------------------ one by one
METHOD_NAMES = """add sub mul div pow neg eq ne lt le gt ge where reciprocal square log1p expm1 floor
ceil round sign trunc isnan isinf isfinite logical_not logical_and logical_or allclose isclose
equal log2 t narrow select mm bmm dot outer unique diag diagonal logsumexp erf lerp tile movedim
masked_scatter pow_ neg_ exp_ sqrt_ abs_ clamp_min clamp_max element_size nelement
is_contiguous stride unbind repeat_interleave nan_to_num diff median bincount bitwise_xor
logical_xor __xor__ tan sinh cosh asin acos atan atan2 arcsin arccos arctan arctan2 log10 exp2
xlogy logaddexp hypot logit nansum nanmean addcmul addcdiv addcmul_ addcdiv_ take_along_dim
tensor_split lerp_ relu_ sigmoid_ tanh_ sin_ cos_ log_ clamp_min_ clamp_max_ square_ rsqrt_
multiply subtract divide true_divide negative absolute greater greater_equal less less_equal
not_equal swapdims moveaxis reshape_as ravel ndimension get_device is_nonzero is_cuda is_cpu
nbytes itemsize""".split()
FUNCTION_NAMES = """add sub mul div pow neg eq ne lt le gt ge reciprocal square log1p expm1 floor ceil
round sign trunc isnan isinf isfinite logical_not logical_and logical_or allclose isclose equal
reshape permute transpose t squeeze unsqueeze flatten narrow mm bmm dot outer unique diag
diagonal logsumexp erf lerp broadcast_to meshgrid argwhere count_nonzero tensordot unbind
repeat_interleave nan_to_num diff median isin bincount triu_indices tril_indices bitwise_xor
logical_xor tan sinh cosh asin acos atan atan2 arcsin arccos arctan arctan2 log10 exp2 xlogy
logaddexp hypot logit nansum nanmean addcmul addcdiv take_along_dim tensor_split
broadcast_tensors cosine_similarity pairwise_distance cdist multiply subtract divide true_divide
negative absolute greater greater_equal less less_equal not_equal swapdims moveaxis ravel
index_put addmm baddbmm var_mean std_mean set_float32_matmul_precision
get_default_device is_autocast_enabled frac fmax fmin dist kthvalue cummax cummin quantile
searchsorted bucketize unique_consecutive hstack vstack row_stack column_stack dstack atleast_1d
atleast_2d atleast_3d fliplr flipud rot90 kron block_diag cartesian_prod""".split()


def test_every_listed_name_exists():
    assert [n for n in METHOD_NAMES if not hasattr(Tensor, n)] == []
    assert [n for n in FUNCTION_NAMES if not hasattr(mg, n)] == []


@pytest.mark.torch
@pytest.mark.parametrize("name", ["floor", "ceil", "round", "trunc", "sign", "square", "log1p",
                                  "expm1", "log2", "erf", "reciprocal", "neg", "isnan", "isinf",
                                  "isfinite", "logical_not"])
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8"])
def test_integer_inputs_match_torch(name, dtype):
    torch = require_torch()
    x = np.array([[0, 1, 3], [4, 2, 7]], dtype=dtype)
    out, expected = getattr(mg.tensor(x), name)(), getattr(torch.from_numpy(x), name)()
    assert str(out.dtype) == str(expected.dtype).replace("torch.", "")
    np.testing.assert_allclose(out.numpy().astype(np.float64),
                               expected.numpy().astype(np.float64), rtol=1e-6)


@pytest.mark.torch
@pytest.mark.parametrize("mode", [None, "trunc", "floor"])
def test_integer_division_modes_match_torch(mode):
    torch = require_torch()
    a = np.array([-7, 7, -8, 8, 0, 9, -9], dtype=np.int64)
    b = np.array([2, -2, 3, 3, 5, -4, -4], dtype=np.int64)
    out = mg.tensor(a).div(mg.tensor(b), rounding_mode=mode)
    expected = torch.from_numpy(a).div(torch.from_numpy(b), rounding_mode=mode)
    assert str(out.dtype) == str(expected.dtype).replace("torch.", "")
    np.testing.assert_array_equal(out.numpy(), expected.numpy())
    assert mg.div(mg.tensor(a), 2, rounding_mode=mode).tolist() == \
        torch.div(torch.from_numpy(a), 2, rounding_mode=mode).tolist()


def test_division_errors():
    with pytest.raises(ZeroDivisionError):
        mg.tensor([1, 2]).div(mg.tensor([1, 0]), rounding_mode="trunc")
    with pytest.raises(ValueError, match="rounding_mode"):
        mg.tensor([1.0]).div(2.0, rounding_mode="round")


@pytest.mark.torch
def test_nan_inf_tests_and_closeness_match_torch():
    torch = require_torch()
    a = np.array([1.0, np.nan, np.inf, -np.inf, 1.0, 0.0, 1e-9])
    b = np.array([1.0 + 1e-6, np.nan, np.inf, np.inf, 1.1, 1e-9, 0.0])
    A, B, TA, TB = mg.tensor(a), mg.tensor(b), torch.from_numpy(a), torch.from_numpy(b)
    for name in ["isnan", "isinf", "isfinite"]:
        assert getattr(A, name)().tolist() == getattr(TA, name)().tolist()
    for kwargs in [{}, dict(equal_nan=True), dict(rtol=0.2), dict(atol=0.0, rtol=0.0)]:
        assert A.isclose(B, **kwargs).tolist() == TA.isclose(TB, **kwargs).tolist()
        assert mg.allclose(A, B, **kwargs) is bool(torch.allclose(TA, TB, **kwargs))
    assert mg.allclose(mg.tensor([1.0, 2.0]), mg.tensor([1.0, 2.0 + 1e-7])) is True
    assert mg.equal(A, A) is False                       # NaN is never equal, as in torch
    assert mg.equal(B[:1], B[:1]) is True
    assert mg.equal(mg.tensor([1.0, 2.0]), mg.tensor([[1.0, 2.0]])) is False  # shapes differ
    assert mg.isclose(mg.tensor([1, 2]), mg.tensor([1, 3])).tolist() == [True, False]


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_logsumexp_infinities_and_large_values(dtype):
    torch = require_torch()
    x = np.array([[-np.inf, -np.inf], [np.inf, 1.0], [60.0, 59.0], [-np.inf, 2.0]], dtype=dtype)
    if dtype == np.float16:
        x[2] = [20.0, 19.0]                           # exp(20) overflows float16 itself
    out, expected = mg.tensor(x).logsumexp(1), torch.from_numpy(x).logsumexp(1)
    assert out.dtype == dtype
    np.testing.assert_allclose(out.numpy().astype(np.float64), expected.double().numpy(),
                               rtol=1e-3)
    assert mg.logsumexp(mg.tensor(np.zeros((0, 3), dtype)), dim=0).tolist() == [-np.inf] * 3


def test_rounding_has_zero_gradient():
    x = mg.tensor([-1.5, -0.5, 0.5, 2.25], requires_grad=True)
    for name in ["floor", "ceil", "round", "trunc", "sign"]:
        x.grad = None
        getattr(x, name)().sum().backward()
        assert x.grad.tolist() == [0.0] * 4
    assert mg.round(mg.tensor([0.5, 1.5, 2.5, -0.5])).tolist() == [0.0, 2.0, 2.0, -0.0]


@pytest.mark.torch
@SETTINGS
@given(data=st.data())
def test_unique_matches_torch(data):
    torch = require_torch()
    x = data.draw(hnp.arrays(np.int64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4),
                             elements=st.integers(-3, 3)), label="x")
    dim = data.draw(st.none() | st.integers(-x.ndim, x.ndim - 1), label="dim")
    out = mg.tensor(x).unique(return_inverse=True, return_counts=True, dim=dim)
    expected = torch.from_numpy(x).unique(return_inverse=True, return_counts=True, dim=dim)
    for o, e in zip(out, expected):
        assert str(o.dtype) == str(e.dtype).replace("torch.", "")
        np.testing.assert_array_equal(o.numpy(), e.numpy())
    np.testing.assert_array_equal(mg.unique(mg.tensor(x)).numpy(), torch.unique(
        torch.from_numpy(x)).numpy())


@pytest.mark.parametrize("op, shapes, message", [
    ("mm", [(2, 3, 4), (4, 2)], "mm: self must be a 2-D"),
    ("mm", [(2, 3), (4, 2)], "mm: mat1 and mat2 shapes"),
    ("bmm", [(2, 3), (3, 2)], "bmm: batch1 must be a 3-D"),
    ("bmm", [(2, 2, 3), (3, 3, 2)], "bmm: shapes"),
    ("dot", [(2, 3), (3,)], "dot: self must be a 1-D"),
    ("dot", [(2,), (3,)], "dot: inconsistent"),
    ("outer", [(2, 1), (3,)], "outer: self must be a 1-D"),
    ("tensordot", [(2, 3), (3, 2)], "tensordot: contracted"),
])
def test_product_shape_errors(op, shapes, message):
    with pytest.raises(mg.ShapeError, match=message):
        getattr(mg, op)(*[mg.zeros(s) for s in shapes])


def test_view_errors():
    x = mg.zeros(2, 3)
    with pytest.raises(mg.IndexOutOfRangeError, match="narrow"):
        x.narrow(1, 2, 2)
    with pytest.raises(mg.IndexOutOfRangeError, match="select"):
        x.select(0, 2)
    with pytest.raises(mg.ShapeError, match="t: "):
        mg.zeros(2, 3, 4).t()
    with pytest.raises(mg.ShapeError, match="diag"):
        mg.zeros(2, 2, 2).diag()
    with pytest.raises(mg.ShapeError, match="masked_scatter"):
        x.masked_scatter(mg.ones(2, 3).bool(), mg.zeros(5))
    with pytest.raises(mg.DTypeError, match="dot"):
        mg.dot(mg.zeros(2), mg.zeros(2, dtype=mg.float64))


@pytest.mark.torch
@pytest.mark.parametrize("make, shape", [
    (lambda m: m.arange(6.).view(2, 3).t(), (6,)),                 # transposed
    (lambda m: m.arange(12.).view(3, 4)[:, 1:3], (6,)),            # sliced columns
    (lambda m: m.arange(24.).view(2, 3, 4).permute(0, 2, 1), (2, 12)),
    (lambda m: m.arange(6.).view(2, 3).t(), (3, 2)),               # a transposed view's
    (lambda m: m.arange(12.).view(3, 4)[1:], (8,)),                # rows: contiguous
    (lambda m: m.arange(12.).view(3, 4)[:, None, :], (3, 4)),      # a new axis of 1
    (lambda m: m.arange(24.).view(2, 3, 4).permute(1, 0, 2), (3, 2, 2, 2)),
])
def test_view_shares_memory_or_raises_as_torch(make, shape):
    """Tensor.view never copies: where torch can view, the result shares the memory (a
    write shows in the original); where it cannot, both raise a RuntimeError."""
    torch = require_torch()
    try:
        expected = make(torch).view(shape)
    except RuntimeError:
        with pytest.raises(RuntimeError, match="view: .* cannot be viewed"):
            make(mg).view(shape)
        with pytest.raises(mg.ViewError):
            make(mg).view_as(mg.zeros(shape))
        return
    base = make(mg)
    got = base.view(shape)
    np.testing.assert_array_equal(got.numpy(), expected.numpy())
    got.fill_(-1.0)
    assert (base.numpy() == -1).all()


@pytest.mark.torch
@pytest.mark.parametrize("name, args", [("pow_", (2,)), ("neg_", ()), ("exp_", ()),
                                        ("sqrt_", ()), ("abs_", ())])
def test_in_place_forms_match_torch(name, args):
    torch = require_torch()
    x = np.array([[0.5, 1.5], [2.0, 0.25]])
    a, ta = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    b, tb = a * 1.0, ta * 1.0
    assert getattr(b, name)(*args) is b
    getattr(tb, name)(*args)
    np.testing.assert_allclose(b.numpy(), tb.detach().numpy())
    (b * b).sum().backward()
    (tb * tb).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy())


@pytest.mark.torch
def test_layout_queries_match_torch():
    torch = require_torch()
    x = np.arange(24.0).reshape(2, 3, 4)
    for dtype in [np.float32, np.float16, np.int64, np.bool_]:
        a, ta = mg.tensor(x.astype(dtype)), torch.from_numpy(x.astype(dtype))
        assert a.element_size() == ta.element_size()
        assert a.nelement() == ta.nelement() == 24
        assert a.stride() == ta.stride() and a.stride(1) == ta.stride(1)
        assert a.is_contiguous() and ta.is_contiguous()
        assert a.transpose(0, 2).stride() == ta.transpose(0, 2).stride()
        assert a.transpose(0, 2).is_contiguous() == ta.transpose(0, 2).is_contiguous()


@pytest.mark.torch
def test_shape_functions_and_selections_match_torch():
    torch = require_torch()
    x = np.arange(24.0).reshape(2, 1, 3, 4) % 5
    a, ta = mg.tensor(x), torch.from_numpy(x)
    pairs = [(mg.reshape(a, (4, 6)), torch.reshape(ta, (4, 6))),
             (mg.permute(a, (3, 0, 2, 1)), torch.permute(ta, (3, 0, 2, 1))),
             (mg.transpose(a, 0, 2), torch.transpose(ta, 0, 2)),
             (mg.squeeze(a, 1), torch.squeeze(ta, 1)), (mg.squeeze(a), torch.squeeze(ta)),
             (mg.unsqueeze(a, -1), torch.unsqueeze(ta, -1)),
             (mg.flatten(a, 1, 2), torch.flatten(ta, 1, 2)),
             (mg.broadcast_to(a, (3, 2, 5, 3, 4)), torch.broadcast_to(ta, (3, 2, 5, 3, 4))),
             (mg.t(a[0, 0]), torch.t(ta[0, 0])),
             (mg.argwhere(a), torch.argwhere(ta)), (a.argwhere(), ta.argwhere()),
             (mg.count_nonzero(a), torch.count_nonzero(ta)),
             (mg.count_nonzero(a, dim=2), torch.count_nonzero(ta, dim=2)),
             (mg.add(a, a, alpha=3), torch.add(ta, ta, alpha=3)),
             (mg.sub(a, 1, alpha=2), torch.sub(ta, 1, alpha=2))]
    for out, expected in pairs:
        assert str(out.dtype) == str(expected.dtype).replace("torch.", "")
        np.testing.assert_array_equal(out.numpy(), expected.numpy())


def test_contiguous_copies_only_when_the_layout_is_not_row_major():
    torch = pytest.importorskip("torch")
    x = mg.randn(3, 4, requires_grad=True)
    assert x.contiguous() is x
    y = x.t().contiguous()
    assert y.is_contiguous() and not x.t().is_contiguous()
    assert y.stride() == torch.zeros(4, 3).stride()
    (y * mg.arange(12.0).reshape(4, 3)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.arange(12.0).reshape(4, 3).T)


def test_isnan_and_isinf_see_bfloat16_values():
    pytest.importorskip("ml_dtypes")
    b = mg.tensor([float("nan"), float("inf"), 1.0]).bfloat16()
    assert mg.isnan(b).tolist() == [True, False, False]
    assert mg.isinf(b).tolist() == [False, True, False]


@pytest.mark.torch
def test_counting_membership_index_and_xor_functions_match_torch():
    """The integer and bool results of ops/more_torch.py against torch's, dtypes included."""
    torch = require_torch()
    ids = np.array([0, 3, 1, 1, 5, 3, 3])
    w32, w64 = np.linspace(0.5, 2.0, 7).astype(np.float32), np.linspace(0.5, 2.0, 7)
    cases = [
        (lambda m: m.isin(m.tensor(ids), m.tensor([3, 5, 8]))),
        (lambda m: m.isin(m.tensor(ids), m.tensor([3, 5]), invert=True)),
        (lambda m: m.isin(m.tensor([[1.5, 2.0], [3.0, 1.5]]), 1.5)),
        (lambda m: m.bincount(m.tensor(ids))),
        (lambda m: m.bincount(m.tensor(ids), minlength=9)),
        (lambda m: m.bincount(m.tensor(ids), weights=m.tensor(w32))),
        (lambda m: m.bincount(m.tensor(ids), weights=m.tensor(w64))),
        (lambda m: m.bincount(m.tensor(ids), weights=m.tensor(ids))),
        (lambda m: m.tensor(ids).bincount()),
        (lambda m: m.bincount(m.tensor(np.zeros(0, np.int64)))),
        (lambda m: m.triu_indices(3, 4)), (lambda m: m.triu_indices(4, 3, -1)),
        (lambda m: m.tril_indices(3, 3)), (lambda m: m.tril_indices(3, 5, 1)),
        (lambda m: m.tensor([True, False, True]) ^ m.tensor([True, True, False])),
        (lambda m: m.tensor([5, 6, 7]) ^ m.tensor([3, 3, 3])),
        (lambda m: m.bitwise_xor(m.tensor([5, 6]), m.tensor([1, 2]))),
        (lambda m: m.logical_xor(m.tensor([0.0, 1.5, 2.0]), m.tensor([1.0, 0.0, 3.0]))),
        (lambda m: m.tensor([1.5, 2.0, 2.5]).sum(dtype=m.int64)),
        (lambda m: m.tensor([1, 2, 3]).sum(dtype=m.float32)),
        (lambda m: m.tensor([[1, 2], [3, 4]]).sum(1, dtype=m.float64)),
    ]
    for case in cases:
        got, expected = case(mg), case(torch)
        assert str(got.dtype) == str(expected.dtype).replace("torch.", ""), (got, expected)
        np.testing.assert_array_equal(got.numpy(), expected.numpy())


def test_more_torch_functions_reject_bad_arguments():
    with pytest.raises(mg.ShapeError, match="repeat_interleave"):
        mg.tensor([1.0, 2.0]).repeat_interleave(mg.tensor([1, 2, 3]))
    with pytest.raises(mg.MinigradError, match="non-negative"):
        mg.tensor([1.0, 2.0]).repeat_interleave(mg.tensor([1, -1]))
    with pytest.raises(mg.DTypeError, match="bincount"):
        mg.bincount(mg.tensor([1.0, 2.0]))
    with pytest.raises(mg.IndexOutOfRangeError, match="non-negative"):
        mg.bincount(mg.tensor([1, -2]))
    with pytest.raises(mg.ShapeError, match="diff"):
        mg.diff(mg.tensor(3.0))
    with pytest.raises(mg.IndexOutOfRangeError, match="median"):
        mg.median(mg.zeros(0))

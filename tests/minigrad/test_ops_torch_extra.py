"""The tensor ops of issue 15's list that PyTorch users reach for: norm, sort / argsort /
topk, cumsum / cumprod / prod, trace, flip, roll, repeat, unflatten, expand_as, mT,
index_select, masked_select, // % fmod, einsum.

From one table of specs (as tests/minigrad/test_ops.py):
* `test_gradcheck`: float64 central differences (`minigrad.gradcheck`);
* `test_matches_torch`: values, every input gradient and the dtypes equal PyTorch's, in
  float64, float32 and float16 (float16 within a few of its ulps: reductions over it
  accumulate in float32 and round once, as PyTorch does on the CPU).
Then the edge cases one by one: gradients at 0 (norm) and with zeros (prod, cumprod),
integer semantics of // and %, stable sorting, dtypes of scans, einsum's forms, errors.
"""
import math
import os
from dataclasses import dataclass
from typing import Callable, Optional
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad.tensor import Tensor
from opspecs import Case, assert_matches_torch, outputs, rng, shape_of
from testutil import FRESH_CASES, require_torch

EXAMPLES = int(os.environ.get("MINIGRAD_EXAMPLES", "15"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=not FRESH_CASES,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
INF = math.inf


# ------------------------------------------------------------------ drawing inputs
def distinct(r, shape, zeros=False):
    """Values whose magnitudes differ by at least 0.25 (exact in float16, so no ties
    appear when rounding), of random sign: sorting, max and norms are smooth there."""
    n = int(np.prod(shape))
    v = (r.permutation(n) + (0 if zeros else 1)) * 0.25 * r.choice([-1.0, 1.0], n)
    return v.reshape(shape)


def with_zeros(r, shape):
    """Values in [0.5, 1.5] of random sign, some of them exactly 0 (prod's hard case)."""
    v = r.uniform(0.5, 1.5, shape) * r.choice([-1.0, 1.0], shape)
    return np.where(r.random(shape) < 0.3, 0.0, v)


def dim_of(data, ndim):
    return data.draw(st.integers(-max(ndim, 1), max(ndim, 1) - 1), label="dim")


def dims_of(data, ndim, allow_none=True):
    one = st.integers(-ndim, ndim - 1)
    many = st.lists(one, min_size=1, max_size=ndim, unique_by=lambda a: a % ndim).map(tuple)
    options = (one | many) if ndim else st.nothing()
    if allow_none:
        options = st.none() | options if ndim else st.none()
    return data.draw(options, label="dims")


def draw_norm(data):
    x = distinct(rng(data), shape_of(data))
    p = data.draw(st.sampled_from([2, 1, INF, -INF, 3, 0.5, -1, 0, "fro"]), label="p")
    dim = dims_of(data, x.ndim)
    if p == "fro" and isinstance(dim, tuple) and len(dim) > 2:
        dim = dim[:2]
    return Case([x], dict(p=p, dim=dim, keepdim=data.draw(st.booleans(), label="keepdim")))


def draw_sort(data):
    x = distinct(rng(data), shape_of(data, min_dims=1))
    return Case([x], dict(dim=dim_of(data, x.ndim), descending=data.draw(st.booleans())))


def draw_topk(data):
    x = distinct(rng(data), shape_of(data, min_dims=1))
    dim = dim_of(data, x.ndim)
    k = data.draw(st.integers(0, x.shape[dim]), label="k")
    return Case([x], dict(k=k, dim=dim, largest=data.draw(st.booleans())))


def draw_scan(kind):
    def draw(data):
        r = rng(data)
        shape = shape_of(data, min_dims=1)
        x = with_zeros(r, shape) if kind == "zeros" else r.standard_normal(shape)
        return Case([x], dict(dim=dim_of(data, x.ndim)))
    return draw


def draw_prod(data):
    x = with_zeros(rng(data), shape_of(data))
    dim = data.draw(st.none() | st.integers(-max(x.ndim, 1), max(x.ndim, 1) - 1), label="dim")
    return Case([x], dict(dim=dim, keepdim=dim is not None and data.draw(st.booleans())))


def draw_trace(data):
    return Case([rng(data).standard_normal(shape_of(data, 2, 2))])


def draw_flip(data):
    x = rng(data).standard_normal(shape_of(data, min_dims=1))
    return Case([x], dict(dims=dims_of(data, x.ndim, allow_none=False)))


def draw_roll(data):
    x = rng(data).standard_normal(shape_of(data, min_dims=1))
    dims = dims_of(data, x.ndim)
    count = 1 if dims is None or isinstance(dims, int) else len(dims)
    shifts = tuple(data.draw(st.integers(-5, 5)) for _ in range(count))
    return Case([x], dict(shifts=shifts[0] if not isinstance(dims, tuple) else shifts,
                          dims=dims))


def draw_repeat(data):
    x = rng(data).standard_normal(shape_of(data))
    extra = data.draw(st.integers(0 if x.ndim else 1, 2))
    sizes = tuple(data.draw(st.integers(0, 3)) for _ in range(x.ndim + extra))
    return Case([x], dict(sizes=sizes))


def draw_unflatten(data):
    x = rng(data).standard_normal(shape_of(data, min_dims=1))
    dim = dim_of(data, x.ndim)
    n = x.shape[dim]
    first = data.draw(st.sampled_from([d for d in range(1, n + 1) if n % d == 0]))
    sizes = data.draw(st.sampled_from([(first, n // first), (first, -1), (-1, n // first),
                                       (n,)]))
    return Case([x], dict(dim=dim, sizes=sizes))


def draw_expand_as(data):
    target = shape_of(data)
    drop = data.draw(st.integers(0, len(target)))
    small = tuple(1 if data.draw(st.booleans()) else s for s in target[drop:])
    return Case([rng(data).standard_normal(small)], dict(shape=target))


def draw_mT(data):
    return Case([rng(data).standard_normal(shape_of(data, 2, 4))])


def draw_index_select(data):
    r = rng(data)
    x = r.standard_normal(shape_of(data, min_dims=1))
    dim = dim_of(data, x.ndim)
    index = r.integers(0, x.shape[dim], data.draw(st.integers(0, 5)))   # repeats included
    return Case([x], dict(dim=dim, index=index))


def draw_masked_select(data):
    r = rng(data)
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, min_side=1,
                                                         max_side=3)).input_shapes
    return Case([r.standard_normal(shapes[0])], dict(mask=r.random(shapes[1]) < 0.5))


def draw_division(data):
    """a = (q + f) * b with f in [0.1, 0.9]: a / b stays away from the integers, where
    floor and trunc jump; b's shape broadcasts to a's."""
    r = rng(data)
    shape = shape_of(data)
    drop = data.draw(st.integers(0, len(shape)))
    b_shape = tuple(1 if data.draw(st.booleans()) else s for s in shape[drop:])
    b = r.uniform(0.5, 2.0, b_shape) * r.choice([-1.0, 1.0], b_shape)
    a = (r.integers(-3, 4, shape) + r.uniform(0.1, 0.9, shape)) * b
    return Case([a, b])


EINSUMS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("ij,kj", [(2, 3), (4, 3)]), ("ii->i", [(3, 3)]),
    ("ii->", [(3, 3)]), ("ii", [(4, 4)]), ("ij->", [(2, 3)]), ("ij->i", [(2, 3)]),
    ("ijk->kji", [(2, 3, 4)]), ("i,i", [(3,), (3,)]), ("i,j->ij", [(2,), (3,)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]), ("...ij,...jk", [(2, 1, 2, 3), (4, 3, 2)]),
    ("...j,j->...", [(2, 3, 4), (4,)]), ("abc,cd,de->abe", [(2, 2, 3), (3, 2), (2, 2)]),
    ("ii,ij->j", [(3, 3), (3, 2)]), ("iij->j", [(2, 2, 3)]), ("ij,ij->i", [(2, 3), (2, 3)]),
    ("i,i->i", [(1,), (3,)]), ("ij,jk,k", [(2, 3), (3, 2), (2,)]),
]


def draw_einsum(data):
    eq, shapes = data.draw(st.sampled_from(EINSUMS), label="einsum")
    r = rng(data)
    return Case([r.standard_normal(s) for s in shapes], dict(eq=eq))


@dataclass
class Spec:
    name: str
    draw: Callable
    mg: Callable
    torch: Optional[Callable]
    gradcheck: bool = True

    def __repr__(self):
        return self.name


def _torch():
    import torch
    return torch


def norm_mg(x, p, dim, keepdim):
    return x.norm(p, dim, keepdim)


def norm_torch(x, p, dim, keepdim):
    return _torch().norm(x, p, dim, keepdim)


SPECS = [
    Spec("norm", draw_norm, norm_mg, norm_torch),
    Spec("vector_norm", draw_norm,
         lambda x, p, dim, keepdim: mg.linalg.vector_norm(x, 2 if p == "fro" else p, dim, keepdim),
         lambda x, p, dim, keepdim: _torch().linalg.vector_norm(x, 2 if p == "fro" else p, dim,
                                                                keepdim)),
    Spec("sort", draw_sort, lambda x, dim, descending: x.sort(dim, descending),
         lambda x, dim, descending: x.sort(dim=dim, descending=descending, stable=True)),
    Spec("topk", draw_topk, lambda x, **kw: mg.topk(x, **kw), lambda x, **kw: _torch().topk(x, **kw)),
    Spec("cumsum", draw_scan("normal"), lambda x, dim: x.cumsum(dim), lambda x, dim: x.cumsum(dim)),
    Spec("cumprod", draw_scan("zeros"), lambda x, dim: mg.cumprod(x, dim),
         lambda x, dim: _torch().cumprod(x, dim)),
    Spec("prod", draw_prod,
         lambda x, dim, keepdim: x.prod() if dim is None else x.prod(dim, keepdim),
         lambda x, dim, keepdim: x.prod() if dim is None else x.prod(dim, keepdim)),
    Spec("trace", draw_trace, lambda x: x.trace(), lambda x: x.trace()),
    Spec("flip", draw_flip, lambda x, dims: x.flip(dims), lambda x, dims: x.flip(dims)),
    Spec("roll", draw_roll, lambda x, shifts, dims: mg.roll(x, shifts, dims),
         lambda x, shifts, dims: _torch().roll(x, shifts, dims)),
    Spec("repeat", draw_repeat, lambda x, sizes: x.repeat(*sizes), lambda x, sizes: x.repeat(*sizes)),
    Spec("unflatten", draw_unflatten, lambda x, dim, sizes: x.unflatten(dim, sizes),
         lambda x, dim, sizes: x.unflatten(dim, sizes)),
    Spec("expand_as", draw_expand_as, lambda x, shape: x.expand_as(mg.zeros(*shape)),
         lambda x, shape: x.expand_as(_torch().zeros(shape))),
    Spec("mT", draw_mT, lambda x: x.mT, lambda x: x.mT),
    Spec("index_select", draw_index_select,
         lambda x, dim, index: x.index_select(dim, mg.tensor(index, device=x.device)),
         lambda x, dim, index: x.index_select(dim, _torch().tensor(index))),
    Spec("masked_select", draw_masked_select, lambda x, mask: x.masked_select(mg.tensor(mask, device=x.device)),
         lambda x, mask: x.masked_select(_torch().tensor(mask))),
    Spec("remainder", draw_division, lambda a, b: a % b, lambda a, b: a % b),
    Spec("fmod", draw_division, lambda a, b: mg.fmod(a, b), lambda a, b: _torch().fmod(a, b)),
    Spec("einsum", draw_einsum, lambda *xs, eq: mg.einsum(eq, *xs),
         lambda *xs, eq: _torch().einsum(eq, *xs)),
]


# ------------------------------------------------------------------ running a spec
def lay_out(vals, dtype, transposed):
    """`vals` in `dtype`, contiguous or as a transposed (Fortran-order) buffer."""
    vals = np.asarray(vals, dtype=dtype)
    return np.asfortranarray(vals) if transposed and vals.ndim > 1 else vals.copy()


@pytest.mark.parametrize("spec", [s for s in SPECS if s.gradcheck], ids=repr)
@SETTINGS
@given(data=st.data())
def test_gradcheck(spec, data):
    case = spec.draw(data)
    xs = [Tensor(np.array(v, np.float64), requires_grad=True) for v in case.values]
    assert mg.gradcheck(lambda *t: outputs(spec.mg(*t, **case.params))[0], xs)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16],
                         ids=["float64", "float32", "float16"])
@pytest.mark.parametrize("spec", [s for s in SPECS if s.torch], ids=repr)
@SETTINGS
@given(data=st.data())
def test_matches_torch(spec, dtype, data):
    torch = require_torch()
    case = spec.draw(data)
    arrays = [lay_out(v, dtype, data.draw(st.booleans(), label="transposed")) for v in case.values]
    assert_matches_torch(torch, spec.mg, spec.torch, arrays, case.params, dtype)


@pytest.mark.parametrize("spec", SPECS, ids=repr)
@settings(max_examples=max(EXAMPLES // 3, 3), deadline=None, derandomize=not FRESH_CASES,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_float32_stays_float32(spec, data):
    """No float64 array is made in forward or backward from float32 inputs."""
    case = spec.draw(data)
    xs = [Tensor(np.array(v, np.float32), requires_grad=True) for v in case.values]
    made = []
    original = Tensor._make.__func__

    def spy(cls, array, requires_grad, ctx):
        made.append((getattr(ctx, "name", "constant"), np.result_type(array)))
        return original(cls, array, requires_grad, ctx)
    with mock.patch.object(Tensor, "_make", classmethod(spy)):
        outs = [o for o in outputs(spec.mg(*xs, **case.params)) if o.dtype.kind == "f"]
        mg.grad(outs, xs, grad_outputs=[Tensor(np.ones(o.shape, np.float32)) for o in outs],
                allow_unused=True)
    assert all(o.dtype == np.float32 for o in outs)
    upcast = [name for name, dt in made if dt == np.float64]
    assert not upcast, f"{spec.name}: float64 arrays made by {upcast}"

# ------------------------------------------------------------------ edge cases, one by one
def _grad_pair(mg_fn, torch_fn, values, dtype=np.float64):
    """minigrad's and torch's gradient of sum(fn(x)) at `values`."""
    torch = require_torch()
    x = Tensor(np.array(values, dtype), requires_grad=True)
    t = torch.tensor(np.array(values, dtype), requires_grad=True)
    mg_fn(x).sum().backward()
    out = torch_fn(t).sum()
    if out.requires_grad:
        out.backward()
    zeros = np.zeros(np.shape(values), dtype)           # torch: None for p=0
    return x.grad.numpy(), zeros if t.grad is None else t.grad.numpy()


@pytest.mark.torch
@pytest.mark.parametrize("p", [2, 1, 3, 0.5, -1, 0, INF, -INF, "fro"])
@pytest.mark.parametrize("values", [[0.0, 0.0, 0.0], [0.0, 2.0, -2.0], [[0.0, 0.0], [1.0, -3.0]]])
def test_norm_gradient_at_zero_is_torchs(p, values):
    """At an all-zero vector every p gives gradient 0 (torch masks the 0/0); at a zero
    entry p < 1 gives 0 there; ties of |x| share the gradient of the inf-norm."""
    g, tg = _grad_pair(lambda x: x.norm(p, dim=-1), lambda t: t.norm(p, dim=-1), values)
    np.testing.assert_allclose(g, tg, rtol=1e-12, atol=0)
    assert np.isfinite(g).all()


@pytest.mark.torch
@pytest.mark.parametrize("values", [[2.0, 0.0, 3.0, 4.0], [2.0, 0.0, 3.0, 0.0, 5.0],
                                    [0.0, 0.0], [0.0], [[1.5, 0.0, 2.0], [0.0, 0.0, -1.0]],
                                    [-1.5, 2.0, 0.5]])
def test_prod_and_cumprod_gradients_with_zeros(values):
    torch = require_torch()
    for dim in range(np.ndim(values)):
        g, tg = _grad_pair(lambda x: x.cumprod(dim) * mg.arange(1, np.shape(values)[-1] + 1),
                           lambda t: t.cumprod(dim) * torch.arange(1, np.shape(values)[-1] + 1),
                           values)
        np.testing.assert_allclose(g, tg, rtol=1e-12)
        g, tg = _grad_pair(lambda x: x.prod(dim), lambda t: t.prod(dim), values)
        np.testing.assert_allclose(g, tg, rtol=1e-12)
    g, tg = _grad_pair(lambda x: x.prod(), lambda t: t.prod(), values)
    np.testing.assert_allclose(g, tg, rtol=1e-12)


@pytest.mark.torch
def test_half_scans_accumulate_in_float32_and_round_once():
    """A float16 running sum of 2000 values: rounding every partial sum to float16 drifts
    far off; minigrad, like torch on the CPU, adds in float32 and rounds each result once."""
    torch = require_torch()
    x = np.random.default_rng(0).uniform(0, 1, 2000).astype(np.float16)
    exact = np.cumsum(x.astype(np.float32)).astype(np.float16)
    assert np.array_equal(mg.tensor(x).cumsum(0).numpy(), exact)
    assert np.array_equal(mg.tensor(x).cumsum(0).numpy(), torch.tensor(x).cumsum(0).numpy())
    y = np.random.default_rng(1).uniform(0.99, 1.01, 500).astype(np.float16)
    # torch's CPU prod over float16 multiplies in float16 (0.9009 here, against the true
    # 0.9181): minigrad keeps to the rule and gives the correctly rounded product
    assert mg.tensor(y).prod().item() == np.float16(np.prod(y.astype(np.float64)))
    for mine, theirs in [(mg.tensor(y).cumprod(0), torch.tensor(y).cumprod(0)),
                         (mg.tensor(x).norm(), torch.tensor(x).norm()),
                         (mg.einsum("i,i", mg.tensor(x), mg.tensor(x)),
                          torch.einsum("i,i", torch.tensor(x), torch.tensor(x)))]:
        assert mine.dtype == np.float16
        np.testing.assert_allclose(mine.numpy().astype(np.float64),
                                   theirs.numpy().astype(np.float64), rtol=2e-3)


@pytest.mark.torch
def test_scan_and_prod_dtypes_are_torchs():
    torch = require_torch()
    cases = [np.arange(1, 5, dtype=np.int32), np.array([True, False, True]),
             np.arange(1, 5, dtype=np.int64), np.arange(1, 5, dtype=np.uint8)]
    for a in cases:
        for f in (lambda m, x: m.cumsum(x, 0), lambda m, x: m.cumprod(x, 0),
                  lambda m, x: m.prod(x), lambda m, x: m.prod(x, 0, keepdim=True)):
            mine, theirs = f(mg, mg.tensor(a)), f(torch, torch.tensor(a))
            assert str(mine.dtype) == str(theirs.dtype).replace("torch.", "")
            assert mine.tolist() == theirs.tolist()
    x = mg.arange(4, dtype=mg.float32)
    assert x.cumsum(0, dtype=mg.float64).dtype == np.float64
    assert x.prod(dtype=mg.float64).dtype == np.float64
    assert mg.trace(mg.arange(9, dtype=mg.int32).reshape(3, 3)).dtype == np.int64


@pytest.mark.torch
def test_floor_divide_and_remainder_on_integers_follow_torch():
    torch = require_torch()
    a = np.array([-7, -6, -1, 0, 1, 5, 7])
    for b in (np.array(3), np.array(-3), np.array([2, -2, 3, -3, 4, -4, 5])):
        for op in ("//", "%"):
            f = eval(f"lambda x, y: x {op} y")
            mine, theirs = f(mg.tensor(a), mg.tensor(b)), f(torch.tensor(a), torch.tensor(b))
            assert mine.dtype == np.int64 and mine.tolist() == theirs.tolist()
        assert mg.fmod(mg.tensor(a), mg.tensor(b)).tolist() == \
            torch.fmod(torch.tensor(a), torch.tensor(b)).tolist()
        assert mg.floor_divide(mg.tensor(a), mg.tensor(b)).tolist() == \
            torch.floor_divide(torch.tensor(a), torch.tensor(b)).tolist()
        assert mg.remainder(mg.tensor(a), mg.tensor(b)).tolist() == \
            torch.remainder(torch.tensor(a), torch.tensor(b)).tolist()
    # Python numbers on either side, and int tensors with float numbers
    t, tt = mg.arange(-3, 7), torch.arange(-3, 7)
    for f in (lambda x: x // 2, lambda x: x % 3, lambda x: 17 // (x + 4), lambda x: 17 % (x + 4),
              lambda x: x // 2.5, lambda x: x % -1.5, lambda x: 7.5 // (x + 4)):
        mine, theirs = f(t), f(tt)
        assert str(mine.dtype) == str(theirs.dtype).replace("torch.", "")
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())


@pytest.mark.torch
def test_float_division_by_zero_and_signs_follow_torch():
    torch = require_torch()
    a = np.array([5.0, -5.0, 0.0, 5.5, -5.5])
    for b in (0.0, 2.0, -2.0):
        for name in ("floor_divide", "remainder", "fmod"):
            mine = getattr(mg, name)(mg.tensor(a), b).numpy()
            theirs = getattr(torch, name)(torch.tensor(a), b).numpy()
            np.testing.assert_array_equal(mine, theirs)


def test_integer_division_by_zero_raises():
    for f in (lambda x: x // 0, lambda x: x % mg.tensor([1, 0, 2]), lambda x: mg.fmod(x, 0)):
        with pytest.raises(ZeroDivisionError, match="division by zero"):
            f(mg.arange(3))
    with pytest.raises(mg.MinigradError, match="by zero"):
        mg.arange(3) // 0
    with pytest.raises(mg.DTypeError, match="bool"):
        mg.tensor([True]) // mg.tensor([True])


def test_division_gradients():
    """d(a % b)/da = 1, d(a % b)/db = -floor(a / b); fmod with trunc; floor_divide 0."""
    a = mg.tensor([-3.5, 2.0, 5.0], dtype=mg.float64, requires_grad=True)
    b = mg.tensor([2.0, -1.5, 3.0], dtype=mg.float64, requires_grad=True)
    (a % b).sum().backward()
    assert a.grad.tolist() == [1.0, 1.0, 1.0] and b.grad.tolist() == [2.0, 2.0, -1.0]
    a.grad = b.grad = None
    mg.fmod(a, b).sum().backward()
    assert a.grad.tolist() == [1.0, 1.0, 1.0] and b.grad.tolist() == [1.0, 1.0, -1.0]
    a.grad = b.grad = None
    (a // b).sum().backward()       # torch raises "not implemented"; the true derivative is 0
    assert a.grad.tolist() == [0.0] * 3 and b.grad.tolist() == [0.0] * 3
    x = mg.arange(6)
    x //= 4
    x %= 1
    assert x.tolist() == [0] * 6 and x.dtype == np.int64


@pytest.mark.torch
def test_sort_is_stable_and_places_nan_as_torch():
    torch = require_torch()
    v = np.array([[2.0, 1.0, 2.0, np.nan, 1.0, 3.0, 2.0], [0.0, 0.0, 0.0, 1.0, np.nan, 0.0, 1.0]])
    for descending in (False, True):
        for dim in (0, 1, -1):
            mine = mg.tensor(v).sort(dim=dim, descending=descending)
            theirs = torch.tensor(v).sort(dim=dim, descending=descending, stable=True)
            np.testing.assert_array_equal(mine.values.numpy(), theirs.values.numpy())
            np.testing.assert_array_equal(mine.indices.numpy(), theirs.indices.numpy())
            np.testing.assert_array_equal(
                mg.argsort(mg.tensor(v), dim, descending).numpy(),
                torch.argsort(torch.tensor(v), dim=dim, descending=descending, stable=True).numpy())
    ints = np.array([3, 1, 2, 1, 3])
    assert mg.tensor(ints).sort(descending=True).indices.tolist() == [0, 4, 2, 1, 3]
    np.testing.assert_array_equal(mg.msort(mg.tensor(v)).numpy(), torch.msort(torch.tensor(v)).numpy())


def test_sort_and_topk_return_named_tuples_with_int64_indices():
    x = mg.tensor([[3.0, 1.0, 2.0], [0.0, 5.0, 4.0]], requires_grad=True)
    result = x.topk(2)
    values, indices = result
    assert type(result).__name__ == "topk" and result.values is values
    assert indices.dtype == np.int64 and indices.tolist() == [[0, 2], [1, 2]]
    assert mg.topk(x, 1, dim=0, largest=False).indices.tolist() == [[1, 0, 0]]
    s = x.sort(dim=1)
    assert type(s).__name__ == "sort" and s.indices.tolist() == [[1, 2, 0], [0, 2, 1]]
    values.sum().backward()          # the gradient goes to the picked elements
    assert x.grad.tolist() == [[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]]
    with pytest.raises(mg.ShapeError, match="topk: k"):
        x.topk(4)
    assert mg.tensor(2.0).sort().values.item() == 2.0 and mg.tensor(2.0).topk(1).indices.item() == 0


@pytest.mark.torch
def test_einsum_forms_and_gradients_of_every_operand():
    torch = require_torch()
    r = np.random.default_rng(0)
    a, b = r.standard_normal((2, 3)), r.standard_normal((3, 4))
    ta, tb = torch.tensor(a), torch.tensor(b)
    expected = torch.einsum("ij,jk->ik", ta, tb).numpy()
    for mine in (mg.einsum("ij,jk->ik", mg.tensor(a), mg.tensor(b)),
                 mg.einsum("ij,jk->ik", [mg.tensor(a), mg.tensor(b)]),
                 mg.einsum(" ij , jk -> ik ", mg.tensor(a), mg.tensor(b)),
                 mg.einsum(mg.tensor(a), [0, 1], mg.tensor(b), [1, 2], [0, 2])):
        np.testing.assert_allclose(mine.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(mg.einsum(mg.tensor(a), [0, Ellipsis], mg.tensor(b), [Ellipsis, 2]).numpy(),
                               torch.einsum(ta, [0, Ellipsis], tb, [Ellipsis, 2]).numpy(), rtol=1e-12)
    # a twice-differentiable einsum: the backward is einsum again
    x = mg.tensor(r.standard_normal((3, 3)), requires_grad=True)
    (g,) = mg.grad(mg.einsum("ij,jk,ki->", x, x, x), [x], create_graph=True)
    assert mg.gradcheck(lambda t: mg.einsum("ij,jk,ki->", t, t, t), [x])
    g.sum().backward()
    tx = torch.tensor(x.numpy(), requires_grad=True)
    (tg,) = torch.autograd.grad(torch.einsum("ij,jk,ki->", tx, tx, tx), tx, create_graph=True)
    tg.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10)


def test_einsum_errors_name_the_problem():
    a = mg.ones(2, 3)
    with pytest.raises(mg.ShapeError, match="names 2 operands, got 1"):
        mg.einsum("ij,jk", a)
    with pytest.raises(mg.ShapeError, match="size 2 in one operand and 3"):
        mg.einsum("ij,ij", a, mg.ones(2, 2))
    with pytest.raises(mg.ShapeError, match="do not fit"):
        mg.einsum("ijk", a)
    with pytest.raises(mg.ShapeError, match="invalid subscript"):
        mg.einsum("i1", a)
    with pytest.raises(mg.ShapeError, match="output subscripts"):
        mg.einsum("ij->k", a)


def test_rearranging_and_selection_errors():
    x = mg.arange(6.0).reshape(2, 3)
    with pytest.raises(mg.ShapeError, match="repeat"):
        x.repeat(2)
    with pytest.raises(mg.ShapeError, match="mT"):
        mg.ones(3).mT
    with pytest.raises(mg.ShapeError, match="trace"):
        mg.ones(3).trace()
    with pytest.raises(mg.ShapeError, match="unflatten"):
        x.unflatten(1, (2, 2))
    with pytest.raises(mg.ShapeError, match="roll"):
        x.roll((1, 2), 0)
    with pytest.raises(mg.ShapeError, match="flip"):
        x.flip(0, 0)
    with pytest.raises(mg.IndexOutOfRangeError, match="out of range"):
        x.index_select(1, mg.tensor([3]))
    with pytest.raises(mg.ShapeError, match="0-D or 1-D"):
        x.index_select(1, mg.tensor([[0]]))
    with pytest.raises(mg.DTypeError, match="bool"):
        x.masked_select(mg.tensor([1, 0, 1]))
    with pytest.raises(mg.DTypeError, match="floating point"):
        mg.arange(3).norm()
    with pytest.raises(mg.ShapeError, match="nuc"):
        x.norm("nuc")
    assert x.index_select(0, mg.tensor(1)).shape == (1, 3)      # a 0-d index keeps the dim
    assert x.roll(1).tolist() == [[5.0, 0.0, 1.0], [2.0, 3.0, 4.0]]
    assert x.flip(0, 1).tolist() == [[5.0, 4.0, 3.0], [2.0, 1.0, 0.0]] == \
        mg.flip(x, dims=[0, 1]).tolist() == x.flip((0, 1)).tolist()
    assert x.flip(dims=(1,)).tolist() == mg.flip(x, [1]).tolist() == [[2.0, 1.0, 0.0], [5.0, 4.0, 3.0]]
    with pytest.raises(mg.IndexOutOfRangeError, match="negative"):
        x.index_select(0, mg.tensor([-1]))
    assert x.repeat(1, 2, 1).shape == (1, 4, 3)
    assert x.mT.shape == x.mH.shape == (3, 2)


def test_module_level_functions_are_torchs():
    for name in ("einsum", "topk", "sort", "argsort", "msort", "cumsum", "cumprod", "prod", "flip",
                 "roll", "norm", "trace", "floor_divide", "remainder", "fmod", "index_select",
                 "masked_select", "unflatten"):
        assert callable(getattr(mg, name)), name
    assert callable(mg.linalg.vector_norm)
    x = mg.arange(4.0)
    assert mg.cumsum(x, dim=0).tolist() == [0.0, 1.0, 3.0, 6.0]
    assert mg.prod(x + 1).item() == 24.0
    assert mg.linalg.vector_norm(x, ord=1, dtype=mg.float64).dtype == np.float64


def test_a_nan_maximum_warns_nothing_and_gives_torchs_nan_gradient():
    torch = require_torch()
    import warnings
    seen = []
    for lib in (mg, torch):
        x = lib.tensor([[1.0, float("nan"), 2.0]], requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            y = x.amax(1)
            y.sum().backward()
        seen.append((np.isnan(y.detach().numpy()).tolist(), np.isnan(x.grad.numpy()).tolist()))
    assert seen[0] == seen[1]

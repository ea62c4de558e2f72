"""Out-of-place scatter, scatter_add, index_fill, index_add, index_copy (and the in-place
index_add_, index_copy_) against PyTorch: values, every gradient, dtypes, errors, and
float64 finite-difference gradient checks."""
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minigrad as mg
from testutil import FRESH_CASES, require_torch

pytestmark = pytest.mark.torch
EXAMPLES = int(os.environ.get("MINIGRAD_EXAMPLES", "15"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=not FRESH_CASES,
                    suppress_health_check=[HealthCheck.too_slow])
DTYPES = ["float64", "float32", "float16"]
TOL = {"float64": 1e-12, "float32": 1e-5, "float16": 2e-3}


@st.composite
def cases(draw, unique, vector):
    """(shape, dim, index, src shape, dtype, rng): `vector` gives a 1-d index for the
    index_* ops (and the source shape that goes with it), else a gather-style index;
    `unique`: no position is written twice."""
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim)))
    dim = draw(st.integers(-ndim, ndim - 1))
    d = dim % ndim
    r = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(0, shape[d] if unique else 5))
    if vector:
        index = r.permutation(shape[d])[:n] if unique else r.integers(0, shape[d], n)
        src_shape = shape[:d] + (n,) + shape[d + 1:]
    else:
        ishape = tuple(n if i == d else draw(st.integers(0, s)) for i, s in enumerate(shape))
        if unique:        # distinct targets along dim: a random order of each line, cut
            full = ishape[:d] + (shape[d],) + ishape[d + 1:]
            index = np.argsort(r.random(full), axis=d).take(np.arange(n), axis=d)
        else:
            index = r.integers(0, shape[d], ishape)
        src_shape = tuple(s + draw(st.integers(0, 1)) for s in ishape)   # src may be larger
    return shape, dim, index.astype(np.int64), src_shape, draw(st.sampled_from(DTYPES)), r


def compare(mine_fn, torch_fn, arrays, dtype, r):
    """Run both frameworks on the same inputs (all requiring grad) and the same output
    gradient; compare the output (values, dtype) and every input gradient."""
    torch = require_torch()
    mine = [mg.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    out, ref = mine_fn(*mine), torch_fn(*theirs)
    assert str(out.dtype) == str(ref.dtype).replace("torch.", "")
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=TOL[dtype],
                               atol=TOL[dtype])
    g = r.standard_normal(out.shape).astype(dtype)
    out.backward(mg.tensor(g))
    ref.backward(torch.tensor(g))
    for m, t in zip(mine, theirs):
        assert str(m.grad.dtype) == dtype and m.grad.shape == tuple(t.grad.shape)
        np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=TOL[dtype],
                                   atol=TOL[dtype])


@SETTINGS
@given(cases(unique=True, vector=False))
def test_scatter_matches_torch(case):
    torch = require_torch()
    shape, dim, index, src_shape, dtype, r = case
    a, src = r.standard_normal(shape), r.standard_normal(src_shape)
    compare(lambda x, s: mg.scatter(x, dim, mg.tensor(index), s),
            # (torch's backward needs src cut to index's shape; minigrad's does not)
            lambda x, s: torch.scatter(x, dim, torch.tensor(index), s[tuple(map(slice, index.shape))]),
            [a, src], dtype, r)
    # the value form, as method and function
    compare(lambda x: x.scatter(dim, mg.tensor(index), 2.5),
            lambda x: x.scatter(dim, torch.tensor(index), 2.5), [a], dtype, r)
    compare(lambda x: mg.scatter(x, dim, mg.tensor(index), value=-1.0),
            lambda x: torch.scatter(x, dim, torch.tensor(index), value=-1.0), [a], dtype, r)


@SETTINGS
@given(cases(unique=False, vector=False))
def test_scatter_add_matches_torch(case):
    torch = require_torch()
    shape, dim, index, src_shape, dtype, r = case
    src_shape = index.shape                        # (torch's backward needs src = index)
    a, src = r.standard_normal(shape), r.standard_normal(src_shape)
    compare(lambda x, s: x.scatter_add(dim, mg.tensor(index), s),
            lambda x, s: x.scatter_add(dim, torch.tensor(index), s), [a, src], dtype, r)


@SETTINGS
@given(cases(unique=False, vector=True), st.sampled_from([1, 2.0, -0.5]))
def test_index_add_matches_torch(case, alpha):
    torch = require_torch()
    shape, dim, index, src_shape, dtype, r = case
    a, src = r.standard_normal(shape), r.standard_normal(src_shape)
    compare(lambda x, s: mg.index_add(x, dim, mg.tensor(index), s, alpha=alpha),
            lambda x, s: torch.index_add(x, dim, torch.tensor(index), s, alpha=alpha),
            [a, src], dtype, r)


@SETTINGS
@given(cases(unique=True, vector=True))
def test_index_copy_and_fill_match_torch(case):
    torch = require_torch()
    shape, dim, index, src_shape, dtype, r = case
    a, src = r.standard_normal(shape), r.standard_normal(src_shape)
    compare(lambda x, s: x.index_copy(dim, mg.tensor(index), s),
            lambda x, s: x.index_copy(dim, torch.tensor(index), s), [a, src], dtype, r)
    negative = index - shape[dim]                  # index_fill counts negatives from the end
    compare(lambda x: mg.index_fill(x, dim, mg.tensor(negative), 0.75),
            lambda x: torch.index_fill(x, dim, torch.tensor(negative), 0.75), [a], dtype, r)
    compare(lambda x, v: x.index_fill(dim, mg.tensor(index), v),        # a 0-d tensor value
            lambda x, v: x.index_fill(dim, torch.tensor(index), v),
            [a, np.array(1.25)], dtype, r)


def test_gradcheck_float64():
    r = np.random.default_rng(0)
    x = mg.tensor(r.standard_normal((3, 4)), requires_grad=True)
    src = mg.tensor(r.standard_normal((3, 4)), requires_grad=True)
    index = mg.tensor([[2, 0], [1, 3], [0, 0]])                       # repeats in row 2
    distinct = mg.tensor([[2, 0], [1, 3], [0, 2]])     # (scatter: a repeat's loser has no
    assert mg.gradcheck(lambda a, s: mg.scatter(a, 1, distinct, s), [x, src])  # effect)
    assert mg.gradcheck(lambda a, s: mg.scatter_add(a, 1, index, s[:, :2]), [x, src])
    vec = mg.tensor([2, 0, 2])
    assert mg.gradcheck(lambda a, s: mg.index_add(a, 1, vec, s[:, :3], alpha=1.5), [x, src])
    assert mg.gradcheck(lambda a, s: mg.index_copy(a, 0, mg.tensor([2, 0]), s[:2]), [x, src])
    v = mg.tensor(0.5, dtype=mg.float64, requires_grad=True)
    assert mg.gradcheck(lambda a, v: mg.index_fill(a, 1, vec, v), [x, v])
    # second order: the gradients are themselves differentiable ops
    assert mg.gradcheck(lambda s: mg.grad((mg.scatter_add(x, 1, index, s[:, :2]) ** 2).sum(),
                                          s, create_graph=True), [src])


def test_half_precision_adds_up_in_float32():
    """25 * 0.1 accumulated in float16 sticks at 256 for 3000 terms; scatter_add and
    index_add add in float32 and round once (torch's scatter_add does the same)."""
    torch = require_torch()
    zeros = mg.zeros(3, dtype=mg.float16)
    index = np.zeros(3000, dtype=np.int64)
    src = mg.full((3000,), 0.1, dtype=mg.float16)
    out = mg.scatter_add(zeros, 0, mg.tensor(index), src)
    ref = torch.scatter_add(torch.zeros(3, dtype=torch.float16), 0, torch.tensor(index),
                            torch.full((3000,), 0.1, dtype=torch.float16))
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    assert mg.index_add(zeros, 0, mg.tensor(index), src).numpy()[0] == out.numpy()[0] == 300


def test_in_place_forms_alias_and_bump_the_version():
    torch = require_torch()
    a = mg.zeros(2, 3)
    view = a.data
    before = a._version
    assert a.index_add_(1, mg.tensor([0, 0]), mg.ones(2, 2), alpha=2) is a
    assert a._version == before + 1
    assert a.index_copy_(0, mg.tensor([1]), mg.full((1, 3), 7.0)) is a
    assert a._version == before + 2
    t = torch.zeros(2, 3).index_add_(1, torch.tensor([0, 0]), torch.ones(2, 2), alpha=2)
    t.index_copy_(0, torch.tensor([1]), torch.full((1, 3), 7.0))
    np.testing.assert_array_equal(view.numpy(), t.numpy())      # changed in its own memory
    leaf = mg.zeros(2, 3, requires_grad=True)
    for op, args in [("index_add_", (1, mg.tensor([0]), mg.ones(2, 1))),
                     ("index_copy_", (1, mg.tensor([0]), mg.ones(2, 1)))]:
        with pytest.raises(mg.MinigradError, match=op):
            getattr(leaf, op)(*args)
        with mg.no_grad():
            getattr(leaf, op)(*args)
    # a tensor saved for backward and changed in place: backward raises
    w = mg.ones(3, requires_grad=True)
    c = mg.ones(3)
    y = (w * c).sum()
    c.index_add_(0, mg.tensor([0]), mg.ones(1))
    with pytest.raises(mg.AutogradError):
        y.backward()


def test_out_of_place_leaves_the_input_alone():
    a = mg.zeros(2, 3)
    for out in (a.scatter(1, mg.tensor([[1]]), 5.0), a.index_fill(1, mg.tensor([1]), 5.0),
                a.index_add(1, mg.tensor([1]), mg.ones(2, 1)),
                a.index_copy(1, mg.tensor([1]), mg.ones(2, 1)),
                a.scatter_add(1, mg.tensor([[1]]), mg.ones(1, 1))):
        assert out.numpy().sum() > 0
    assert a.numpy().sum() == 0 and a._version == 0


def test_integer_inputs_as_torch():
    torch = require_torch()
    a = np.arange(6).reshape(2, 3)
    index = np.array([[0, 1], [1, 0]])
    out = mg.scatter(mg.tensor(a), 1, mg.tensor(index), 2.5)        # value cast to int64
    ref = torch.scatter(torch.tensor(a), 1, torch.tensor(index), 2.5)
    assert out.dtype == mg.int64 and not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), ref.numpy())
    out = mg.index_add(mg.tensor(a), 0, mg.tensor([1, 1]), mg.tensor(a))
    np.testing.assert_array_equal(out.numpy(), torch.index_add(
        torch.tensor(a), 0, torch.tensor([1, 1]), torch.tensor(a)).numpy())


@pytest.mark.parametrize("call, error, words", [
    (lambda a: mg.scatter(a, 1, mg.tensor([[0, 3]]), 1.0), mg.IndexOutOfRangeError, "scatter"),
    (lambda a: mg.scatter(a, 1, mg.tensor([[0, -1]]), 1.0), mg.IndexOutOfRangeError, "negative"),
    (lambda a: mg.scatter(a, 1, mg.tensor([0, 1]), 1.0), mg.ShapeError, "dimensions"),
    (lambda a: mg.scatter(a, 2, mg.tensor([[0]]), 1.0), mg.ShapeError, "dim 2"),
    (lambda a: mg.scatter(a, 1, mg.tensor([[0.0]]), 1.0), mg.IndexOutOfRangeError, "integer"),
    (lambda a: mg.scatter(a, 1, mg.tensor([[0, 1]]), mg.ones(1, 1)), mg.ShapeError, "src"),
    (lambda a: mg.scatter(a, 1, mg.tensor([[0]]), mg.ones(1, 1, dtype=mg.float64)),
     mg.DTypeError, "dtype"),
    (lambda a: mg.scatter(a, 1, mg.tensor([[0], [1], [0]]), 1.0), mg.ShapeError, "larger"),
    (lambda a: mg.scatter_add(a, 1, mg.tensor([[0]]), 1.0), mg.MinigradError, "tensor"),
    (lambda a: mg.index_add(a, 1, mg.tensor([0, 3]), mg.ones(2, 2)), mg.IndexOutOfRangeError,
     "index_add"),
    (lambda a: mg.index_add(a, 1, mg.tensor([0, -1]), mg.ones(2, 2)),
     mg.IndexOutOfRangeError, "index_add"),
    (lambda a: mg.index_add(a, 1, mg.tensor([0, 1]), mg.ones(2, 3)), mg.ShapeError, "source"),
    (lambda a: mg.index_copy(a, 1, mg.tensor([0]), mg.ones(2, 1, dtype=mg.int64)),
     mg.DTypeError, "index_copy"),
    (lambda a: mg.index_fill(a, 1, mg.tensor([[0]]), 1.0), mg.IndexOutOfRangeError, "0-d or 1-d"),
    (lambda a: mg.index_fill(a, 1, mg.tensor([0]), mg.ones(1)), mg.ShapeError, "0-d"),
])
def test_errors_name_the_op(call, error, words):
    with pytest.raises(error, match=words):
        call(mg.zeros(2, 3))

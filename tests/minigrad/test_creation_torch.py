"""Creation functions, random draws and in-place random fills against PyTorch.

Deterministic functions (empty's shape and dtype, linspace, logspace, new_*, finfo, ...)
must equal torch. Random ones need not give torch's numbers, but their distributions
must be right: each is checked from a fixed seed with generous bounds (about 6 standard
errors), and a fixed manual_seed (or Generator seed) must reproduce the draw.
"""
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
N = 200_000           # draws per statistical check: standard errors of ~0.002


def tdt(dtype):
    return getattr(require_torch(), str(mg.tensor([], dtype=dtype).dtype))


def same_kind(mine, theirs):
    """Shape, dtype and requires_grad as torch's."""
    assert mine.shape == tuple(theirs.shape)
    assert str(mine.dtype) == str(theirs.dtype).replace("torch.", "")
    assert mine.requires_grad == theirs.requires_grad


# ------------------------------------------------------------ deterministic creation
@pytest.mark.parametrize("args, kwargs", [
    ((2, 3), {}), (((2, 3),), {}), (([4],), {}), ((0,), {}), (((),), {}),
    ((2,), {"dtype": "int64"}), ((2, 2), {"dtype": "float64", "requires_grad": True}),
    ((3,), {"dtype": "float16"}), ((1, 2), {"dtype": "bool"}),
])
def test_empty_and_new_as_torch(args, kwargs):
    torch = require_torch()
    tkw = dict(kwargs, **({"dtype": tdt(kwargs["dtype"])} if "dtype" in kwargs else {}))
    same_kind(mg.empty(*args, **kwargs), torch.empty(*args, **tkw))
    for base in (mg.zeros(2, dtype=mg.float64), mg.zeros(2, dtype=mg.int64)):
        tbase = torch.zeros(2, dtype=tdt(base.dtype))
        for name in ("new_zeros", "new_ones", "new_empty"):
            if kwargs.get("requires_grad") and "dtype" not in kwargs:
                continue
            mine, theirs = getattr(base, name)(*args, **kwargs), getattr(tbase, name)(*args, **tkw)
            same_kind(mine, theirs)
            if name != "new_empty":
                np.testing.assert_array_equal(mine.detach().numpy(), theirs.detach().numpy())
    x = mg.zeros(2, 3, dtype=mg.int64)
    same_kind(mg.empty_like(x), torch.empty_like(torch.zeros(2, 3, dtype=torch.int64)))
    same_kind(mg.empty_like(x, dtype=mg.float32, requires_grad=True),
              torch.empty_like(torch.zeros(2, 3), dtype=torch.float32, requires_grad=True))


def test_new_full_and_new_tensor_as_torch():
    torch = require_torch()
    for dtype in ("float32", "float64", "int64", "float16"):
        x, t = mg.zeros(2, dtype=dtype), torch.zeros(2, dtype=tdt(dtype))
        for mine, theirs in [(x.new_full((3,), 2.7), t.new_full((3,), 2.7)),
                             (x.new_full([2, 2], 5), t.new_full([2, 2], 5)),
                             (x.new_tensor([1, 2]), t.new_tensor([1, 2])),
                             (x.new_tensor([[1.5]], dtype=mg.float64),
                              t.new_tensor([[1.5]], dtype=torch.float64)),
                             (x.new_zeros(2, dtype=mg.int64), t.new_zeros(2, dtype=torch.int64))]:
            same_kind(mine, theirs)
            np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    data = np.array([1.0, 2.0], dtype=np.float32)
    copy = mg.zeros(1).new_tensor(data)
    data[0] = 9
    assert copy.numpy()[0] == 1.0                                       # a copy, as torch
    assert mg.zeros(1).new_ones(2, requires_grad=True).requires_grad
    with pytest.raises(mg.DTypeError):
        mg.zeros(1, dtype=mg.int64).new_zeros(2, requires_grad=True)   # ints take no grad


@SETTINGS
@given(st.floats(-50, 50), st.floats(-50, 50), st.integers(0, 40),
       st.sampled_from([None, "float64", "float32", "float16", "int64"]))
def test_linspace_logspace_as_torch(start, end, steps, dtype):
    torch = require_torch()
    kw, tkw = ({}, {}) if dtype is None else ({"dtype": dtype}, {"dtype": tdt(dtype)})
    mine, theirs = mg.linspace(start, end, steps, **kw), torch.linspace(start, end, steps, **tkw)
    same_kind(mine, theirs)
    if dtype == "int64":           # torch computes in float first too; compare the floats
        theirs = torch.linspace(start, end, steps, dtype=torch.float64).to(torch.int64)
    np.testing.assert_allclose(mine.numpy().astype(float), theirs.numpy().astype(float),
                               rtol=1e-3 if dtype == "float16" else 1e-5, atol=1e-4)
    lo, hi = start / 25, end / 25                    # logspace: keep base ** x finite
    mine, theirs = mg.logspace(lo, hi, steps, base=2.0, **kw), \
        torch.logspace(lo, hi, steps, base=2.0, **tkw)
    same_kind(mine, theirs)
    if dtype != "int64":
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=2e-3 if dtype ==
                                   "float16" else 1e-5)


def test_linspace_details_as_torch():
    torch = require_torch()
    np.testing.assert_array_equal(mg.linspace(0, 10, 5, dtype=mg.int64).numpy(),
                                  torch.linspace(0, 10, 5, dtype=torch.int64).numpy())
    np.testing.assert_array_equal(mg.logspace(0, 2, 3, dtype=mg.int64).numpy(), [1, 10, 100])
    out = mg.linspace(mg.tensor(0.0), mg.tensor(1.0), 3, requires_grad=True)
    assert out.requires_grad and out.numpy().tolist() == [0.0, 0.5, 1.0]
    with pytest.raises(mg.MinigradError, match="linspace: number of steps"):
        mg.linspace(0, 1, -1)
    with pytest.raises(mg.MinigradError, match="logspace"):
        mg.logspace(0, 1, 2.5)


def test_like_functions_and_randint_forms_as_torch():
    torch = require_torch()
    for dtype in ("float32", "float64", "float16"):
        x, t = mg.zeros(2, 3, dtype=dtype), torch.zeros(2, 3, dtype=tdt(dtype))
        same_kind(mg.rand_like(x), torch.rand_like(t))
        same_kind(mg.randn_like(x, requires_grad=True), torch.randn_like(t, requires_grad=True))
        same_kind(mg.full_like(x, 3), torch.full_like(t, 3))
        same_kind(mg.randint_like(x, 5), torch.randint_like(t, 5))
        same_kind(mg.randint_like(x, 3, 5, dtype=mg.int64),
                  torch.randint_like(t, 3, 5, dtype=torch.int64))
    with pytest.raises(mg.DTypeError):
        mg.rand_like(mg.zeros(2, dtype=mg.int64))                        # as torch
    same_kind(mg.randint(5, (3,)), torch.randint(5, (3,)))
    same_kind(mg.randint(3, 5, (2, 2), dtype=mg.float32),
              torch.randint(3, 5, (2, 2), dtype=torch.float32))
    same_kind(mg.randint(0, 5, size=(4,)), torch.randint(0, 5, size=(4,)))
    same_kind(mg.randperm(5), torch.randperm(5))
    same_kind(mg.randperm(4, dtype=mg.float32), torch.randperm(4, dtype=torch.float32))
    same_kind(mg.randperm(0), torch.randperm(0))
    same_kind(mg.normal(0.0, 1.0, (2, 3)), torch.normal(0.0, 1.0, (2, 3)))
    same_kind(mg.normal(0.0, 1.0, size=(2,), dtype=mg.float64),
              torch.normal(0.0, 1.0, size=(2,), dtype=torch.float64))
    same_kind(mg.normal(mg.zeros(2, 1, dtype=mg.float64), mg.ones(3, dtype=mg.float64)),
              torch.normal(torch.zeros(2, 1, dtype=torch.float64), torch.ones(3, dtype=torch.float64)))
    same_kind(mg.normal(0.0, mg.ones(2)), torch.normal(0.0, torch.ones(2)))
    same_kind(mg.bernoulli(mg.full((3,), 0.5, dtype=mg.float64)),
              torch.bernoulli(torch.full((3,), 0.5, dtype=torch.float64)))
    same_kind(mg.multinomial(mg.ones(2, 4), 3), torch.multinomial(torch.ones(2, 4), 3))
    same_kind(mg.ones(4).multinomial(6, replacement=True), torch.ones(4).multinomial(6, True))
    same_kind(mg.multinomial(mg.ones(0, 3), 2), torch.multinomial(torch.ones(0, 3), 2))


def test_finfo_iinfo_and_predicates_as_torch():
    torch = require_torch()
    for dtype in ("float16", "float32", "float64"):
        mine, theirs = mg.finfo(getattr(mg, dtype)), torch.finfo(getattr(torch, dtype))
        for field in ("bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution"):
            assert getattr(mine, field) == getattr(theirs, field), (dtype, field)
        assert mine.dtype == theirs.dtype
    assert mg.finfo().eps == torch.finfo().eps                     # default dtype
    mg.set_default_dtype(mg.float64)
    assert mg.finfo().bits == 64
    for dtype in ("uint8", "int32", "int64"):
        mine, theirs = mg.iinfo(dtype), torch.iinfo(getattr(torch, dtype))
        assert (mine.bits, mine.max, mine.min, mine.dtype) == \
            (theirs.bits, theirs.max, theirs.min, theirs.dtype)
    with pytest.raises(mg.DTypeError, match="iinfo"):
        mg.iinfo(mg.float32)
    with pytest.raises(mg.DTypeError, match="finfo"):
        mg.finfo(mg.int32)
    x = mg.zeros(2, 3)
    assert mg.is_tensor(x) and not mg.is_tensor(np.zeros(2)) and not mg.is_tensor(2.0)
    assert mg.is_floating_point(x) and x.is_floating_point()
    assert not mg.is_floating_point(mg.zeros(2, dtype=mg.int64))
    assert mg.numel(x) == 6 == torch.numel(torch.zeros(2, 3))
    with pytest.raises(mg.DTypeError):
        mg.is_floating_point(2.0)


# ------------------------------------------------------------ distributions
def test_rand_randn_randint_distributions():
    u = mg.rand(N, dtype=mg.float64).numpy()
    assert 0 <= u.min() and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002
    z = mg.randn(N).numpy()
    assert abs(z.mean()) < 0.015 and abs(z.std() - 1) < 0.015
    k = mg.randint(-3, 4, (N,)).numpy()
    assert k.min() == -3 and k.max() == 3
    np.testing.assert_allclose(np.bincount(k + 3) / N, 1 / 7, atol=0.006)


def test_in_place_fills_distributions():
    x = mg.empty(N, dtype=mg.float64)
    x.uniform_(-2, 3)
    v = x.numpy()
    assert -2 <= v.min() and v.max() < 3 and abs(v.mean() - 0.5) < 0.03
    assert abs(v.var() - 25 / 12) < 0.05
    v = x.normal_(1.5, 0.5).numpy()
    assert abs(v.mean() - 1.5) < 0.008 and abs(v.std() - 0.5) < 0.008
    v = x.exponential_(4.0).numpy()
    assert v.min() >= 0 and abs(v.mean() - 0.25) < 0.004 and abs(v.std() - 0.25) < 0.006
    v = x.bernoulli_(0.3).numpy()
    assert set(np.unique(v)) <= {0.0, 1.0} and abs(v.mean() - 0.3) < 0.007
    v = x.random_(2, 6).numpy()
    np.testing.assert_allclose(np.bincount(v.astype(int))[2:] / N, 0.25, atol=0.007)
    assert v.min() == 2 and v.max() == 5
    assert x.random_(5).numpy().max() == 4
    assert x.dtype == mg.float64                                   # filled in its own dtype
    f = mg.empty(N).random_().numpy()
    assert f.max() <= 2 ** 24 and f.mean() > 2 ** 22                # float32: [0, 2^24]
    b = mg.empty(N, dtype=mg.uint8).random_().numpy()
    assert b.min() == 0 and b.max() == 255
    assert set(np.unique(mg.empty(100, dtype=mg.bool).random_().numpy())) == {False, True}
    h = mg.empty(1000, dtype=mg.float16).uniform_()
    assert h.dtype == mg.float16 and 0 <= h.numpy().min() and h.numpy().max() <= 1
    # bernoulli_ with a tensor of probabilities that broadcasts, on an int tensor
    p = mg.tensor([0.0, 0.25, 1.0])
    v = mg.zeros(N // 4, 3, dtype=mg.int64).bernoulli_(p).numpy()
    assert v.dtype == np.int64
    np.testing.assert_allclose(v.mean(axis=0), [0, 0.25, 1], atol=0.012)


def test_normal_bernoulli_functions_distributions():
    mean = mg.tensor([[-5.0], [0.0], [10.0]], dtype=mg.float64)
    std = mg.tensor([0.5, 2.0], dtype=mg.float64)
    draws = np.stack([mg.normal(mean, std).numpy() for _ in range(5000)])
    np.testing.assert_allclose(draws.mean(0), np.broadcast_to(mean.numpy(), (3, 2)), atol=0.12)
    np.testing.assert_allclose(draws.std(0), np.broadcast_to(std.numpy(), (3, 2)), rtol=0.06)
    v = mg.normal(3.0, 2.0, (N,)).numpy()
    assert abs(v.mean() - 3) < 0.03 and abs(v.std() - 2) < 0.03
    probs = mg.rand(N)
    b = mg.bernoulli(probs).numpy()
    assert b.dtype == np.float32 and abs(b.mean() - probs.numpy().mean()) < 0.007
    assert abs(mg.bernoulli(mg.zeros(N), 0.8).numpy().mean() - 0.8) < 0.006


def test_multinomial_distributions():
    w = mg.tensor([[1.0, 0.0, 3.0, 4.0], [0.0, 0.0, 5.0, 0.0]], dtype=mg.float64)
    p = w.numpy() / w.numpy().sum(1, keepdims=True)
    s = mg.multinomial(w, N // 10, replacement=True).numpy()
    for row in range(2):
        freq = np.bincount(s[row], minlength=4) / s.shape[1]
        np.testing.assert_allclose(freq, p[row], atol=0.015)       # weight 0: never drawn
        assert freq[p[row] == 0].sum() == 0
    # without replacement: distinct per row; the first draw follows p, weight-0 ones last
    rows = mg.tensor(np.tile(w.numpy()[:1], (N // 10, 1)))
    s = mg.multinomial(rows, 3).numpy()
    assert all(len(set(r)) == 3 for r in s[:500])
    np.testing.assert_allclose(np.bincount(s[:, 0], minlength=4) / len(s), p[0], atol=0.015)
    assert (mg.multinomial(mg.tensor([0.0, 1.0, 1.0]), 3).numpy()[2] == 0)
    one = mg.multinomial(rows, 1).numpy()                  # one sample: argmin of the race
    assert one.shape == (len(s), 1)
    np.testing.assert_allclose(np.bincount(one[:, 0], minlength=4) / len(one), p[0], atol=0.015)
    # the second draw of a race: P(j second) = sum_i p_i p_j / (1 - p_i)
    pr = p[0]
    second = np.array([sum(pr[i] * pr[j] / (1 - pr[i]) for i in range(4) if i != j)
                       for j in range(4)])
    np.testing.assert_allclose(np.bincount(s[:, 1], minlength=4) / len(s), second, atol=0.015)
    h = mg.multinomial(mg.ones(50, dtype=mg.float16), 50)                # float16 weights
    assert sorted(h.numpy().tolist()) == list(range(50))


def test_randperm_is_uniform_permutation():
    perms = np.stack([mg.randperm(4).numpy() for _ in range(6000)])
    assert (np.sort(perms, axis=1) == np.arange(4)).all()
    np.testing.assert_allclose((perms == 0).mean(0), 0.25, atol=0.03)   # 0 anywhere equally
    assert len({tuple(p) for p in perms}) == 24


@pytest.mark.parametrize("call, error, words", [
    (lambda: mg.multinomial(mg.tensor([0.0, 1.0, -1.0]), 1), mg.MinigradError, "< 0"),
    (lambda: mg.multinomial(mg.tensor([0.0, float("nan")]), 1), mg.MinigradError, "nan"),
    (lambda: mg.multinomial(mg.tensor([0.0, float("inf")]), 1), mg.MinigradError, "inf"),
    (lambda: mg.multinomial(mg.tensor([0.0, 0.0]), 1), mg.MinigradError, "sum"),
    (lambda: mg.multinomial(mg.ones(3, 0), 2, True), mg.MinigradError, "sum"),
    (lambda: mg.multinomial(mg.tensor([1.0, 1.0]), 3), mg.MinigradError, "without replacement"),
    (lambda: mg.multinomial(mg.tensor([1, 2]), 1), mg.DTypeError, "floating"),
    (lambda: mg.multinomial(mg.ones(2, 2, 2), 1), mg.ShapeError, "1-d or 2-d"),
    (lambda: mg.multinomial(mg.ones(3), 0), mg.MinigradError, "num_samples"),
    (lambda: mg.bernoulli(mg.tensor([0.5, 2.0])), mg.MinigradError, r"\[0, 1\]"),
    (lambda: mg.bernoulli(mg.tensor([1, 0])), mg.DTypeError, "bernoulli"),
    (lambda: mg.zeros(3).bernoulli_(1.5), mg.MinigradError, "bernoulli_"),
    (lambda: mg.normal(0.0, -1.0, (2,)), mg.MinigradError, "std"),
    (lambda: mg.normal(mg.zeros(2), -1.0), mg.MinigradError, "std"),
    (lambda: mg.normal(0.0, 1.0), mg.MinigradError, "size"),
    (lambda: mg.zeros(2).uniform_(2, 1), mg.MinigradError, "uniform_"),
    (lambda: mg.zeros(2).normal_(0, -1), mg.MinigradError, "normal_"),
    (lambda: mg.zeros(2).exponential_(0), mg.MinigradError, "exponential_"),
    (lambda: mg.zeros(2, dtype=mg.int64).uniform_(), mg.DTypeError, "uniform_"),
    (lambda: mg.zeros(2, dtype=mg.int64).normal_(), mg.DTypeError, "normal_"),
    (lambda: mg.zeros(2, dtype=mg.int64).exponential_(), mg.DTypeError, "exponential_"),
    (lambda: mg.zeros(2).random_(5, 3), mg.MinigradError, "random_"),
    (lambda: mg.zeros(2, dtype=mg.uint8).random_(-1, 3), mg.MinigradError, "out of bounds"),
    (lambda: mg.zeros(2, dtype=mg.uint8).random_(0, 300), mg.MinigradError, "out of bounds"),
    (lambda: mg.randperm(-1), mg.MinigradError, "randperm"),
    (lambda: mg.randint(0, 5), mg.MinigradError, "randint"),
    (lambda: mg.rand(2, generator=np.random.default_rng), mg.MinigradError, "generator"),
])
def test_errors_as_torch(call, error, words):
    with pytest.raises(error, match=words):
        call()


# ------------------------------------------------------------ in place, seeds
FILLS = {"uniform_": (0, 1), "normal_": (0, 1), "bernoulli_": (0.5,), "random_": (0, 10),
         "exponential_": (2.0,), "fill_": (3.0,), "zero_": ()}


@pytest.mark.parametrize("name", sorted(FILLS))
def test_fills_are_in_place(name):
    x = mg.zeros(4, 5)
    view, before = x.data, x._version
    assert getattr(x, name)(*FILLS[name]) is x
    assert x._version == before + 1 and x.shape == (4, 5) and x.dtype == mg.float32
    np.testing.assert_array_equal(view.numpy(), x.numpy())              # same memory
    leaf = mg.zeros(3, requires_grad=True)
    with pytest.raises(mg.MinigradError, match=name):                   # as torch
        getattr(leaf, name)(*FILLS[name])
    with mg.no_grad():
        getattr(leaf, name)(*FILLS[name])
    w, c = mg.ones(3, requires_grad=True), mg.ones(3)
    y = (w * c).sum()
    getattr(c, name)(*FILLS[name])
    with pytest.raises(mg.AutogradError):                # c was saved for backward, then changed
        y.backward()


DRAWS = {
    "rand": lambda g: mg.rand(5, generator=g), "randn": lambda g: mg.randn(2, 3, generator=g),
    "randint": lambda g: mg.randint(0, 100, (5,), generator=g),
    "randperm": lambda g: mg.randperm(10, generator=g),
    "multinomial": lambda g: mg.multinomial(mg.ones(2, 8), 4, generator=g),
    "multinomial_replacement": lambda g: mg.multinomial(mg.ones(8), 4, True, generator=g),
    "bernoulli": lambda g: mg.bernoulli(mg.full((8,), 0.5), generator=g),
    "normal": lambda g: mg.normal(mg.zeros(4), 1.0, generator=g),
    "uniform_": lambda g: mg.empty(5).uniform_(generator=g),
    "normal_": lambda g: mg.empty(5).normal_(generator=g),
    "bernoulli_": lambda g: mg.empty(8).bernoulli_(0.5, generator=g),
    "random_": lambda g: mg.empty(5).random_(0, 100, generator=g),
    "exponential_": lambda g: mg.empty(5).exponential_(generator=g),
}


@pytest.mark.parametrize("name", sorted(DRAWS))
def test_seeds_reproduce(name):
    draw = DRAWS[name]
    mg.manual_seed(7)
    first = draw(None).numpy()
    mg.manual_seed(7)
    np.testing.assert_array_equal(draw(None).numpy(), first)
    g = mg.Generator().manual_seed(123)
    mine = draw(g).numpy()
    mg.manual_seed(99)                                   # the global seed does not matter
    np.testing.assert_array_equal(draw(mg.Generator().manual_seed(123)).numpy(), mine)
    assert g.initial_seed() == 123


def test_generator_api():
    g = mg.Generator()
    assert g.manual_seed(5) is g and g.device == "cpu"
    state = g.get_state()
    a = mg.rand(3, generator=g).numpy()
    g.set_state(state)
    np.testing.assert_array_equal(mg.rand(3, generator=g).numpy(), a)
    assert isinstance(g.seed(), int)
    with pytest.raises(mg.DeviceError, match="Generator"):
        mg.Generator("cuda")
    from minigrad.utils.data import RandomSampler                    # samplers take it too
    order = list(RandomSampler(range(10), generator=mg.Generator().manual_seed(1)))
    assert order == list(RandomSampler(range(10), generator=mg.Generator().manual_seed(1)))


def test_size_keyword_and_global_seed_functions_as_torch():
    torch = require_torch()
    for name in ("zeros", "ones", "empty", "rand", "randn"):
        same_kind(getattr(mg, name)(size=(2, 3)), getattr(torch, name)(size=(2, 3)))
        with pytest.raises(mg.ShapeError, match="not both"):
            getattr(mg, name)(2, size=(2,))
    assert mg.manual_seed(11) == 11 and mg.initial_seed() == 11
    new = mg.seed()
    assert mg.initial_seed() == new
    a = mg.rand(3).numpy()
    mg.manual_seed(new)
    np.testing.assert_array_equal(mg.rand(3).numpy(), a)


def test_requires_grad_keyword_everywhere_as_torch():
    torch = require_torch()
    for mine, theirs in [
            (mg.arange(0.0, 3.0, requires_grad=True), torch.arange(0.0, 3.0, requires_grad=True)),
            (mg.eye(2, requires_grad=True), torch.eye(2, requires_grad=True)),
            (mg.linspace(0, 1, 3, requires_grad=True), torch.linspace(0, 1, 3, requires_grad=True)),
            (mg.full((2,), 1.5, requires_grad=True), torch.full((2,), 1.5, requires_grad=True)),
            (mg.randperm(3, dtype=mg.float32, requires_grad=True),
             torch.randperm(3, dtype=torch.float32, requires_grad=True))]:
        same_kind(mine, theirs)
    with pytest.raises(mg.DTypeError):
        mg.arange(3, requires_grad=True)                # int64: no gradients, as torch

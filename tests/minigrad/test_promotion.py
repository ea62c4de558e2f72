"""Type promotion and scalar application as PyTorch (issues 15 and 21).

Every binary elementwise op, over every pair of dtypes and every kind of operand
(a tensor with dimensions, a 0-dim tensor, a Python int, float or bool), gives
torch's dtype (torch.result_type) and torch's values, or raises where torch raises.
float16 ops with a scalar compute in float32 and round once ("opmath").
"""
import itertools
import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad.ops.promotion import opmath_dtype, promote_types, result_type
from testutil import FRESH_CASES, require_torch

EXAMPLES = int(os.environ.get("MINIGRAD_EXAMPLES", "15"))
SETTINGS = settings(max_examples=EXAMPLES * 8, deadline=None, derandomize=not FRESH_CASES,
                    suppress_health_check=[HealthCheck.too_slow])

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
KINDS = ["tensor", "0-dim", "int", "float", "bool"]
OPS = {
    "add": lambda lib, a, b: a + b,
    "sub": lambda lib, a, b: a - b,
    "mul": lambda lib, a, b: a * b,
    "div": lambda lib, a, b: a / b,
    "maximum": lambda lib, a, b: lib.maximum(a, b),
    "minimum": lambda lib, a, b: lib.minimum(a, b),
    "where": lambda lib, a, b: lib.where(lib.tensor([True, False, True]), a, b),
    "lt": lambda lib, a, b: a < b,
    "eq": lambda lib, a, b: a == b,
}
TENSOR_ONLY = {"maximum", "minimum"}           # torch.maximum takes tensors only


def _values(dtype, rng, n=3):
    if dtype == "bool":
        return rng.random(n) < 0.5
    if dtype == "uint8":
        return rng.integers(1, 5, n).astype(dtype)
    if dtype.startswith("int"):
        return rng.integers(-4, 5, n).astype(dtype)
    return (rng.standard_normal(n) * 3).astype(dtype)


def _operand(lib, kind, dtype, rng):
    """One operand of `kind`; for tensors of `dtype`. Returns (minigrad, torch) pair."""
    torch = require_torch()
    if kind == "tensor":
        a = _values(dtype, rng)
        return mg.tensor(a), torch.tensor(a)
    if kind == "0-dim":
        a = _values(dtype, rng, 1).reshape(())
        return mg.tensor(a), torch.tensor(a)
    if kind == "int":
        v = int(rng.integers(1, 4))
        return v, v
    if kind == "float":
        v = float(rng.choice([0.1, 2.5, -1.75, 70000.0]))
        return v, v
    v = bool(rng.random() < 0.5)
    return v, v


def _torch_result(fn, torch, a, b):
    try:
        return fn(torch, a, b), None
    except (RuntimeError, TypeError) as e:
        return None, e


def _check(op, ka, da, kb, db, seed):
    torch = require_torch()
    rng = np.random.default_rng(seed)
    ma, ta = _operand(mg, ka, da, rng)
    mb, tb = _operand(mg, kb, db, rng)
    fn = OPS[op]
    expected, error = _torch_result(fn, torch, ta, tb)
    if error is not None:
        with pytest.raises(mg.MinigradError):
            fn(mg, ma, mb)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)   # inf as torch gives it: quietly
        got = fn(mg, ma, mb)
    e = expected.numpy()
    assert str(got.dtype) == str(e.dtype), (op, ka, da, kb, db, got.dtype, e.dtype)
    tol = 1e-3 if got.dtype == np.float16 else 1e-6
    np.testing.assert_allclose(got.numpy().astype(np.float64), e.astype(np.float64),
                               rtol=tol, atol=tol, equal_nan=True)


@SETTINGS
@given(op=st.sampled_from(sorted(OPS)), ka=st.sampled_from(KINDS), kb=st.sampled_from(KINDS),
       da=st.sampled_from(DTYPES), db=st.sampled_from(DTYPES), seed=st.integers(0, 2**16))
def test_binary_ops_promote_and_compute_as_torch(op, ka, da, kb, db, seed):
    if ka not in ("tensor", "0-dim") and kb not in ("tensor", "0-dim"):
        kb = "tensor"                              # at least one tensor
    if op in TENSOR_ONLY:
        ka, kb = (k if k in ("tensor", "0-dim") else "tensor" for k in (ka, kb))
    _check(op, ka, da, kb, db, seed)


def test_every_dtype_pair_and_operand_kind_gives_torch_result_type():
    """Exhaustively (it is cheap): result_type against torch.result_type."""
    torch = require_torch()
    rng = np.random.default_rng(0)
    for (ka, da), (kb, db) in itertools.product(itertools.product(KINDS, DTYPES), repeat=2):
        if ka not in ("tensor", "0-dim") and kb not in ("tensor", "0-dim"):
            continue
        ma, ta = _operand(mg, ka, da, rng)
        mb, tb = _operand(mg, kb, db, rng)
        expected = str(torch.result_type(ta, tb)).replace("torch.", "")
        assert str(result_type(ma, mb)) == expected, (ka, da, kb, db)


def test_promote_types_as_torch():
    torch = require_torch()
    for da, db in itertools.product(DTYPES, repeat=2):
        got = promote_types(np.dtype(da), np.dtype(db))
        want = torch.promote_types(getattr(torch, da), getattr(torch, db))
        assert str(got) == str(want).replace("torch.", ""), (da, db)


def test_default_dtype_decides_for_python_floats_and_true_division():
    assert (mg.tensor([1, 2]) + 2.5).dtype == mg.float32
    assert (mg.tensor([1, 2]) / mg.tensor([2, 2])).dtype == mg.float32
    assert (mg.tensor([1, 2]) + 2).dtype == mg.int64
    assert (mg.tensor([True]) + 1).dtype == mg.int64
    mg.set_default_dtype(mg.float64)
    assert (mg.tensor([1, 2]) + 2.5).dtype == mg.float64
    assert (mg.tensor([1, 2]) / 2).dtype == mg.float64
    assert (mg.tensor([1.0], dtype=mg.float32) * 2.5).dtype == mg.float32


# ------------------------------------------------------------------ pow
@pytest.mark.parametrize("dtype", ["uint8", "int32", "int64", "bool", "float16", "float32"])
@pytest.mark.parametrize("exponent", [2, 0, 3, 0.5, -1.5, 0.1])
def test_pow_with_scalar_exponent_as_torch(dtype, exponent):
    torch = require_torch()
    a = _values(dtype, np.random.default_rng(1))
    if dtype != "bool":
        a = np.abs(a)
    got, want = mg.tensor(a) ** exponent, torch.tensor(a) ** exponent
    assert str(got.dtype) == str(want.dtype).replace("torch.", "")
    np.testing.assert_allclose(got.numpy().astype(float), want.numpy().astype(float),
                               rtol=1e-3, equal_nan=True)


@pytest.mark.parametrize("dtype", ["int8", "int32", "int64", "uint8"])
def test_integer_tensor_to_negative_integer_power_raises_as_torch(dtype):
    torch = require_torch()
    with pytest.raises(RuntimeError, match="Integers to negative integer powers"):
        torch.tensor([2], dtype=getattr(torch, dtype)) ** -1
    with pytest.raises(mg.DTypeError, match="negative integer powers are not allowed"):
        mg.tensor([2], dtype=dtype) ** -1
    assert (mg.tensor([2], dtype=dtype) ** -1.0).dtype == mg.float32   # a float power is fine


def test_integer_scalar_too_large_for_a_small_integer_tensor_raises_clearly():
    """(torch wraps around; minigrad refuses rather than guess: a documented difference)"""
    with pytest.raises(mg.DTypeError, match="1000 cannot be converted to int8"):
        mg.tensor(np.array([1], np.int8)) + 1000


def test_bool_subtraction_and_negation_raise_as_torch():
    with pytest.raises(mg.DTypeError, match="bool"):
        mg.tensor([True]) - mg.tensor([False])
    with pytest.raises(mg.DTypeError, match="bool"):
        mg.tensor([True]) - 1
    with pytest.raises(mg.DTypeError, match="bool"):
        -mg.tensor([True])


# ------------------------------------------------------------------ opmath (issue 21)
def test_float16_divided_by_a_large_scalar_is_not_zero():
    """The issue's case: the scalar is not rounded to float16 (70000 -> inf) first."""
    torch = require_torch()
    x = mg.tensor(np.array([1.0], np.float16), requires_grad=True)
    tx = torch.tensor(np.array([1.0], np.float16), requires_grad=True)
    y, ty = x / 70000, tx / 70000
    assert y.dtype == mg.float16
    assert y.numpy()[0] == ty.detach().numpy()[0] != 0
    y.sum().backward()
    ty.sum().backward()
    assert x.grad.dtype == mg.float16
    assert x.grad.numpy()[0] == tx.grad.numpy()[0] != 0


SCALARS = [70000, 70000.0, 0.1, 1 / 3, 1e-8, 2, 0.5, -3.3, 1e10, 65504.0]
ARITH = {"add": lambda a, s: a + s, "radd": lambda a, s: s + a, "sub": lambda a, s: a - s,
         "rsub": lambda a, s: s - a, "mul": lambda a, s: a * s, "rmul": lambda a, s: s * a,
         "div": lambda a, s: a / s, "rdiv": lambda a, s: s / a, "pow": lambda a, s: a ** s,
         "rpow": lambda a, s: abs(s) ** a}


@pytest.mark.parametrize("op", sorted(ARITH))
def test_float16_scalar_ops_apply_the_scalar_as_torch(op):
    """Values bit for bit (and gradients), for scalars that float16 cannot hold
    exactly, overflow or underflow; quietly inf where torch gives inf. (torch: * and /
    by a scalar in float32 rounded once; + - ** round the scalar to float16 first.)"""
    torch = require_torch()
    a = np.array([1.0, -2.5, 0.0999755859375, 3000.0, 6e-5, 0.0], np.float16)
    if op in ("rdiv", "pow", "rpow"):
        a = np.abs(a) + np.float16(0.5)
    fn = ARITH[op]
    for s in SCALARS:
        if op in ("pow", "rpow") and abs(s) > 10:
            continue
        x = mg.tensor(a, requires_grad=True)
        tx = torch.tensor(a, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            y = fn(x, s)
            y.backward(mg.ones_like(y))
        ty = fn(tx, s)
        ty.backward(torch.ones_like(ty))
        assert y.dtype == mg.float16
        np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy(), err_msg=f"{op} {s}")
        np.testing.assert_allclose(x.grad.numpy().astype(float), tx.grad.numpy().astype(float),
                                   rtol=2e-3, err_msg=f"{op} {s} grad")


def test_float16_with_a_0dim_float32_tensor_applies_it_as_torch():
    """A 0-dim tensor second in * and / is applied in float32; first, it is rounded."""
    torch = require_torch()
    a = np.array([1.0, 0.1, 3.0, 0.0999755859375, 7.0], np.float16)
    for s in (70000.0, 0.1, 1 / 3):
        for fn in (lambda x, y: x / y, lambda x, y: x * y, lambda x, y: y * x,
                   lambda x, y: x + y, lambda x, y: y - x):
            got = fn(mg.tensor(a), mg.tensor(s))
            want = fn(torch.tensor(a), torch.tensor(s))
            assert got.dtype == mg.float16
            np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_python_number_divided_by_float32_tensor_rounds_as_torch():
    """torch computes `s / x` as `x.reciprocal() * s`: the same bits here."""
    torch = require_torch()
    x = np.random.default_rng(0).uniform(0.5, 10, 2000).astype(np.float32)
    for s in (3.0, 0.1, 7):
        np.testing.assert_array_equal((s / mg.tensor(x)).numpy(), (s / torch.tensor(x)).numpy())
    assert (2 / mg.tensor([4])).tolist() == [0.5]


def test_opmath_dtype():
    assert opmath_dtype(np.dtype("float16")) == np.float32
    assert opmath_dtype(np.dtype("float32")) == np.float32
    assert opmath_dtype(np.dtype("float64")) == np.float64
    assert opmath_dtype(np.dtype("int32")) == np.int32


def test_float32_scalar_ops_make_no_copies_or_casts():
    """The fast path: float32 tensor op Python number records exactly one node."""
    x = mg.randn(4, requires_grad=True)
    for y in (x * 0.1, x + 1, 2.5 - x, x / 3):
        assert y.dtype == mg.float32
        assert y.grad_fn.name in ("mul", "add", "sub", "div")
        assert all(t.grad_fn is None for t in y.grad_fn.inputs)


def test_float16_clamp_and_masked_fill_apply_scalars_as_torch():
    torch = require_torch()
    a = (np.random.default_rng(0).standard_normal(4000) * 0.3).astype(np.float16)
    for lo, hi in [(0.0999, 0.1), (-0.1, 0.1), (1 / 3, 0.5), (0.1, None), (None, -0.2)]:
        np.testing.assert_array_equal(mg.tensor(a).clamp(lo, hi).numpy(),
                                      torch.tensor(a).clamp(lo, hi).numpy())
    with pytest.raises(RuntimeError, match="without overflow"):
        torch.tensor(a).clamp(-70000.0, 1.0)
    with pytest.raises(mg.DTypeError, match="without overflow"):
        mg.tensor(a).clamp(-70000.0, 1.0)
    mask = a > 0
    np.testing.assert_array_equal(mg.tensor(a).masked_fill(mg.tensor(mask), 0.1).numpy(),
                                  torch.tensor(a).masked_fill(torch.tensor(mask), 0.1).numpy())

"""Fuzz tensor creation and devices: shapes (negative, float, nested), dtypes (real,
aliases, bogus), fill values, ranges, random draws, and device strings.

Rules: a valid call matches PyTorch (shape, dtype and, where deterministic,
values); an invalid one raises a MinigradError naming the function and the bad
value. Devices: any spelling of 'cpu' works; 'cuda' / 'cuda:N' raise DeviceError
naming CuPy (not installed here); any other device string raises DeviceError
naming that string.
"""
import importlib.util

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad import nn
from minigrad.errors import DeviceError
from reliability.fuzzlib import (ALSO_RAISED, DTYPES, EMPTY_UNCHECKED, EXPECTED_ERROR, MATCHED,
                                 NUMPY_REFERENCE, STRICTER, assert_counted, check, expect_error,
                                 fuzz_settings, torch)
from testutil import require_torch

pytestmark = pytest.mark.torch
HAVE_CUPY = importlib.util.find_spec("cupy") is not None


@pytest.fixture(autouse=True)
def _torch():
    require_torch()


ALIASES = {"float": "float32", "half": "float16", "long": "int64", "int": "int32",
           "double": "float64", "bool": "bool", "float32": "float32", "int64": "int64"}
dtype_args = st.sampled_from([None] + DTYPES + list(ALIASES) + ["nonsense", "complex64", 7])


def named(dtype):
    """A dtype argument and the dtype it stands for, for error messages to name."""
    return (dtype, ALIASES[dtype]) if isinstance(dtype, str) and dtype in ALIASES else (dtype,)


def tdtype(dtype):
    """The torch dtype for a minigrad dtype argument (TypeError when it is not one)."""
    t = torch()
    if dtype is None:
        return None
    if isinstance(dtype, np.dtype):
        return getattr(t, dtype.name)
    if isinstance(dtype, str) and dtype in ALIASES:
        return getattr(t, ALIASES[dtype])
    if isinstance(dtype, str) and dtype in [d.name for d in DTYPES] + ["complex64"]:
        return getattr(t, dtype)                         # 'float16', 'complex64', ...
    raise TypeError(f"not a dtype: {dtype!r}")


def np_dtype(dtype):
    """The NumPy dtype a dtype argument stands for (float32 for None)."""
    return np.dtype("float32" if dtype is None else ALIASES.get(dtype, dtype)
                    if isinstance(dtype, str) else dtype)


def as_shape(args):
    """The shape that f(*args) means, NumPy's way: f() is 0-d, f(n) is (n,); a bool size
    counts as 0 or 1, as minigrad takes it (PyTorch refuses bool sizes)."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = args[0]
    return tuple(int(a) if isinstance(a, bool) else a for a in args)


sizes = st.one_of(st.integers(-2, 4), st.sampled_from([2.0, True, "3", None]))


def shape_args(data):
    """A shape as minigrad and PyTorch take it: f(2, 3), f((2, 3)) or f([2, 3])."""
    dims = data.draw(st.lists(sizes, max_size=4), label="dims")
    form = data.draw(st.sampled_from(["args", "tuple", "list"]), label="form")
    return tuple(dims) if form == "args" else (tuple(dims),) if form == "tuple" else (list(dims),)


# ------------------------------------------------------------------ filled tensors
@pytest.mark.parametrize("name", ["zeros", "ones"])
@fuzz_settings(60)
@given(data=st.data(), dtype=dtype_args, requires_grad=st.booleans())
def test_zeros_ones(name, data, dtype, requires_grad):
    shape = shape_args(data)

    def torch_fn():
        out = getattr(torch(), name)(*shape, dtype=tdtype(dtype))
        return out.requires_grad_(True) if requires_grad else out
    fill = {"zeros": 0, "ones": 1}[name]
    check(name, lambda: getattr(mg, name)(*shape, dtype=dtype, requires_grad=requires_grad),
          torch_fn, [], args=(shape, *named(dtype)), grad=False,
          also=("shape", "dtype", "requires_grad", "tensor"),
          reference=lambda: np.full(as_shape(shape), fill, np_dtype(dtype)),
          stricter="gradients of floating point tensors only (no complex autograd)"
          if requires_grad and dtype == "complex64" else None)


@fuzz_settings(60)
@given(data=st.data(), dtype=dtype_args,
       fill=st.sampled_from([0, 3, -1.5, True, float("inf"), float("nan"), "a", None, 2**40]))
def test_full(data, dtype, fill):
    shape = tuple(data.draw(st.lists(sizes, max_size=4), label="dims")) \
        if data.draw(st.booleans(), label="tuple") else data.draw(st.integers(-1, 3), label="n")
    tshape = (shape,) if isinstance(shape, int) else shape
    check("full", lambda: mg.full(shape, fill, dtype=dtype),
          lambda: torch().full(tshape, fill, dtype=tdtype(dtype)), [], args=(shape, fill, *named(dtype)),
          grad=False, also=("shape", "dtype", "tensor"),
          reference=lambda: np.full(as_shape((shape,)), np.asarray(fill).astype(
              np_dtype(dtype) if dtype is not None else None)))


@fuzz_settings(80)
@given(start=st.one_of(st.integers(-5, 5), st.floats(-5, 5, allow_nan=False)),
       stop=st.one_of(st.none(), st.integers(-5, 5), st.floats(-5, 5, allow_nan=False)),
       step=st.one_of(st.integers(-3, 3), st.floats(-2, 2, allow_nan=False).filter(
           lambda s: abs(s) > 0.1 or s == 0)),
       dtype=st.sampled_from([None, np.dtype("int64"), np.dtype("float32"), np.dtype("float64"),
                              "float16", "bool"]))
def test_arange(start, stop, step, dtype):
    if dtype == np.dtype("int64") and not all(isinstance(v, (int, type(None)))
                                              for v in (start, stop, step)):
        return      # int dtype with float bounds: NumPy and PyTorch count the elements differently
    def torch_fn():
        if stop is None:
            return torch().arange(start, dtype=tdtype(dtype)) if step == 1 else \
                torch().arange(0, start, step, dtype=tdtype(dtype))
        return torch().arange(start, stop, step, dtype=tdtype(dtype))

    def mg_fn():
        if stop is None:
            return mg.arange(start, dtype=dtype) if step == 1 else mg.arange(0, start, step, dtype=dtype)
        return mg.arange(start, stop, step, dtype=dtype)
    def reference():
        bounds = (0, start, step) if stop is None else (start, stop, step)
        return np.arange(*bounds).astype(np_dtype(dtype) if dtype is not None else None)
    check("arange", mg_fn, torch_fn, [], args=(start, stop, step), grad=False,
          tol=1e-2 if dtype == "float16" else 1e-6,
          reference=reference)


@fuzz_settings(60)
@given(n=st.sampled_from([-1, 0, 1, 3, 2.0, None]), m=st.sampled_from([None, -1, 0, 2, 4]),
       dtype=dtype_args)
def test_eye(n, m, dtype):
    tf = (lambda: torch().eye(n, dtype=tdtype(dtype))) if m is None else \
        (lambda: torch().eye(n, m, dtype=tdtype(dtype)))
    check("eye", lambda: mg.eye(n, m, dtype=dtype), tf, [], args=(n, m, *named(dtype)), grad=False,
          also=("dtype",))


# ------------------------------------------------------------------ from data
def nested(data, depth=0):
    """Nested lists of numbers; sometimes ragged, sometimes mixing kinds."""
    leaf = st.one_of(st.integers(-3, 3), st.floats(-3, 3, allow_nan=False), st.booleans())
    kind = data.draw(st.sampled_from(["int", "float", "bool", "mixed"]), label="kind")
    if kind != "mixed":
        leaf = {"int": st.integers(-3, 3), "float": st.floats(-3, 3, allow_nan=False),
                "bool": st.booleans()}[kind]
    shape = data.draw(st.lists(st.integers(0, 3), max_size=3), label="shape")

    def build(dims):
        if not dims:
            return data.draw(leaf, label="leaf")
        return [build(dims[1:]) for _ in range(dims[0])]
    value = build(shape)
    if shape and shape[0] >= 2 and data.draw(st.integers(0, 3), label="ragged") == 0:
        value[0] = [value[0]] if not isinstance(value[0], list) else value[0][:-1] + [1, 2]
    return value


@fuzz_settings(120)
@given(data=st.data(), dtype=dtype_args, requires_grad=st.booleans())
def test_tensor_from_data(data, dtype, requires_grad):
    source = data.draw(st.sampled_from(["nested", "nested", "array", "scalar", "junk"]),
                       label="source")
    if source == "nested":
        value = nested(data)
    elif source == "array":
        value = np.arange(6).reshape(2, 3).astype(data.draw(st.sampled_from(
            ["float16", "float32", "float64", "int32", "int64", "bool", "uint8", "int8"]),
            label="array dtype"))
    elif source == "scalar":
        value = data.draw(st.sampled_from([0, 1.5, True, -7, np.float32(2.5), np.int32(3)]),
                          label="scalar")
    else:
        value = data.draw(st.sampled_from(["abc", None, object(), {"a": 1}, [None, 1],
                                           np.array(["x"]), [[1, 2], [3]]]), label="junk")

    def torch_fn():
        t = torch().tensor(value, dtype=tdtype(dtype))
        return t.requires_grad_(True) if requires_grad else t
    check("tensor", lambda: mg.tensor(value, dtype=dtype, requires_grad=requires_grad), torch_fn,
          [], args=(*named(dtype), type(value).__name__, "object", _numpy_dtype(value)), grad=False,
          also=("requires_grad", "dtype", "shape"),
          stricter="gradients of floating point tensors only (no complex autograd)"
          if requires_grad and dtype == "complex64" else
          "ragged lists are refused (PyTorch lets some through when they hold empty lists)"
          if source == "nested" and _numpy_dtype(value) == "ragged" else None,
          reference=lambda: np.asarray(value).astype(np_dtype(dtype)) if dtype is not None
          else np.asarray(value))


def _int_dtype(dtype):
    try:
        return np_dtype(dtype).kind in "biu"
    except TypeError:
        return False


def _numpy_dtype(value):
    try:
        return str(np.asarray(value).dtype)
    except (ValueError, TypeError):
        return "ragged"


# ------------------------------------------------------------------ random draws
@pytest.mark.parametrize("name", ["rand", "randn"])
@fuzz_settings(50)
@given(data=st.data(), dtype=dtype_args)
def test_rand_randn(name, data, dtype):
    shape = shape_args(data)
    out = check(name, lambda: getattr(mg, name)(*shape, dtype=dtype),
                lambda: getattr(torch(), name)(*shape, dtype=tdtype(dtype)), [],
                args=(shape, *named(dtype)), grad=False, random=True, also=("shape", "dtype"),
                reference=lambda: np.empty(as_shape(shape), np_dtype(dtype)),
                stricter="no random complex numbers" if dtype == "complex64" else
                "a random draw of an integer dtype is refused even when the shape is empty "
                "(PyTorch checks the dtype only when it draws)" if _int_dtype(dtype) else None)
    if out is not None and name == "rand":
        assert ((out.numpy() >= 0) & (out.numpy() < 1)).all()


@fuzz_settings(60)
@given(low=st.integers(-3, 5), high=st.integers(-3, 5), data=st.data(),
       dtype=st.sampled_from([None, np.dtype("int64"), np.dtype("int32"), "float32", "bool"]))
def test_randint(low, high, data, dtype):
    shape = tuple(data.draw(st.lists(st.integers(-1, 3), max_size=3), label="shape"))
    if data.draw(st.integers(0, 5), label="int shape") == 0:
        shape = data.draw(st.integers(-1, 3), label="n")
    out = check("randint", lambda: mg.randint(low, high, shape, dtype=dtype),
                lambda: torch().randint(low, high, shape, dtype=tdtype(dtype) or torch().int64),
                [], args=(low, high, shape), grad=False, random=True, also=("shape", "dtype"),
                reference=lambda: np.empty(as_shape((shape,)), np_dtype(dtype or "int64")))
    if out is not None and out.numel() and out.dtype.kind == "i":
        assert low <= out.numpy().min() and out.numpy().max() < high


@pytest.mark.parametrize("name", ["zeros_like", "ones_like", "rand_like", "randn_like", "full_like"])
@fuzz_settings(30)
@given(data=st.data(), dtype=dtype_args, src=st.sampled_from(DTYPES))
def test_like(name, data, dtype, src):
    shape = tuple(data.draw(st.lists(st.integers(0, 3), max_size=3), label="shape"))
    x = np.zeros(shape, src)
    extra = (2,) if name == "full_like" else ()
    check(name, lambda x: getattr(mg, name)(x, *extra, dtype=dtype),
          lambda x: getattr(torch(), name)(x, *extra, dtype=tdtype(dtype)), [x], args=named(dtype),
          grad=False, random=name in ("rand_like", "randn_like"), also=("dtype", "rand", "randn"),
          stricter="no random complex numbers" if dtype == "complex64" and "rand" in name
          else None)


# ------------------------------------------------------------------ devices
CPU = ["cpu", "CPU", " cpu ", None]
CUDA = ["cuda", "cuda:0", "cuda:1", "CUDA"]
BOGUS = ["gpu", "cuda:x", "cuda:-1", "tpu", "", "cpu:0:0", "cud", 0, 3.5]
devices = st.sampled_from(CPU + CUDA + BOGUS)

MAKERS = {
    "tensor": lambda d: mg.tensor([1.0, 2.0], device=d),
    "zeros": lambda d: mg.zeros(2, 3, device=d),
    "ones": lambda d: mg.ones(2, device=d),
    "full": lambda d: mg.full((2,), 7, device=d),
    "arange": lambda d: mg.arange(5, device=d),
    "rand": lambda d: mg.rand(2, device=d),
    "randn": lambda d: mg.randn(2, device=d),
    "randint": lambda d: mg.randint(0, 5, (3,), device=d),
    "eye": lambda d: mg.eye(3, device=d),
    "zeros_like": lambda d: mg.zeros_like(mg.randn(2), device=d),
    "Tensor.to": lambda d: mg.randn(2, 2).to(d),
    "Tensor.to (grad)": lambda d: mg.randn(2, requires_grad=True).to(d),
    "Module.to": lambda d: nn.Linear(2, 2).to(d),
    "Linear(device=)": lambda d: nn.Linear(2, 2, device=d),
}


@pytest.mark.parametrize("maker", sorted(MAKERS))
@fuzz_settings(12)
@given(device=devices)
def test_devices(maker, device):
    make = MAKERS[maker]
    if device in CPU:
        out = make(device)
        tensors = [out] if isinstance(out, mg.Tensor) else list(out.parameters())
        assert all(t.device == "cpu" for t in tensors)
        return
    if device in CUDA and HAVE_CUPY:
        pytest.skip("CuPy is installed: the missing-CuPy message cannot be shown")
    name = maker.split("(")[0].split(".")[-1].lower().strip()
    if device in CUDA:
        msg = expect_error(name, lambda: make(device), error=DeviceError,
                           also=("device", "cuda"))
        assert "CuPy" in msg and "pip install" in msg, msg
    else:
        if not isinstance(device, str) and name == "to":    # .to(3.5): not a device, not a dtype
            expect_error(name, lambda: make(device), also=("device", "dtype"))
            return
        msg = expect_error(name, lambda: make(device), error=DeviceError,
                           also=("device",))
        assert repr(str(device)) in msg or repr(device) in msg, msg


def test_every_kind_of_outcome_was_counted():
    """Runs after the file's fuzz cases: each kind of outcome they can end in happened
    (a count of zero means a check that never runs)."""
    assert_counted(__file__, [MATCHED, ALSO_RAISED, EXPECTED_ERROR, STRICTER, EMPTY_UNCHECKED,
                              NUMPY_REFERENCE])

"""Fuzz every op: random shapes, dtypes (bool, int32, int64, float16, float32, float64),
axes and argument values, valid or not. Each call must match PyTorch (values, shape,
dtype and input gradients) or raise a MinigradError that names the op and what was
wrong with its input; see fuzzlib for the exact rule."""
import operator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad.errors import MinigradError
from reliability.fuzzlib import (ALSO_RAISED, DTYPES, EMPTY_UNCHECKED, EXPECTED_ERROR,
                                 FLOAT64_REFERENCE, MATCHED, NUMPY_ONLY, NUMPY_REFERENCE, STRICTER,
                                 assert_counted, axis_args, check, count, dtypes, expect_error,
                                 float_dtypes, fuzz_settings, rng, shapes, torch, values)
from testutil import require_torch

pytestmark = pytest.mark.torch


@pytest.fixture(autouse=True)
def _torch():
    require_torch()


def F():
    return torch().nn.functional


def tdtype(dtype):
    return getattr(torch(), np.dtype(dtype).name)


# ------------------------------------------------------------------ elementwise
UNARY = {
    "neg": (lambda x: -x, lambda x: -x),
    "abs": (lambda x: abs(x), lambda x: abs(x)),
    "exp": (mg.exp, lambda x: torch().exp(x)),
    "log": (mg.log, lambda x: torch().log(x)),
    "sqrt": (mg.sqrt, lambda x: torch().sqrt(x)),
    "tanh": (mg.tanh, lambda x: torch().tanh(x)),
    "sigmoid": (mg.sigmoid, lambda x: torch().sigmoid(x)),
    "relu": (mg.relu, lambda x: torch().relu(x)),
    "gelu": (mg.gelu, lambda x: F().gelu(x)),
    "gelu_tanh": (lambda x: mg.gelu(x, approximate="tanh"),
                  lambda x: F().gelu(x, approximate="tanh")),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@fuzz_settings(25)
@given(data=st.data(), dtype=dtypes, shape=shapes())
def test_unary(name, data, dtype, shape):
    mg_fn, torch_fn = UNARY[name]
    x = values(rng(data), shape, dtype)
    check(name.split("_")[0], mg_fn, torch_fn, [x])


BINARY = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv,
    "pow": operator.pow, "lt": operator.lt, "le": operator.le, "gt": operator.gt,
    "ge": operator.ge, "eq": operator.eq, "ne": operator.ne,
    "maximum": None, "minimum": None, "and": operator.and_, "or": operator.or_,
}


def _binary_fns(name):
    op = BINARY[name]
    if op is not None:
        return op, op
    return getattr(mg, name), lambda a, b: getattr(torch(), name)(a, b)


def operand(data, r, shape, dtype):
    """A tensor of `shape` (an array here), or a Python scalar of the dtype's kind."""
    kind = data.draw(st.sampled_from(["tensor", "tensor", "tensor", "scalar"]), label="operand")
    if kind == "scalar":
        return data.draw(st.sampled_from([2, -1, 0, 1.5, -0.5, True, False]), label="scalar")
    return values(r, shape, dtype)


@pytest.mark.parametrize("name", sorted(BINARY))
@fuzz_settings(30)
@given(data=st.data(), dtypes_=st.tuples(dtypes, dtypes))
def test_binary(name, data, dtypes_):
    r = rng(data)
    if data.draw(st.booleans(), label="broadcastable"):
        sa, sb = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3,
                                                             max_side=3)).input_shapes
    else:
        sa, sb = data.draw(shapes(max_dims=3, max_side=3)), data.draw(shapes(max_dims=3, max_side=3))
    a, b = operand(data, r, sa, dtypes_[0]), operand(data, r, sb, dtypes_[1])
    if not isinstance(a, np.ndarray) and not isinstance(b, np.ndarray):
        a = values(r, sa, dtypes_[0])
    mg_fn, torch_fn = _binary_fns(name)
    if name in ("and", "or"):     # PyTorch's & and | are bitwise; minigrad's must agree
        name = {"and": "logical_and", "or": "logical_or"}[name]
    stricter = None
    if name == "pow" and all(np.asarray(v).dtype.kind in "biu" for v in (a, b)):
        stricter = "an integer to a negative integer power is refused (NumPy's rule)"
    check(name, mg_fn, torch_fn, [a, b], also=("tensor", "bitwise"), stricter=stricter)


@fuzz_settings(30)
@given(data=st.data(), dtype=dtypes, shape=shapes(max_dims=3))
def test_invert(data, dtype, shape):
    """~x: logical not of a bool tensor, bitwise not of an int one (as PyTorch)."""
    check("logical_not", lambda x: ~x, lambda x: ~x, [values(rng(data), shape, dtype)],
          also=("invert", "bitwise"))


@fuzz_settings(40)
@given(data=st.data(), dtypes_=st.tuples(dtypes, dtypes),
       dims=st.tuples(st.integers(1, 4), st.integers(1, 4)), sizes=st.lists(st.integers(0, 3), min_size=6, max_size=6))
def test_matmul(data, dtypes_, dims, sizes):
    """Matmul of 1-4 dims, inner sizes equal or not, batch dims broadcastable or not."""
    r = rng(data)
    m, k, n, k2, b1, b2 = sizes
    if data.draw(st.booleans(), label="inner sizes agree"):
        k2 = k
    sa = ((b1,) * (dims[0] - 2)) + (m, k) if dims[0] >= 2 else (k,)
    sb = ((b2,) * (dims[1] - 2)) + (k2, n) if dims[1] >= 2 else (k2,)
    a, b = values(r, sa, dtypes_[0]), values(r, sb, dtypes_[1])
    # PyTorch returns some dtype for an empty product of mixed dtypes it would otherwise refuse
    check("matmul", operator.matmul, operator.matmul, [a, b],
          equal_dtype=a.dtype == b.dtype or (a.size and b.size))


# ------------------------------------------------------------------ reductions
REDUCTIONS = ["sum", "mean", "var", "amax", "amin", "argmax", "argmin", "any", "all"]


def _torch_reduce(name, x, axis, keepdims, correction):
    t = torch()
    dim = tuple(range(x.ndim)) if axis is None else axis
    if name in ("argmax", "argmin"):
        return getattr(t, name)(x, dim=axis, keepdim=keepdims)
    if name in ("amax", "amin"):
        return getattr(t, name)(x, dim=dim, keepdim=keepdims)
    if name == "var":
        return t.var(x, dim=dim, correction=correction, keepdim=keepdims)
    if name in ("any", "all") and isinstance(dim, tuple) and len(dim) == 0:
        return getattr(t, name)(x)
    return getattr(t, name)(x, dim=dim, keepdim=keepdims)


def _mg_reduce(name, x, axis, keepdims, correction):
    if name == "var":
        return x.var(axis=axis, keepdims=keepdims, correction=correction)
    return getattr(x, name)(axis=axis, keepdims=keepdims)


@pytest.mark.parametrize("name", REDUCTIONS)
@fuzz_settings(30)
@given(data=st.data(), dtype=dtypes, shape=shapes())
def test_reduction(name, data, dtype, shape):
    x = values(rng(data), shape, dtype)
    axis = data.draw(axis_args(len(shape)), label="axis")
    keepdims = data.draw(st.booleans(), label="keepdims")
    correction = data.draw(st.sampled_from([0, 1]), label="correction")   # (more than N: degenerate)
    stricter = None
    if isinstance(axis, bool) or (name in ("argmax", "argmin") and isinstance(axis, list)):
        stricter = "a bool is not an axis; argmax takes one axis"
    check(name, lambda x: _mg_reduce(name, x, axis, keepdims, correction),
          lambda x: _torch_reduce(name, x, axis, keepdims, correction), [x],
          args=(axis,), stricter=stricter)


# ------------------------------------------------------------------ movement
def _dims(data, ndim, label, extra=1):
    return data.draw(st.integers(-ndim - extra, max(ndim - 1, 0) + extra), label=label)


@fuzz_settings(60)
@given(data=st.data(), dtype=dtypes, shape=shapes())
def test_reshape(data, dtype, shape):
    x = values(rng(data), shape, dtype)
    size = int(np.prod(shape))
    target = data.draw(st.one_of(
        st.lists(st.integers(-2, 5), max_size=4).map(tuple),
        st.permutations(list(shape)).map(tuple),
        st.just((-1,)), st.just((size, -1)), st.just((-1, 0))), label="target")
    check("reshape", lambda x: x.reshape(*target), lambda x: x.reshape(*target), [x],
          args=(target,), reference=lambda x: x.reshape(target))


@fuzz_settings(60)
@given(data=st.data(), dtype=dtypes, shape=shapes())
def test_permute(data, dtype, shape):
    x = values(rng(data), shape, dtype)
    n = len(shape)
    perm = data.draw(st.one_of(st.permutations(list(range(n))),
                               st.lists(st.integers(-n - 1, n), max_size=n + 1)), label="perm")
    perm = tuple(perm)
    check("permute", lambda x: x.permute(*perm), lambda x: x.permute(*perm), [x], args=(perm,),
          reference=lambda x: np.transpose(x, perm))


@fuzz_settings(60)
@given(data=st.data(), dtype=dtypes, shape=shapes())
def test_transpose(data, dtype, shape):
    x = values(rng(data), shape, dtype)
    a0, a1 = _dims(data, len(shape), "axis0"), _dims(data, len(shape), "axis1")
    check("swapaxes", lambda x: x.transpose(a0, a1), lambda x: x.transpose(a0, a1), [x],
          args=(a0, a1), also=("transpose",))


@fuzz_settings(60)
@given(data=st.data(), dtype=dtypes, shape=shapes(max_dims=3))
def test_expand_and_broadcast_to(data, dtype, shape):
    x = values(rng(data), shape, dtype)
    lead = data.draw(st.lists(st.integers(0, 3), max_size=2), label="lead")
    tail = [data.draw(st.sampled_from([s, -1, 1, 2, 3]), label="size") for s in shape]
    target = tuple(lead) + tuple(tail)
    if data.draw(st.booleans(), label="expand"):
        lead_dims = len(target) - x.ndim           # (-1 keeps an existing size)
        sizes = tuple(x.shape[i - lead_dims] if t == -1 and i >= lead_dims else t
                      for i, t in enumerate(target))
        check("expand", lambda x: x.expand(*target), lambda x: x.expand(*target), [x],
              args=(target,), also=("broadcast_to",),
              reference=lambda x: np.broadcast_to(x, sizes))
    else:
        stricter = "-1 is not a size in broadcast_to" if -1 in target else None
        check("broadcast_to", lambda x: x.broadcast_to(target),
              lambda x: x.broadcast_to(target), [x], args=(target,), stricter=stricter)


@fuzz_settings(60)
@given(data=st.data(), dtype=dtypes, shape=shapes(max_side=2))
def test_squeeze_unsqueeze_flatten(data, dtype, shape):
    x = values(rng(data), shape, dtype)
    n = len(shape)
    which = data.draw(st.sampled_from(["squeeze", "unsqueeze", "flatten"]), label="op")
    if which == "squeeze":
        axis = data.draw(st.one_of(st.none(), st.integers(-n - 1, n),
                                   st.lists(st.integers(-n, max(n - 1, 0)), max_size=n,
                                            unique_by=lambda a: a % max(n, 1)).map(tuple)),
                         label="axis")
        tf = (lambda x: x.squeeze()) if axis is None else (lambda x: x.squeeze(axis))
        check("squeeze", lambda x: x.squeeze(axis), tf, [x], args=(axis,))
    elif which == "unsqueeze":
        axis = data.draw(st.integers(-n - 3, n + 2), label="axis")
        check("unsqueeze", lambda x: x.unsqueeze(axis), lambda x: x.unsqueeze(axis), [x],
              args=(axis,))
    else:
        s, e = _dims(data, n, "start"), _dims(data, n, "end")
        check("flatten", lambda x: x.flatten(s, e), lambda x: x.flatten(s, e), [x], args=(s, e),
              reference=lambda x: x.reshape(1))     # (reached only for a 0-d x)


@fuzz_settings(60)
@given(data=st.data(), dtype=dtypes, shape=shapes(min_dims=1))
def test_split_and_chunk(data, dtype, shape):
    x = values(rng(data), shape, dtype)
    axis = _dims(data, len(shape), "axis")
    if data.draw(st.booleans(), label="chunk"):
        chunks = data.draw(st.integers(-1, 5), label="chunks")
        check("chunk", lambda x: x.chunk(chunks, axis), lambda x: x.chunk(chunks, axis), [x],
              args=(chunks, axis))
        return
    how = data.draw(st.one_of(st.integers(-1, 5), st.lists(st.integers(-1, 4), max_size=4)),
                    label="split")
    check("split", lambda x: x.split(how, axis), lambda x: x.split(how, axis), [x],
          args=(how, axis))


@fuzz_settings(60)
@given(data=st.data())
def test_concat_and_stack(data):
    r = rng(data)
    n = data.draw(st.integers(1, 3), label="n")
    base = data.draw(shapes(max_dims=3, max_side=3), label="shape")
    arrays = []
    for _ in range(n):
        s = list(base)
        if s and data.draw(st.booleans(), label="vary"):
            i = data.draw(st.integers(0, len(s) - 1), label="which")
            s[i] = data.draw(st.integers(0, 3), label="size")
        if data.draw(st.integers(0, 9), label="rank") == 0:
            s = s[:-1]
        arrays.append(values(r, tuple(s), data.draw(dtypes, label="dtype")))
    axis = _dims(data, len(base) + 1, "axis")
    if data.draw(st.booleans(), label="stack"):
        check("stack", lambda *xs: mg.stack(list(xs), axis),
              lambda *xs: torch().stack(list(xs), axis), arrays, args=(axis,))
    else:
        legacy = any(a.shape == (0,) for a in arrays)
        check("concat", lambda *xs: mg.concat(list(xs), axis),
              lambda *xs: torch().cat(list(xs), axis), arrays, args=(axis,),
              stricter="PyTorch's legacy rule skips 1-D empty tensors in cat" if legacy else None)


# ------------------------------------------------------------------ indexing
def _index_part(data, size):
    kinds = ["int", "slice", "slice", "array", "bool", "none", "ellipsis"]
    kind = data.draw(st.sampled_from(kinds), label="index kind")
    if kind == "int":
        return data.draw(st.integers(-size - 1, size), label="int")
    if kind == "slice":
        bound = st.one_of(st.none(), st.integers(-size - 2, size + 2))
        step = data.draw(st.one_of(st.none(), st.integers(1, 3), st.integers(-2, 0)), label="step")
        return slice(data.draw(bound, label="start"), data.draw(bound, label="stop"), step)
    if kind == "array":
        n = data.draw(st.integers(0, 3), label="n")
        return np.array(data.draw(st.lists(st.integers(-size - 1, size), min_size=n, max_size=n),
                                  label="ids"), dtype=np.int64)
    if kind == "bool":
        n = data.draw(st.sampled_from([size, size, size + 1]), label="mask size")
        return np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n), label="mask"),
                        dtype=bool)
    return None if kind == "none" else Ellipsis


def _torch_index(index):
    t = torch()
    if isinstance(index, tuple):
        return tuple(_torch_index(i) for i in index)
    if isinstance(index, np.ndarray):
        return t.from_numpy(index)
    return index


def _negative_step(index):
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, slice) and p.step is not None and p.step < 0 for p in parts)


@fuzz_settings(120)
@given(data=st.data(), dtype=dtypes, shape=shapes(min_dims=1, max_dims=3))
def test_getitem(data, dtype, shape):
    x = values(rng(data), shape, dtype)
    n = data.draw(st.integers(1, len(shape) + 1), label="parts")
    parts = tuple(_index_part(data, shape[min(i, len(shape) - 1)]) for i in range(n))
    if sum(p is Ellipsis for p in parts) > 1:
        parts = tuple(p for p in parts if p is not Ellipsis)
    index = parts[0] if len(parts) == 1 and data.draw(st.booleans(), label="bare") else parts
    if _negative_step(index):        # PyTorch has no negative steps: check against NumPy
        out = check("getitem", lambda x: x[index], lambda x: x[_torch_index(index)], [x],
                    args=(index,), reference=lambda a: a[index])
        return
    stricter = ("every index is checked against its axis, even when the result is empty "
                "(PyTorch checks only the indices it gathers)") if x.size == 0 else None
    check("getitem", lambda x: x[index], lambda x: x[_torch_index(index)], [x], args=(index,),
          stricter=stricter)


# ------------------------------------------------------------------ selection
@fuzz_settings(60)
@given(data=st.data(), dtypes_=st.tuples(dtypes, dtypes, dtypes))
def test_where(data, dtypes_):
    r = rng(data)
    sc, sa, sb = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3,
                                                             max_side=3)).input_shapes
    cond = values(r, sc, dtypes_[0])
    a, b = operand(data, r, sa, dtypes_[1]), operand(data, r, sb, dtypes_[2])
    if not isinstance(a, np.ndarray) and not isinstance(b, np.ndarray):
        a = values(r, sa, dtypes_[1])
    check("where", lambda c, a, b: mg.where(c, a, b), lambda c, a, b: torch().where(c, a, b),
          [cond, a, b])


@fuzz_settings(60)
@given(data=st.data(), dtype=dtypes, mask_dtype=dtypes, shapes_=hnp.mutually_broadcastable_shapes(
    num_shapes=2, max_dims=3, max_side=3),
    value=st.sampled_from([0, -1, 2.5, -1e9, float("-inf"), True]))
def test_masked_fill(data, dtype, mask_dtype, shapes_, value):
    r = rng(data)
    sx, sm = shapes_.input_shapes
    x, mask = values(r, sx, dtype), values(r, sm, mask_dtype)
    enlarges = np.broadcast_shapes(sx, sm) != tuple(sx)
    check("masked_fill", lambda x, m: x.masked_fill(m, value),
          lambda x, m: x.masked_fill(m, value), [x, mask], args=(value,),
          stricter="masked_fill never makes its input bigger" if enlarges else None)


@fuzz_settings(60)
@given(data=st.data(), dtype=dtypes, shape=shapes(max_dims=3),
       lo=st.sampled_from([None, -1, 0, 0.5, -1.5, 2]), hi=st.sampled_from([None, 1, 0, 1.5, -2]))
def test_clip(data, dtype, shape, lo, hi):
    x = values(rng(data), shape, dtype)
    check("clip", lambda x: x.clip(lo, hi), lambda x: torch().clamp(x, lo, hi), [x],
          args=(lo, hi), also=("clamp",),                 # (PyTorch refuses no bounds at all)
          reference=lambda x: x.copy() if lo is None and hi is None else np.clip(x, lo, hi))


@fuzz_settings(60)
@given(data=st.data(), dtype=dtypes, to=st.sampled_from(DTYPES + ["float", "half", "long", "int",
                                                                "double", "bool", "complex64",
                                                                "int8", "nonsense", None, 3]),
       shape=shapes(max_dims=3))
def test_astype(data, dtype, to, shape):
    x = values(rng(data), shape, dtype)
    names = {"float": "float32", "half": "float16", "long": "int64", "int": "int32",
             "double": "float64"}

    def torch_to(t):
        if to is None or isinstance(to, int) or to in ("complex64", "nonsense"):
            raise TypeError("not a dtype minigrad supports")
        name = names.get(to, to) if isinstance(to, str) else to.name
        return t.to(getattr(torch(), name))
    check("astype", lambda x: x.astype(to), torch_to, [x], args=(to,), also=("dtype", "cast"),
          reference=lambda x: x.astype(to))


# ------------------------------------------------------------------ fused ops
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@fuzz_settings(40)
@given(data=st.data(), dtype=dtypes, shape=shapes())
def test_softmax(name, data, dtype, shape):
    x = values(rng(data), shape, dtype, -20, 20)
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)), label="axis")
    fused = data.draw(st.booleans(), label="fused")

    def run(x):
        with mg.use_fused(fused):
            return getattr(mg, name)(x, axis)
    check(name, run, lambda x: getattr(torch(), name)(x, axis), [x], args=(axis,))


@fuzz_settings(60)
@given(data=st.data(), dtype=dtypes, shape=shapes(min_dims=1, max_dims=3, max_side=3),
       eps=st.sampled_from([1e-5, 1e-3, 0.0, 1.0]))
def test_layer_norm(data, dtype, shape, eps):
    r = rng(data)
    x = values(r, shape, dtype)
    k = data.draw(st.integers(0, len(shape)), label="normalized dims")
    normalized = tuple(shape[len(shape) - k:])
    if data.draw(st.integers(0, 4), label="bad shape") == 0:
        normalized = tuple(data.draw(st.lists(st.integers(0, 3), max_size=2), label="bad"))
    arrays = [x]
    affine = data.draw(st.sampled_from(["none", "weight", "both"]), label="affine")
    wshape = normalized if data.draw(st.integers(0, 5), label="ok") else (2,)
    if affine != "none":
        arrays.append(np.asarray(values(r, wshape, data.draw(float_dtypes, label="w dtype")) * 0.5 + 1))
    if affine == "both":
        arrays.append(values(r, wshape, arrays[1].dtype))
    fused = data.draw(st.booleans(), label="fused")

    def run(x, w=None, b=None):
        with mg.use_fused(fused):
            return mg.layer_norm(x, normalized, w, b, eps)
    tol = 5e-2 if eps == 0.0 else None              # rows of equal values: 0 / 0 territory
    check("layer_norm", run, lambda x, w=None, b=None: F().layer_norm(x, normalized, w, b, eps),
          arrays, args=(normalized,), tol=tol,
          reference=lambda x, w=None, b=None: layer_norm_reference(x, len(normalized), w, b, eps))


def layer_norm_reference(x, k, w, b, eps):
    """Layer norm over the last k dims in float64 NumPy (k = 0: each element alone)."""
    axes = tuple(range(x.ndim - k, x.ndim))
    x = x.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):      # eps = 0: 0 / 0 is NaN there too
        out = (x - x.mean(axes, keepdims=True)) / np.sqrt(x.var(axes, keepdims=True) + eps)
    return out * (1 if w is None else w) + (0 if b is None else b)


@fuzz_settings(80)
@given(data=st.data(), dtype=dtypes, target_dtype=st.sampled_from(DTYPES),
       n=st.integers(0, 3), c=st.integers(0, 4), extra=st.sampled_from([(), (), (2,), (0,)]),
       reduction=st.sampled_from(["mean", "mean", "sum", "none", "avg"]),
       smoothing=st.sampled_from([0.0, 0.0, 0.1, 1.0, -0.1, 1.5]),
       ignore_index=st.sampled_from([-100, 0, 1, -1]))
def test_cross_entropy(data, dtype, target_dtype, n, c, extra, reduction, smoothing,
                       ignore_index):
    r = rng(data)
    logits = values(r, (n, c) + extra, dtype, -5, 5)
    if data.draw(st.integers(0, 5), label="1-d") == 0:
        logits, tshape = values(r, (c,), dtype), ()
    else:
        tshape = (n,) + extra
    if data.draw(st.integers(0, 5), label="bad target shape") == 0:
        tshape = data.draw(shapes(max_dims=2, max_side=3), label="target shape")
    targets = r.integers(-1, c + 1 if data.draw(st.booleans(), label="oob") else max(c, 1),
                         tshape).astype(target_dtype)

    def torch_ce(x, t):
        if t.dtype == torch().int32:
            t = t.long()
        return F().cross_entropy(x, t, ignore_index=ignore_index, reduction=reduction,
                                 label_smoothing=smoothing)
    check("cross_entropy",
          lambda x, t: mg.cross_entropy(x, t, ignore_index, smoothing, reduction), torch_ce,
          [logits, targets], args=(reduction, smoothing, ignore_index, c, f"{c} classes"),
          stricter="label_smoothing must be in [0, 1]" if smoothing < 0 else None)


@fuzz_settings(80)
@given(data=st.data(), id_dtype=dtypes, w_dtype=dtypes, ids_shape=shapes(max_dims=3, max_side=3),
       vocab=st.integers(0, 5), dim=st.integers(0, 3), w_ndim=st.sampled_from([2, 2, 2, 1, 3]),
       padding_idx=st.sampled_from([None, None, 0, 1, -1, 5, -6]))
def test_embedding(data, id_dtype, w_dtype, ids_shape, vocab, dim, w_ndim, padding_idx):
    r = rng(data)
    ids = r.integers(-1 if data.draw(st.integers(0, 4), label="neg") == 0 else 0,
                     vocab + (1 if data.draw(st.integers(0, 4), label="big") == 0 else 0) or 1,
                     ids_shape).astype(id_dtype)
    wshape = {1: (vocab,), 2: (vocab, dim), 3: (vocab, dim, 2)}[w_ndim]
    weight = values(r, wshape, w_dtype)

    def torch_emb(i, w):
        if i.dtype == torch().int32:
            i = i.long()
        return F().embedding(i, w, padding_idx=padding_idx)
    check("embedding", lambda i, w: mg.embedding(i, w, padding_idx), torch_emb, [ids, weight],
          args=(padding_idx, vocab))


@fuzz_settings(60)
@given(data=st.data(), dtype=dtypes, shape=shapes(max_dims=3),
       p=st.sampled_from([0.0, 1.0, 0.5, 0.1, -0.1, 1.1]), training=st.booleans())
def test_dropout(data, dtype, shape, p, training):
    """p in {0, 1} or eval mode is deterministic: compare with PyTorch. Otherwise every
    element is either 0 or x / (1 - p)."""
    x = values(rng(data), shape, dtype)
    if not (0.0 < p < 1.0) or not training:      # (PyTorch has no dropout of bools to compare)
        check("dropout", lambda x: mg.dropout(x, p, training),
              lambda x: F().dropout(x, p, training), [x], args=(p,), equal_dtype=dtype != np.bool_)
        return
    out = check("dropout", lambda x: mg.dropout(x, p, training),
                lambda x: F().dropout(x, p, training), [x], args=(p,), random=True)
    if out is not None:
        y, scaled = out.numpy(), (x / (1 - p)).astype(out.dtype)
        assert ((y == 0) | np.isclose(y, scaled, rtol=1e-2)).all()


def _torch_attention(q, k, v, mask, is_causal, scale):
    """A bool mask means 'may attend' in both; PyTorch refuses a mask together with
    is_causal, so the causal part is folded into the mask. Rows with every key blocked
    give NaN in older PyTorch and 0 in minigrad (documented)."""
    t = torch()
    tq, tk = q.shape[-2], k.shape[-2]
    allowed = t.ones(tq, tk, dtype=t.bool).tril() if is_causal else None
    if mask is None:
        tmask = allowed
    elif mask.dtype == t.bool:
        tmask = mask if allowed is None else mask & allowed
    elif not mask.dtype.is_floating_point:
        tmask = mask                                      # an int mask: PyTorch refuses it too
    else:
        tmask = mask.to(q.dtype)
        if allowed is not None:
            tmask = tmask.masked_fill(~allowed, -float("inf"))
    out = F().scaled_dot_product_attention(q, k, v, attn_mask=tmask, scale=scale)
    return t.nan_to_num(out, nan=0.0)


@fuzz_settings(80)
@given(data=st.data(), dtype=float_dtypes, other=dtypes, batch=shapes(max_dims=2, max_side=2),
       t_q=st.integers(0, 3), t_k=st.integers(0, 3), d=st.integers(1, 3), dv=st.integers(1, 3),
       is_causal=st.booleans(), scale=st.sampled_from([None, None, 0.5, 2.0]),
       mask_kind=st.sampled_from([None, "bool", "float", "int"]))
def test_attention(data, dtype, other, batch, t_q, t_k, d, dv, is_causal, scale, mask_kind):
    r = rng(data)
    dtypes_ = [dtype, dtype, dtype]
    if data.draw(st.integers(0, 5), label="mixed dtype") == 0:
        dtypes_[data.draw(st.integers(0, 2), label="which")] = other
    kshape = batch + (t_k, d if data.draw(st.integers(0, 6), label="ok k") else d + 1)
    arrays = [values(r, batch + (t_q, d), dtypes_[0]), values(r, kshape, dtypes_[1]),
              values(r, batch + (t_k, dv), dtypes_[2])]
    mask = None
    if mask_kind is not None:
        mshape = data.draw(st.sampled_from([(t_q, t_k), (1, t_k), batch + (t_q, t_k), (t_k, t_q),
                                            (2, 2, 2)]), label="mask shape")
        mdtype = {"bool": np.bool_, "float": dtype, "int": np.int64}[mask_kind]
        mask = (r.random(mshape) < 0.3).astype(mdtype) if mask_kind != "float" else \
            np.where(r.random(mshape) < 0.3, -np.inf, r.uniform(-1, 1, mshape)).astype(mdtype)
    stricter = "a mask and is_causal together" if mask is not None and is_causal else None
    if mask is not None and not stricter:
        try:
            np.broadcast_shapes(mask.shape, batch + (t_q, t_k))
            fits = np.broadcast_shapes(mask.shape, batch + (t_q, t_k)) == batch + (t_q, t_k)
        except ValueError:
            fits = False
        if not fits:        # PyTorch lets it pass when no scores exist (an empty t_q or t_k)
            stricter = "a mask that does not broadcast to (..., t_q, t_k)"
    check("scaled_dot_product_attention",
          lambda q, k, v, m=None: mg.scaled_dot_product_attention(
              q, k, v, attn_mask=m, is_causal=is_causal, scale=scale),
          lambda q, k, v, m=None: _torch_attention(q, k, v, m, is_causal, scale),
          arrays + ([mask] if mask is not None else []), args=(scale,), stricter=stricter, grad=(0, 1, 2),
          tol=2e-2 if dtype == np.float16 else None, also=("attention",))


# ------------------------------------------------------------------ the Tensor protocol
PROTOCOL = {
    "item": (lambda x: x.item(), lambda x: x.item()),
    "float": (float, float),
    "int": (int, int),
    "bool": (bool, bool),
    "len": (len, len),
    "index": (lambda x: [10, 11, 12, 13][x], lambda x: [10, 11, 12, 13][x]),
    "tolist": (lambda x: x.tolist(), lambda x: x.tolist()),
    "iter": (lambda x: [t.shape for t in x], lambda x: [tuple(t.shape) for t in x]),
}


@pytest.mark.parametrize("name", sorted(PROTOCOL))
@fuzz_settings(25)
@given(data=st.data(), dtype=dtypes, shape=shapes(max_dims=2, max_side=2))
def test_python_protocol(name, data, dtype, shape):
    """item, float, int, bool, len, index, tolist, iteration: PyTorch's answer, or a
    MinigradError (or the TypeError / IndexError Python itself raises, which PyTorch
    raises too) whose message says what was wrong."""
    x = values(rng(data), shape, dtype)
    mine, theirs = PROTOCOL[name]
    try:
        expected = theirs(torch().from_numpy(x.copy()))
    except Exception as e:                                   # noqa: BLE001
        expected = e
    try:
        got = mine(mg.tensor(x))
    except (MinigradError, TypeError, IndexError, ValueError) as e:
        assert isinstance(expected, Exception), f"{name}: raised {e!r}, PyTorch gives {expected!r}"
        assert isinstance(e, MinigradError) or isinstance(e, type(expected)) or \
            isinstance(expected, (TypeError, ValueError, IndexError, RuntimeError)), (e, expected)
        assert str(e), f"{name}: an error without a message"
        count(ALSO_RAISED)
        return
    assert not isinstance(expected, Exception), f"{name}: gave {got!r}, PyTorch raised {expected!r}"
    assert got == expected and type(got) is type(expected), (name, got, expected)
    count(MATCHED)


@pytest.mark.filterwarnings("ignore::UserWarning")      # PyTorch's, about create_graph
@fuzz_settings(60)
@given(data=st.data(), shape=shapes(max_dims=3, max_side=3), gshape=shapes(max_dims=3, max_side=3),
       gdtype=dtypes, retain=st.booleans(), create=st.booleans())
def test_backward_with_any_gradient(data, shape, gshape, gdtype, retain, create):
    """backward(grad) with a gradient of the right or a wrong shape and any dtype; twice
    (retained or not). PyTorch's result, or a MinigradError naming backward."""
    r = rng(data)
    x = values(r, shape, np.float32)
    g = values(r, gshape if data.draw(st.booleans(), label="wrong shape") else shape, gdtype)
    t = torch()
    tx = t.from_numpy(x.copy()).requires_grad_(True)
    mx = mg.tensor(x, requires_grad=True)
    outcomes = []
    for fw, xx, gg in (("torch", tx, t.from_numpy(g.copy())), ("mg", mx, mg.tensor(g))):
        try:
            y = (xx * 2).tanh()
            y.backward(gg, retain_graph=retain, create_graph=create)
            y.backward(gg)
            outcomes.append(xx.grad.detach().numpy() if fw == "torch" else xx.grad.numpy())
        except MinigradError as e:
            assert "backward" in str(e) or "grad" in str(e), str(e)
            outcomes.append(e)
        except Exception as e:                               # noqa: BLE001
            assert fw == "torch", f"backward raised {type(e).__name__}: {e}"
            outcomes.append(e)
    theirs, mine = outcomes
    if isinstance(mine, Exception):
        assert isinstance(theirs, Exception), f"minigrad raised {mine!r}; PyTorch gave a gradient"
        count(ALSO_RAISED)
        return
    if isinstance(theirs, Exception) and create and not retain:
        # create_graph keeps the graph here: two backward passes, each adding
        # g * d tanh(2x)/dx = g * 2 (1 - tanh(2x)^2)
        want = 2 * (g.astype(np.float64) * 2 * (1 - np.tanh(2 * x.astype(np.float64)) ** 2))
        np.testing.assert_allclose(mine, want, rtol=1e-4, atol=1e-4)
        count(NUMPY_REFERENCE)
        return
    assert not isinstance(theirs, Exception), f"PyTorch raised {theirs!r}; minigrad gave {mine}"
    np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-4)
    count(MATCHED)


@pytest.mark.parametrize("op", ["zero_", "fill_", "copy_", "setitem"])
@fuzz_settings(20)
@given(data=st.data(), requires_grad=st.booleans(), under_no_grad=st.booleans(),
       computed=st.booleans())
def test_in_place_changes(op, data, requires_grad, under_no_grad, computed):
    """As in PyTorch: in-place changes of plain tensors, and of any tensor under no_grad
    (a leaf that requires grad, or a computed one: its version goes up), are allowed; of a
    leaf that requires grad with grad mode on, refused with a MinigradError naming the op.
    On a computed tensor with grad mode on, copy_ and item assignment are recorded, as in
    PyTorch; zero_ and fill_ are refused (PyTorch records them too: docs/torch_compat.md)."""
    x = mg.randn(2, 3, requires_grad=requires_grad)
    if computed:
        x = x * 2
    before = x.numpy().copy()
    source = rng(data).uniform(-3, 3, (2, 3)).astype(np.float32)
    calls = {"zero_": lambda: x.zero_(), "fill_": lambda: x.fill_(1.5),
             "copy_": lambda: x.copy_(mg.tensor(source)), "setitem": lambda: x.__setitem__(0, 7.0)}
    want = {"zero_": np.zeros((2, 3), np.float32), "fill_": np.full((2, 3), 1.5, np.float32),
            "copy_": source, "setitem": np.concatenate([np.full((1, 3), 7.0, np.float32),
                                                        before[1:]])}[op]
    ctx = mg.no_grad() if under_no_grad else mg.enable_grad()
    with ctx:
        allowed = under_no_grad or not x.requires_grad or \
            (computed and op in ("copy_", "setitem"))              # recorded (CopySlices)
        if allowed:
            data_before = x.array
            result = calls[op]()
            np.testing.assert_array_equal(x.numpy(), want)          # changed as asked...
            assert x.array is data_before and x.dtype == np.float32   # ...in place
            assert op == "setitem" or result is x                    # and returned itself
            count(NUMPY_ONLY)
        else:
            expect_error(op, calls[op], also=("in-place",))
            np.testing.assert_array_equal(x.numpy(), before)         # and left unchanged


def test_every_kind_of_outcome_was_counted():
    """Runs after the file's fuzz cases: each kind of outcome they can end in happened
    (a count of zero means a check that never runs)."""
    assert_counted(__file__, [MATCHED, ALSO_RAISED, EXPECTED_ERROR, STRICTER, EMPTY_UNCHECKED,
                              NUMPY_REFERENCE, FLOAT64_REFERENCE, NUMPY_ONLY])

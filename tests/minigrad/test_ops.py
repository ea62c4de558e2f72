"""Every differentiable op, checked three ways from one table.

Each `Spec` names an op, a hypothesis recipe for its inputs (shapes, axes,
masks, indices) and the same computation in minigrad and in PyTorch. From the
table come:

* `test_gradcheck`: float64 central differences (`minigrad.gradcheck`);
* `test_matches_torch`: forward and every input gradient equal PyTorch's
  (float32 within 1e-5, float64 within 1e-10);
* `test_float32_stays_float32`: float32 in, float32 out, and no float64 array
  anywhere in the forward or backward pass.

Inputs are drawn with broadcastable shape pairs, size-1 and size-0 dims,
negative axes, keepdims, and laid out contiguous, transposed or sliced (the op
sees a non-contiguous view). `MINIGRAD_EXAMPLES=200` runs a thorough search.
"""
import os
from dataclasses import dataclass, field
from typing import Callable, Optional
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad import ops
from minigrad.tensor import Tensor
from opspecs import Case, outputs, rng
from testutil import FRESH_CASES, assert_close, require_torch

EXAMPLES = int(os.environ.get("MINIGRAD_EXAMPLES", "15"))
# The same cases on every run; MINIGRAD_HYPOTHESIS_RANDOM=1 draws fresh ones (testutil)
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=not FRESH_CASES,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ------------------------------------------------------------------ drawing inputs
def values(r, shape, kind="normal"):
    """float64 values of one input; `kind` keeps them where the op is smooth."""
    if kind == "normal":
        return r.standard_normal(shape)
    if kind == "positive":                      # log, sqrt, fractional powers
        return r.uniform(0.5, 2.0, shape)
    if kind == "nonzero":                       # away from kinks at 0 and from division by 0
        return r.choice([-1.0, 1.0], shape) * r.uniform(0.3, 2.0, shape)
    if kind == "ties":                          # a small grid: many equal values
        return r.integers(-1, 2, shape).astype(np.float64)
    raise ValueError(kind)


def shapes(min_dims=0, max_dims=4, min_side=0, max_side=3):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def pair_shapes(data, max_dims=3, num=2):
    return data.draw(hnp.mutually_broadcastable_shapes(
        num_shapes=num, max_dims=max_dims, min_side=0, max_side=3)).input_shapes


def axis_arg(data, ndim):
    """None, one axis or a tuple of distinct axes, negatives included."""
    if ndim == 0:
        return None
    one = st.integers(-ndim, ndim - 1)
    many = st.lists(one, min_size=1, max_size=ndim, unique_by=lambda a: a % ndim).map(tuple)
    return data.draw(st.none() | one | many, label="axis")


def reduced(shape, axis):
    axes = range(len(shape)) if axis is None else (axis,) if isinstance(axis, int) else axis
    return int(np.prod([shape[a] for a in axes]))


def torch_dims(axis, ndim):
    return tuple(range(ndim)) if axis is None else axis


LAYOUTS = ("contiguous", "transposed", "sliced")


def lay_out(vals, dtype, layout):
    """`vals` as an array of `dtype` whose memory is contiguous, transposed or strided."""
    vals = np.asarray(vals, dtype=dtype)
    if vals.ndim == 0 or layout == "contiguous":
        return vals.copy()
    if layout == "transposed":                   # Fortran order: a transposed buffer
        view = np.empty(vals.shape[::-1], dtype).T
    else:                                        # every other element of a wider buffer
        view = np.zeros(vals.shape[:-1] + (2 * vals.shape[-1] + 1,), dtype)[..., 1::2]
    view[...] = vals
    return view


@dataclass
class Spec:
    name: str
    draw: Callable                       # data -> Case
    mg: Callable                         # (*tensors, **params) -> Tensor or tuple
    torch: Optional[Callable] = None     # same in PyTorch (None: no PyTorch counterpart)
    gradcheck: bool = True
    gradcheck_kw: dict = field(default_factory=dict)
    gradcheck_params: dict = field(default_factory=dict)   # override drawn params for gradcheck
    keeps_dtype: bool = True             # float32 in -> float32 out

    def __repr__(self):
        return self.name


def _torch():
    import torch
    return torch


def _F():
    import torch.nn.functional as F
    return F


def _t(array):
    return _torch().from_numpy(np.array(array, order="C"))


# ------------------------------------------------------------------ recipes
def unary(kind="normal", **params):
    def draw(data):
        return Case([values(rng(data), data.draw(shapes()), kind)], dict(params))
    return draw


def binary(kind_a="normal", kind_b="normal"):
    def draw(data):
        sa, sb = pair_shapes(data)
        r = rng(data)
        return Case([values(r, sa, kind_a), values(r, sb, kind_b)])
    return draw


SCALAR_OPS = {
    "add": lambda x, c: x + c, "radd": lambda x, c: c + x,
    "sub": lambda x, c: x - c, "rsub": lambda x, c: c - x,
    "mul": lambda x, c: x * c, "rmul": lambda x, c: c * x,
    "div": lambda x, c: x / c, "rdiv": lambda x, c: c / x,
}
SCALARS = {"float": 2.5, "int": 3, "negative": -0.75, "np.float64": np.float64(1.5)}


def draw_scalar_arith(data):
    op = data.draw(st.sampled_from(sorted(SCALAR_OPS)))
    c = SCALARS[data.draw(st.sampled_from(sorted(SCALARS)))]
    kind = "nonzero" if op == "rdiv" else "normal"
    return Case([values(rng(data), data.draw(shapes()), kind)], dict(op=op, c=c))


def scalar_arith(x, op, c):
    if isinstance(c, np.generic) and not isinstance(x, Tensor):
        c = float(c)                            # torch treats NumPy scalars as tensors
    return SCALAR_OPS[op](x, c)


def draw_pow_scalar(data):
    p = data.draw(st.sampled_from([0, 1, 2, 3, -1, 0.5, -1.5, 2.5]))
    kind = "nonzero" if isinstance(p, int) else "positive"
    return Case([values(rng(data), data.draw(shapes()), kind)], dict(p=p))


def draw_clip(data):
    lo, hi = data.draw(st.sampled_from([(-0.5, 0.7), (None, 0.3), (-0.2, None), (0.1, 0.1)]))
    x = values(rng(data), data.draw(shapes()))
    for bound in (lo, hi):                      # keep finite differences off the corners
        if bound is not None:
            x = np.where(np.abs(x - bound) < 1e-3, x + 0.01, x)
    return Case([x], dict(lo=lo, hi=hi))


def draw_where(data):
    sc, sa, sb = pair_shapes(data, num=3)
    r = rng(data)
    return Case([values(r, sa), values(r, sb)], dict(cond=r.random(sc) < 0.5))


def smaller_shape(data, shape):
    """A shape that broadcasts *to* `shape`: fewer leading dims, some dims 1."""
    drop = data.draw(st.integers(0, len(shape)))
    ones = data.draw(st.lists(st.booleans(), min_size=len(shape) - drop,
                              max_size=len(shape) - drop))
    return tuple(1 if one else s for one, s in zip(ones, shape[drop:]))


def draw_masked_fill(data, fills=(-1.5, 0.0, 3.0)):
    shape = data.draw(shapes())
    r = rng(data)
    mask = r.random(smaller_shape(data, shape)) < 0.5
    return Case([values(r, shape)], dict(mask=mask, value=data.draw(st.sampled_from(fills))))


def draw_reduction(min_count=0, correction=False):
    def draw(data):
        shape = data.draw(shapes())
        axis = axis_arg(data, len(shape))
        params = dict(axis=axis, keepdims=data.draw(st.booleans(), label="keepdims"))
        if correction:
            params["correction"] = data.draw(st.sampled_from([0, 1]))
        # mean/var/max/min over an empty axis have no value (NaN, or an error)
        assume(reduced(shape, axis) >= min_count + params.get("correction", 0))
        return Case([values(rng(data), shape)], params)
    return draw


def draw_extreme(kind):
    def draw(data):
        shape = data.draw(shapes())
        axis = axis_arg(data, len(shape))
        if reduced(shape, axis) == 0:
            # reducing over no element is an error; over a non-empty axis of an empty tensor not
            nonempty = [i for i, s in enumerate(shape) if s > 0]
            axis = (nonempty[-1] - len(shape)) if nonempty else None
            if axis is None:
                shape = tuple(max(s, 1) for s in shape)
        return Case([values(rng(data), shape, kind)],
                    dict(axis=axis, keepdims=data.draw(st.booleans())))
    return draw


def draw_reshape(data):
    shape = data.draw(shapes())
    size = int(np.prod(shape))
    targets = [(size,), (-1,), shape[::-1], (1,) + shape, shape + (1,)]
    if len(shape) >= 2:
        targets.append((shape[0] * shape[1],) + shape[2:])
    if shape and shape[0] > 0:
        targets.append((shape[0], -1))
    return Case([values(rng(data), shape)], dict(shape=data.draw(st.sampled_from(targets))))


def draw_permute(data):
    shape = data.draw(shapes())
    perm = data.draw(st.permutations(range(len(shape))))
    neg = data.draw(st.lists(st.booleans(), min_size=len(shape), max_size=len(shape)))
    axes = tuple(a - len(shape) if n else a for a, n in zip(perm, neg))
    return Case([values(rng(data), shape)], dict(axes=axes))


def draw_two_axes(data):
    shape = data.draw(shapes(min_dims=1))
    ax = st.integers(-len(shape), len(shape) - 1)
    return Case([values(rng(data), shape)], dict(a0=data.draw(ax), a1=data.draw(ax)))


def draw_expand(minus_one):
    def draw(data):
        shape = data.draw(shapes(max_dims=3))
        lead = data.draw(st.lists(st.integers(0, 3), max_size=2))
        target = list(lead)
        for s in shape:
            if s == 1:
                target.append(data.draw(st.integers(0, 3)))
            else:
                target.append(-1 if minus_one and data.draw(st.booleans()) else s)
        return Case([values(rng(data), shape)], dict(shape=tuple(target)))
    return draw


def draw_squeeze(data):
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=2))
    n = len(shape)
    axis = None if n == 0 else data.draw(
        st.none() | st.integers(-n, n - 1)
        | st.lists(st.integers(-n, n - 1), min_size=1, max_size=n, unique_by=lambda a: a % n).map(tuple))
    return Case([values(rng(data), shape)], dict(axis=axis))


def draw_unsqueeze(data):
    shape = data.draw(shapes())
    return Case([values(rng(data), shape)],
                dict(axis=data.draw(st.integers(-len(shape) - 1, len(shape)))))


def draw_flatten(data):
    shape = data.draw(shapes(min_dims=1))
    n = len(shape)
    start, end = sorted(data.draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2)))
    if data.draw(st.booleans()):
        start -= n
    if data.draw(st.booleans()):
        end -= n
    return Case([values(rng(data), shape)], dict(start=start, end=end))


def draw_concat(data):
    shape = data.draw(shapes(min_dims=1))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    sizes = data.draw(st.lists(st.integers(0, 3), min_size=1, max_size=3))
    r = rng(data)
    parts = []
    for s in sizes:
        part = list(shape)
        part[axis] = s
        parts.append(values(r, tuple(part)))
    return Case(parts, dict(axis=axis))


def draw_stack(data):
    shape = data.draw(shapes(max_dims=3))
    n = data.draw(st.integers(1, 3))
    r = rng(data)
    return Case([values(r, shape) for _ in range(n)],
                dict(axis=data.draw(st.integers(-len(shape) - 1, len(shape)))))


def draw_split(data):
    shape = data.draw(shapes(min_dims=1, max_side=5))
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[axis]
    if data.draw(st.booleans()):
        how = data.draw(st.integers(1, 6))
    else:                                      # sections that add up to n, zeros allowed
        cuts = sorted(data.draw(st.lists(st.integers(0, n), max_size=3)))
        how = [b - a for a, b in zip([0] + cuts, cuts + [n])]
    return Case([values(rng(data), shape)], dict(how=how, axis=axis))


def draw_chunk(data):
    shape = data.draw(shapes(min_dims=1, max_side=5))
    return Case([values(rng(data), shape)],
                dict(chunks=data.draw(st.integers(1, 4)),
                     axis=data.draw(st.integers(-len(shape), len(shape) - 1))))


def draw_basic_index(negative_steps):
    def draw(data):
        shape = data.draw(shapes(min_dims=1, max_side=4))
        k = data.draw(st.integers(1, len(shape)))
        ellipsis = data.draw(st.booleans())       # then the index covers the last k axes
        index = []
        for s in (shape[len(shape) - k:] if ellipsis else shape[:k]):
            choices = [st.builds(slice, st.none() | st.integers(-5, 5), st.none() | st.integers(-5, 5),
                                 st.none() | st.integers(-3, -1) if negative_steps else
                                 st.none() | st.integers(1, 3))]
            if s > 0:
                choices.append(st.integers(-s, s - 1))
            index.append(data.draw(st.one_of(*choices)))
            if data.draw(st.integers(0, 5)) == 0:
                index.append(None)
        if ellipsis:
            index.insert(0, Ellipsis)
        return Case([values(rng(data), shape)], dict(index=tuple(index)))
    return draw


def draw_int_index(data):
    """Integer arrays, repeats and negatives included, in one axis or paired in two."""
    shape = data.draw(shapes(min_dims=1, max_side=4))
    r = rng(data)
    axis = data.draw(st.integers(0, len(shape) - 1))
    idx_shape = data.draw(shapes(min_dims=1, max_dims=2, max_side=5))

    def ids(n):
        return r.integers(-n, n, idx_shape) if n else np.zeros((0,), np.int64)
    index = [slice(None)] * axis + [ids(shape[axis])]
    if axis + 1 < len(shape) and shape[axis] and shape[axis + 1] and data.draw(st.booleans()):
        index.append(ids(shape[axis + 1]))
    if data.draw(st.booleans()):
        index.append(Ellipsis)                  # x[i, ...]: the rest of the axes
    return Case([values(r, shape)], dict(index=tuple(index)))


def draw_bool_index(data):
    """A mask over the leading axes (x[m], x[m, ...]) or the trailing ones (x[..., m])."""
    shape = data.draw(shapes(min_dims=1, max_side=4))
    r = rng(data)
    k = data.draw(st.integers(1, len(shape)))
    where = data.draw(st.sampled_from(["m", "m, ...", "..., m"]))
    mask = r.random(shape[len(shape) - k:] if where == "..., m" else shape[:k]) < 0.5
    index = {"m": (mask,), "m, ...": (mask, Ellipsis), "..., m": (Ellipsis, mask)}[where]
    return Case([values(r, shape)], dict(index=index))


def draw_take(data):
    shape = data.draw(shapes(min_dims=1, min_side=1, max_side=4))
    r = rng(data)
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    idx = r.integers(0, shape[axis], data.draw(shapes(min_dims=1, max_dims=2, max_side=5)))
    return Case([values(r, shape)], dict(idx=idx, axis=axis))


def draw_matmul(data):
    sa, sb = data.draw(hnp.mutually_broadcastable_shapes(
        signature=np.matmul.signature, max_dims=2, min_side=0, max_side=3)).input_shapes
    r = rng(data)
    return Case([values(r, sa), values(r, sb)])


def draw_softmax(data):
    shape = data.draw(shapes(min_dims=1))
    return Case([values(rng(data), shape) * 3],
                dict(axis=data.draw(st.integers(-len(shape), len(shape) - 1))))


def draw_layer_norm(data):
    shape = data.draw(shapes(min_dims=1))
    nd = data.draw(st.integers(1, min(2, len(shape))))
    norm = shape[len(shape) - nd:]
    if 0 in norm:
        norm = tuple(max(s, 1) for s in norm)
        shape = shape[:len(shape) - nd] + norm
    r = rng(data)
    has_w, has_b = data.draw(st.booleans()), data.draw(st.booleans())
    vals = [values(r, shape)] + [values(r, norm)] * has_w + [values(r, norm)] * has_b
    return Case(vals, dict(norm=norm, has_w=has_w, has_b=has_b))


def layer_norm(fn):
    def run(x, *wb, norm, has_w, has_b):
        w = wb[0] if has_w else None
        b = wb[-1] if has_b else None
        return fn(x, norm, w, b, 1e-5)
    return run


def draw_dropout(data):
    return Case([values(rng(data), data.draw(shapes()))],
                dict(p=data.draw(st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0])),
                     seed=data.draw(st.integers(0, 1000))))


def mg_dropout(x, p, seed):
    mg.manual_seed(seed)                   # the same mask on every call (gradcheck calls often)
    return mg.dropout(x, p)


def torch_dropout(x, p, seed):
    """x times the mask that minigrad's documented CPU draw gives for that seed, drawn
    here with NumPy alone (not with minigrad's dropout_mask): manual_seed(seed) seeds an
    SFC64 generator; each element takes 16 raw bits (four per 64-bit draw) and is kept
    when they are below round((1 - p) * 65536); kept elements are scaled by 1/(1-p)."""
    if p in (0.0, 1.0):
        return x * (1.0 - p)
    n = int(np.prod(tuple(x.shape)))
    bits = np.random.SFC64(seed).random_raw((n + 3) // 4).view(np.uint16)[:n]
    keep = (bits < max(1, round((1.0 - p) * 65536))).reshape(tuple(x.shape))
    dtype = np.dtype(str(x.dtype).replace("torch.", ""))
    return x * _t(keep.astype(dtype) * dtype.type(1.0 / (1.0 - p)))


def draw_cross_entropy(data):
    r = rng(data)
    c = data.draw(st.integers(1, 5))
    layout = data.draw(st.sampled_from(["NC", "NCd", "C"]))
    n = data.draw(st.integers(0, 4))
    if layout == "NC":
        shape, tshape = (n, c), (n,)
    elif layout == "NCd":
        d = data.draw(st.integers(0, 3))
        shape, tshape = (n, c, d), (n, d)
    else:
        shape, tshape = (c,), ()
    ignore_index = data.draw(st.sampled_from([-100, 0]))
    if ignore_index == 0:
        c = max(c, 2)
        shape = shape[:1] + (c,) + shape[2:] if layout != "C" else (c,)
    targets = r.integers(0, c, tshape)
    targets = np.where(r.random(tshape) < 0.3, ignore_index, targets)
    if targets.size:                            # at least one counted target (else the mean is NaN)
        targets.reshape(-1)[0] = c - 1
    return Case([values(r, shape) * 2],
                dict(targets=targets, ignore_index=ignore_index,
                     label_smoothing=data.draw(st.sampled_from([0.0, 0.1, 0.3])),
                     reduction=data.draw(st.sampled_from(["mean", "sum", "none"]))))


def mg_cross_entropy(x, targets, **kw):
    return mg.cross_entropy(x, targets, **kw)


def torch_cross_entropy(x, targets, **kw):
    return _F().cross_entropy(x, _t(targets), **kw)


def draw_embedding(data):
    r = rng(data)
    vocab, dim = data.draw(st.integers(1, 5)), data.draw(st.integers(0, 3))
    ids = r.integers(0, vocab, data.draw(shapes(max_dims=2, max_side=5)))
    padding_idx = data.draw(st.none() | st.integers(-vocab, vocab - 1))
    return Case([values(r, (vocab, dim))], dict(ids=ids, padding_idx=padding_idx))


def draw_attention(data):
    bq, bk = pair_shapes(data, max_dims=2)
    t, s = data.draw(st.integers(0, 3)), data.draw(st.integers(1, 4))
    if t == 0 or 0 in np.broadcast_shapes(bq, bk):
        bq = bk = np.broadcast_shapes(bq, bk)   # PyTorch returns query-shaped empty outputs
    d, dv = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3))
    r = rng(data)
    score = np.broadcast_shapes(bq, bk) + (t, s)
    mask_kind = data.draw(st.sampled_from(["none", "bool", "float", "causal", "bool+causal"]))
    mask = None
    if mask_kind.startswith("bool") or mask_kind == "float":
        mshape = data.draw(st.sampled_from([(t, s), (1, s), score]))
        if mask_kind == "float":
            mask = r.standard_normal(mshape)
            mask[r.random(mshape) < 0.2] = -np.inf
        else:
            mask = r.random(mshape) < 0.3
        if data.draw(st.booleans(), label="a fully masked row") and mshape[-2] == t and t:
            mask[..., 0, :] = -np.inf if mask_kind == "float" else True
    scale = data.draw(st.sampled_from([None, 0.3]))
    return Case([values(r, bq + (t, d)), values(r, bk + (s, d)), values(r, bk + (s, dv))],
                dict(mask=mask, is_causal="causal" in mask_kind, scale=scale))


def mg_attention(q, k, v, mask, is_causal, scale):
    if mask is not None and mask.dtype.kind == "f":
        mask = mask.astype(q.dtype)
    if mask is not None and mask.dtype == np.bool_:
        mask = ~mask                            # the cases draw True = blocked; True: may attend
    return mg.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal,
                                           scale=scale)


def torch_attention(q, k, v, mask, is_causal, scale):
    """PyTorch's bool mask means 'may attend'; it also refuses a mask together with is_causal."""
    torch = _torch()
    t, s = q.shape[-2], k.shape[-2]
    allowed = torch.ones(t, s, dtype=torch.bool).tril() if is_causal else None
    if mask is None:
        tmask = allowed
    elif mask.dtype == np.bool_:
        tmask = ~_t(mask) if allowed is None else (~_t(mask)) & allowed
    else:
        tmask = _t(mask).to(q.dtype)
        if allowed is not None:
            tmask = tmask.masked_fill(~allowed, -float("inf"))
    return _F().scaled_dot_product_attention(q, k, v, attn_mask=tmask, scale=scale)


def draw_cast(data):
    return Case([values(rng(data), data.draw(shapes()))],
                dict(to=data.draw(st.sampled_from(["float32", "float64"]))))


def torch_cast(x, to):
    return x.to(getattr(_torch(), to))


# ------------------------------------------------------------------ the table
def _index(x, index):
    return x[tuple(_t(i) if isinstance(i, np.ndarray) else i for i in index)] \
        if not isinstance(x, Tensor) else x[index]


SPECS = [
    # arithmetic, broadcasting pairs
    Spec("add", binary(), lambda a, b: a + b, lambda a, b: a + b),
    Spec("sub", binary(), lambda a, b: a - b, lambda a, b: a - b),
    Spec("mul", binary(), lambda a, b: a * b, lambda a, b: a * b),
    Spec("div", binary("normal", "nonzero"), lambda a, b: a / b, lambda a, b: a / b),
    Spec("pow_tensor", binary("positive", "normal"), lambda a, b: a ** b, lambda a, b: a ** b),
    Spec("maximum", binary(), mg.maximum, lambda a, b: _torch().maximum(a, b)),
    Spec("minimum", binary(), mg.minimum, lambda a, b: _torch().minimum(a, b)),
    Spec("maximum_ties", binary("ties", "ties"), mg.maximum, lambda a, b: _torch().maximum(a, b),
         gradcheck=False),
    Spec("minimum_ties", binary("ties", "ties"), mg.minimum, lambda a, b: _torch().minimum(a, b),
         gradcheck=False),
    Spec("scalar_arith", draw_scalar_arith, scalar_arith, scalar_arith),
    Spec("pow_scalar", draw_pow_scalar, lambda x, p: x ** p, lambda x, p: x ** p),
    Spec("pow_scalar_at_zero", lambda d: Case([values(rng(d), d.draw(shapes()), "ties")],
                                               dict(p=d.draw(st.sampled_from([0, 1, 2, 3])))),
         lambda x, p: x ** p, lambda x, p: x ** p, gradcheck=False),
    Spec("rpow_scalar", unary(), lambda x: 2.0 ** x, lambda x: 2.0 ** x),
    Spec("neg", unary(), lambda x: -x, lambda x: -x),
    # unary math
    Spec("exp", unary(), mg.exp, lambda x: x.exp()),
    Spec("log", unary("positive"), mg.log, lambda x: x.log()),
    Spec("sqrt", unary("positive"), mg.sqrt, lambda x: x.sqrt()),
    Spec("tanh", unary(), mg.tanh, lambda x: x.tanh()),
    Spec("sigmoid", unary(), mg.sigmoid, lambda x: x.sigmoid()),
    Spec("relu", unary("nonzero"), mg.relu, lambda x: x.relu()),
    Spec("relu_at_zero", unary("ties"), mg.relu, lambda x: x.relu(), gradcheck=False),
    Spec("abs", unary("nonzero"), mg.abs, lambda x: x.abs()),
    Spec("clip", draw_clip, lambda x, lo, hi: mg.clip(x, lo, hi),
         lambda x, lo, hi: x.clamp(lo, hi)),
    Spec("gelu", unary(approximate="none"), lambda x, approximate: mg.gelu(x, approximate),
         lambda x, approximate: _F().gelu(x, approximate=approximate)),
    Spec("gelu_tanh", unary(approximate="tanh"), lambda x, approximate: mg.gelu(x, approximate),
         lambda x, approximate: _F().gelu(x, approximate=approximate)),
    Spec("astype", draw_cast, lambda x, to: x.astype(to), torch_cast,
         gradcheck_kw=dict(eps=1e-2), keeps_dtype=False),
    # selection
    Spec("where", draw_where, lambda a, b, cond: mg.where(cond, a, b),
         lambda a, b, cond: _torch().where(_t(cond), a, b)),
    Spec("masked_fill", draw_masked_fill, lambda x, mask, value: mg.masked_fill(x, mask, value),
         lambda x, mask, value: x.masked_fill(_t(mask), value)),
    Spec("masked_fill_inf", lambda d: draw_masked_fill(d, (-np.inf,)),
         lambda x, mask, value: mg.masked_fill(x, mask, value),
         lambda x, mask, value: x.masked_fill(_t(mask), value), gradcheck=False),
    # reductions
    Spec("sum", draw_reduction(), lambda x, axis, keepdims: x.sum(axis, keepdims),
         lambda x, axis, keepdims: x.sum(torch_dims(axis, x.ndim), keepdim=keepdims)),
    Spec("mean", draw_reduction(min_count=1), lambda x, axis, keepdims: x.mean(axis, keepdims),
         lambda x, axis, keepdims: x.mean(torch_dims(axis, x.ndim), keepdim=keepdims)),
    Spec("var", draw_reduction(min_count=1, correction=True),
         lambda x, axis, keepdims, correction: x.var(axis, keepdims, correction=correction),
         lambda x, axis, keepdims, correction: x.var(torch_dims(axis, x.ndim), keepdim=keepdims,
                                                     correction=correction)),
    Spec("max", draw_extreme("normal"), lambda x, axis, keepdims: x.amax(axis, keepdims),
         lambda x, axis, keepdims: x.amax(torch_dims(axis, x.ndim), keepdim=keepdims)),
    Spec("min", draw_extreme("normal"), lambda x, axis, keepdims: x.amin(axis, keepdims),
         lambda x, axis, keepdims: x.amin(torch_dims(axis, x.ndim), keepdim=keepdims)),
    Spec("max_ties", draw_extreme("ties"), lambda x, axis, keepdims: x.amax(axis, keepdims),
         lambda x, axis, keepdims: x.amax(torch_dims(axis, x.ndim), keepdim=keepdims),
         gradcheck=False),
    Spec("min_ties", draw_extreme("ties"), lambda x, axis, keepdims: x.amin(axis, keepdims),
         lambda x, axis, keepdims: x.amin(torch_dims(axis, x.ndim), keepdim=keepdims),
         gradcheck=False),
    # movement
    Spec("reshape", draw_reshape, lambda x, shape: x.reshape(shape),
         lambda x, shape: x.reshape(shape)),
    Spec("permute", draw_permute, lambda x, axes: x.permute(*axes),
         lambda x, axes: x.permute(axes)),
    Spec("transpose", draw_two_axes, lambda x, a0, a1: x.transpose(a0, a1),
         lambda x, a0, a1: x.transpose(a0, a1)),
    Spec("swapaxes", draw_two_axes, lambda x, a0, a1: ops.swapaxes(x, a0, a1),
         lambda x, a0, a1: x.swapaxes(a0, a1)),
    Spec("expand", draw_expand(True), lambda x, shape: x.expand(*shape),
         lambda x, shape: x.expand(shape)),
    Spec("broadcast_to", draw_expand(False), lambda x, shape: x.broadcast_to(shape),
         lambda x, shape: x.broadcast_to(shape)),
    Spec("squeeze", draw_squeeze, lambda x, axis: x.squeeze(axis),
         lambda x, axis: x.squeeze() if axis is None else x.squeeze(axis)),
    Spec("unsqueeze", draw_unsqueeze, lambda x, axis: x.unsqueeze(axis),
         lambda x, axis: x.unsqueeze(axis)),
    Spec("flatten", draw_flatten, lambda x, start, end: x.flatten(start, end),
         lambda x, start, end: x.flatten(start, end)),
    Spec("concat", draw_concat, lambda *xs, axis: mg.concat(xs, axis),
         lambda *xs, axis: _torch().cat(xs, axis)),
    Spec("stack", draw_stack, lambda *xs, axis: mg.stack(xs, axis),
         lambda *xs, axis: _torch().stack(xs, axis)),
    Spec("split", draw_split, lambda x, how, axis: x.split(how, axis),
         lambda x, how, axis: x.split(how, axis)),
    Spec("chunk", draw_chunk, lambda x, chunks, axis: x.chunk(chunks, axis),
         lambda x, chunks, axis: x.chunk(chunks, axis)),
    # indexing
    Spec("getitem_basic", draw_basic_index(False), _index, _index),
    Spec("getitem_negative_step", draw_basic_index(True), _index, None),
    Spec("getitem_int_array", draw_int_index, _index, _index),
    Spec("getitem_bool_mask", draw_bool_index, _index, _index),
    Spec("take", draw_take, lambda x, idx, axis: ops.take(x, idx, axis),
         lambda x, idx, axis: x[(slice(None),) * (axis % x.ndim) + (_t(idx),)]),
    # linear algebra and the fused ops
    Spec("matmul", draw_matmul, lambda a, b: a @ b, lambda a, b: a @ b),
    Spec("softmax", draw_softmax, lambda x, axis: mg.softmax(x, axis),
         lambda x, axis: x.softmax(axis)),
    Spec("log_softmax", draw_softmax, lambda x, axis: mg.log_softmax(x, axis),
         lambda x, axis: x.log_softmax(axis)),
    Spec("layer_norm", draw_layer_norm, layer_norm(mg.layer_norm),
         layer_norm(lambda *a: _F().layer_norm(*a))),
    Spec("dropout", draw_dropout, mg_dropout, torch_dropout),
    Spec("cross_entropy", draw_cross_entropy, mg_cross_entropy, torch_cross_entropy),
    Spec("embedding", draw_embedding, lambda w, ids, padding_idx: mg.embedding(ids, w, padding_idx),
         lambda w, ids, padding_idx: _F().embedding(_t(ids), w, padding_idx),
         # the padding row's gradient is zeroed on purpose: not the true derivative
         gradcheck_params=dict(padding_idx=None)),
    Spec("attention", draw_attention, mg_attention, torch_attention),
]


# ------------------------------------------------------------------ running a spec
def make_inputs(case, dtype, data):
    layouts = [data.draw(st.sampled_from(LAYOUTS), label="layout") for _ in case.values]
    return [lay_out(v, dtype, lay) for v, lay in zip(case.values, layouts)]


@pytest.mark.parametrize("spec", [s for s in SPECS if s.gradcheck], ids=repr)
@SETTINGS
@given(data=st.data())
def test_gradcheck(spec, data):
    case = spec.draw(data)
    xs = [Tensor(a, requires_grad=True) for a in make_inputs(case, np.float64, data)]
    params = {**case.params, **spec.gradcheck_params}
    assert mg.gradcheck(lambda *t: spec.mg(*t, **params), xs, **spec.gradcheck_kw)


@pytest.mark.torch
@pytest.mark.filterwarnings("ignore:var\\(\\)")   # PyTorch's, on empty tensors
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("spec", [s for s in SPECS if s.torch], ids=repr)
@SETTINGS
@given(data=st.data())
def test_matches_torch(spec, dtype, data):
    torch = require_torch()
    case = spec.draw(data)
    arrays = make_inputs(case, dtype, data)
    xs = [Tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(np.array(a, order="C"), requires_grad=True) for a in arrays]
    outs = outputs(spec.mg(*xs, **case.params))
    touts = outputs(spec.torch(*ts, **case.params))
    assert len(outs) == len(touts)
    r = np.random.default_rng(0)
    weights = [r.standard_normal(o.shape).astype(o.dtype) for o in outs]
    grads = mg.grad(outs, xs, grad_outputs=[Tensor(w) for w in weights], allow_unused=True)
    tgrads = torch_grads(touts, ts, weights)
    # in float32 the float64 result tells rounding noise (of either side) from a real mismatch
    exact = float64_torch(spec, case, arrays, weights) if dtype == np.float32 else None
    for i, (o, t) in enumerate(zip(outs, touts)):
        assert str(o.dtype) == str(t.dtype).replace("torch.", "")
        assert_matches(o, t, exact and exact[0][i])
    for i, (x, g, tg) in enumerate(zip(xs, grads, tgrads)):
        g = np.zeros(x.shape, x.dtype) if g is None else g
        assert g.dtype == x.dtype
        assert_matches(g, tg, exact and exact[1][i])


def torch_grads(outs, inputs, weights):
    torch = require_torch()
    grads = torch.autograd.grad(outs, inputs, grad_outputs=[torch.from_numpy(w) for w in weights],
                                allow_unused=True)
    return [torch.zeros_like(x) if g is None else g for x, g in zip(inputs, grads)]


def float64_torch(spec, case, arrays, weights):
    """PyTorch's outputs and gradients in float64 on the very same (float32) values."""
    torch = require_torch()
    ts = [torch.tensor(np.array(a, np.float64), requires_grad=True) for a in arrays]
    outs = outputs(spec.torch(*ts, **case.params))
    return outs, torch_grads(outs, ts, [w.astype(np.float64) for w in weights])


def assert_matches(actual, expected, exact=None):
    """Within 1e-5 (float32) or 1e-10 (float64) of PyTorch. In float32 a larger gap is
    accepted only where PyTorch's own float32 result is that far from the float64 one
    (ill-conditioned cases such as layer_norm over two elements): minigrad must then be
    at least as close to the float64 result as PyTorch is, give or take 1e-5."""
    try:
        assert_close(actual, expected)
    except AssertionError:
        if exact is None:
            raise
        a = actual.numpy() if isinstance(actual, Tensor) else np.asarray(actual)
        e, t = exact.detach().numpy(), expected.detach().numpy().astype(np.float64)
        own_error = np.abs(a - e)
        allowed = np.abs(t - e) + 1e-5 * (1 + np.abs(e))
        bad = own_error > allowed
        assert not bad.any(), (
            f"float32 result off the float64 one by {own_error[bad].max():.3g} where PyTorch's "
            f"float32 is off by {np.abs(t - e)[bad].max():.3g}")


def _no_float64_made():
    """Patch Tensor._make (every op's output and gradient passes it) to catch float64."""
    made = []
    original = Tensor._make.__func__

    def spy(cls, data, requires_grad, ctx):
        made.append((getattr(ctx, "name", "constant"), np.result_type(data)))
        return original(cls, data, requires_grad, ctx)
    return made, mock.patch.object(Tensor, "_make", classmethod(spy))


@pytest.mark.parametrize("spec", [s for s in SPECS if s.keeps_dtype], ids=repr)
@settings(max_examples=max(EXAMPLES // 3, 3), deadline=None, derandomize=not FRESH_CASES,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_float32_stays_float32(spec, data):
    """No op computes in float64 when given float32, in forward or backward; Python and
    NumPy scalars do not upcast either."""
    case = spec.draw(data)
    xs = [Tensor(a, requires_grad=True) for a in make_inputs(case, np.float32, data)]
    made, patch = _no_float64_made()
    with patch:
        outs = outputs(spec.mg(*xs, **case.params))
        weights = [Tensor(np.ones(o.shape, np.float32)) for o in outs]
        grads = mg.grad(outs, xs, grad_outputs=weights, allow_unused=True)
    assert all(o.dtype == np.float32 for o in outs), [o.dtype for o in outs]
    assert all(g is None or g.dtype == np.float32 for g in grads)
    upcast = [name for name, dt in made if dt == np.float64]
    assert not upcast, f"{spec.name}: float64 arrays made by {upcast}"


C = np.array([True, False, True])
SCALAR_USES = {
    "x * 2.5": lambda x: x * 2.5, "2.5 * x": lambda x: 2.5 * x, "x + 1": lambda x: x + 1,
    "1 - x": lambda x: 1 - x, "x / 3": lambda x: x / 3, "3.0 / x": lambda x: 3.0 / x,
    "x ** 2.0": lambda x: x ** 2.0, "x ** 3": lambda x: x ** 3, "2.0 ** x": lambda x: 2.0 ** x,
    "np.float64 * x": lambda x: np.float64(2.0) * x, "x * np.float64": lambda x: x * np.float64(2.0),
    "x - np.int64": lambda x: x - np.int64(2),
    "maximum(x, 0.5)": lambda x: mg.maximum(x, 0.5), "minimum(0.5, x)": lambda x: mg.minimum(0.5, x),
    "where(c, x, 0.0)": lambda x: mg.where(C, x, 0.0), "where(c, 1, x)": lambda x: mg.where(C, 1, x),
    "clip(x, -0.5, 0.5)": lambda x: mg.clip(x, -0.5, 0.5),
    "masked_fill(x, c, 1e9)": lambda x: mg.masked_fill(x, C, 1e9),
    "mean / var": lambda x: x.mean() * x.var(),
    "cross_entropy smoothing": lambda x: mg.cross_entropy(x.reshape(1, 3), np.array([1]),
                                                          label_smoothing=0.1),
    "layer_norm eps": lambda x: mg.layer_norm(x, 3, eps=1e-3),
    "attention scale": lambda x: mg.scaled_dot_product_attention(
        x.reshape(3, 1), x.reshape(3, 1), x.reshape(3, 1), scale=0.7, dropout_p=0.5),
    "dropout": lambda x: mg.dropout(x, 0.3),
    "gelu": lambda x: mg.gelu(x) + mg.gelu(x, approximate="tanh"),
}


@pytest.mark.parametrize("use", list(SCALAR_USES))
def test_python_and_numpy_scalars_do_not_upcast(use):
    x = mg.tensor([0.5, -1.5, 2.0], requires_grad=True)
    made, patch = _no_float64_made()
    with patch:
        y = SCALAR_USES[use](x)
        (g,) = mg.grad(y.sum(), [x])
    assert y.dtype == mg.float32 and g.dtype == mg.float32
    upcast = [name for name, dt in made if dt == np.float64]
    assert not upcast, f"{use}: float64 arrays made by {upcast}"


@pytest.mark.parametrize("dtype", [mg.int64, mg.int32, mg.bool_])
def test_cast_to_integer_or_bool_is_not_recorded(dtype):
    x = mg.randn(3, requires_grad=True)
    y = x.astype(dtype)
    assert y.dtype == dtype and not y.requires_grad and y._ctx is None


def test_astype_gradient_returns_in_the_input_dtype():
    x = mg.randn(3, 2, requires_grad=True)
    y = x.astype(mg.float64)
    assert y.dtype == mg.float64
    (y * y).sum().backward()
    assert x.grad.dtype == mg.float32
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy(), rtol=1e-6)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_dropout_mask_keeps_one_minus_p_and_rescales(p):
    x = mg.ones(200, 100)
    y = mg.dropout(x, p).numpy()
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / (1 - p), rtol=1e-6)
    assert abs(kept.mean() - (1 - p)) < 0.02
    assert y.dtype == np.float32


def test_dropout_is_identity_in_eval_and_reproducible_by_seed():
    x = mg.randn(50, 20)
    assert mg.dropout(x, 0.5, training=False) is x
    mg.manual_seed(3)
    a = mg.dropout(x, 0.5).numpy()
    mg.manual_seed(3)
    b = mg.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, b)

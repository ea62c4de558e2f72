"""The fuzz suite's one rule, as code: a call either agrees with PyTorch or fails loudly.

`check(op, mg_fn, torch_fn, arrays)` runs the same call in minigrad and in
PyTorch on the same input arrays and sorts the outcome:

* both succeed: shapes, dtypes, values and every input gradient must agree;
* minigrad raises a `MinigradError` whose message names the op and at least one
  of the offending values (an input's shape or dtype, or a bad argument);
  if PyTorch accepts the call, minigrad must have said why it is stricter
  (`stricter=` names the reason, which the case documents), empty inputs included;
* minigrad succeeds where PyTorch refuses (minigrad is more lenient, e.g. the
  mean of an int tensor): allowed, and the result is checked against the case's
  NumPy `reference`, or else against PyTorch run on the inputs widened to
  float64; a case with neither fails (an unchecked result is not a pass).
* gradients: when PyTorch's autograd refuses (e.g. no float16 kernel), they are
  compared with PyTorch's float64 gradients instead; never silently dropped.

Anything else fails the test: an exception that is not a MinigradError (a bare
NumPy traceback from deep inside), a wrong shape or dtype, a wrong value.

Every outcome is counted in `TALLY` (with `count`, which also keeps the totals of
each test file in `BY_FILE`, so each file can test that each of its kinds of
outcome happened); tests/reliability/conftest.py prints the totals at the end of
the run. The names say what was checked: "matched torch" only for a comparison
with PyTorch's values (and gradients). `MINIGRAD_FUZZ_SCALE` multiplies every test's
example count (2 by default, about 8,000 cases in under a minute; a search for
bugs runs 20 or more). The cases are the same on every run (derandomized), so CI
is repeatable; MINIGRAD_FUZZ_RANDOM=1 draws fresh ones, which is how a search for
new bugs runs. MINIGRAD_FUZZ_NO_SHRINK=1 skips shrinking failures, for a quick
first look at what breaks.
"""
import collections
import os
import traceback
import warnings

import numpy as np
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad.errors import MinigradError

SCALE = float(os.environ.get("MINIGRAD_FUZZ_SCALE", "2"))
RANDOM = bool(os.environ.get("MINIGRAD_FUZZ_RANDOM"))      # fresh cases every run
TALLY = collections.Counter()          # outcome -> number of cases
BY_FILE = collections.defaultdict(collections.Counter)   # test file -> outcome -> cases

MATCHED = "matched torch"
REFEREED = "matched torch (refereed in float64)"
NUMPY_REFERENCE = "torch refused; matched the NumPy reference"
FLOAT64_REFERENCE = "torch refused; matched torch in float64"
ALSO_RAISED = "raised MinigradError (torch raised too)"
STRICTER = "raised MinigradError (stricter than torch, documented)"
EXPECTED_ERROR = "raised MinigradError (as the case expects)"
NUMPY_ONLY = "matched NumPy (no torch counterpart)"
EMPTY_UNCHECKED = "raised MinigradError on empty input (torch refuses it when not empty)"
SELF_CONSISTENT = "matched its own result another way (no torch counterpart)"
STRUCTURAL = "checked shapes and ranges only (no oracle)"


def count(outcome):
    """Count one case's outcome, in the totals and in its test file's."""
    TALLY[outcome] += 1
    current = os.environ.get("PYTEST_CURRENT_TEST", "")
    BY_FILE[os.path.basename(current.split("::")[0])][outcome] += 1


def assert_counted(test_file, outcomes):
    """Each of `outcomes` happened at least once in `test_file` (run after its cases)."""
    seen = BY_FILE.get(os.path.basename(test_file))
    if not seen:
        import pytest
        pytest.skip("the file's fuzz cases did not run in this session (run the whole file)")
    missing = [o for o in outcomes if not seen[o]]
    assert not missing, f"no case of {os.path.basename(test_file)} ended as {missing}: {dict(seen)}"


def fuzz_settings(examples):
    """Hypothesis settings for `examples` cases (times MINIGRAD_FUZZ_SCALE)."""
    phases = [Phase.explicit, Phase.reuse, Phase.generate]
    if not os.environ.get("MINIGRAD_FUZZ_NO_SHRINK"):      # a quick first look at failures
        phases.append(Phase.shrink)
    return settings(max_examples=max(1, int(examples * SCALE)), deadline=None, phases=phases,
                    derandomize=not RANDOM,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def torch():
    import torch as _torch
    return _torch


# ------------------------------------------------------------------ drawing inputs
DTYPES = [np.dtype(d) for d in ("bool", "int32", "int64", "float16", "float32", "float64")]
FLOATS = [np.dtype(d) for d in ("float16", "float32", "float64")]

dtypes = st.sampled_from(DTYPES)
float_dtypes = st.sampled_from(FLOATS)


def shapes(min_dims=0, max_dims=4, min_side=0, max_side=4):
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def rng(data):
    return np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))


def values(r, shape, dtype, low=-3.0, high=3.0):
    """Array of `dtype` and `shape`: small integers (ties, zeros) or smooth values."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        out = r.random(shape) < 0.5
    elif dtype.kind in "iu" or r.random() < 0.3:      # a grid: ties and exact zeros
        out = r.integers(int(low), int(high) + 1, shape)
    else:
        out = r.uniform(low, high, shape)
    return np.asarray(out, dtype=dtype)               # an array even for shape ()


def axis_args(ndim):
    """Valid and invalid axis arguments: None, ints in and out of range, tuples with
    repeats, and wrong types (float, bool, str)."""
    lim = max(ndim, 1)
    one = st.integers(-lim - 2, lim + 1)
    return st.one_of(
        st.none(), one, st.lists(one, min_size=1, max_size=lim + 1).map(tuple),
        st.sampled_from([1.0, True, "0", [0]]))


# ------------------------------------------------------------------ running one case
class Case:
    """What happened to one call; `check` fills it and fails on a bug."""

    def __init__(self, op):
        self.op = op


def _wants_grad(a, i, grad):
    return bool(grad) and a.dtype.kind == "f" and (grad is True or i in grad)


def _mg_inputs(arrays, grad):
    return [mg.Tensor(a.copy(), requires_grad=_wants_grad(a, i, grad))
            if isinstance(a, np.ndarray) else a for i, a in enumerate(arrays)]


def _torch_inputs(arrays, grad):
    t = torch()
    out = []
    for i, a in enumerate(arrays):
        if isinstance(a, np.ndarray):
            x = t.from_numpy(np.array(a, order="C", copy=True))
            if _wants_grad(a, i, grad):
                x.requires_grad_(True)
            out.append(x)
        else:
            out.append(a)
    return out


def as_list(result):
    return list(result) if isinstance(result, (tuple, list)) else [result]


def mentions_of(arrays, args=()):
    """Fragments an error message may name: input shapes and dtypes, argument values."""
    out = []
    for a in arrays:
        if hasattr(a, "shape"):
            out += [str(tuple(a.shape)), str(a.dtype)]
    for v in args:
        out.append(str(v))
        if isinstance(v, str):
            out.append(repr(v))
        if isinstance(v, (tuple, list)):
            out += mentions_of([], v)
    return out


def expect_error(op, call, mentions=(), error=MinigradError, also=()):
    """`call()` must raise `error` (a MinigradError); its message names the op (or one of
    `also`) and, when `mentions` are given, at least one of them. Returns the message."""
    try:
        result = _no_warnings(op, call, ())
    except MinigradError as e:
        msg = str(e)
        assert isinstance(e, error), f"{op}: raised {type(e).__name__}, expected {error.__name__}: {msg}"
        _check_message(op, msg, mentions, also)
        count(EXPECTED_ERROR)
        return msg
    except Exception as e:                                       # noqa: BLE001 - this is the bug
        raise AssertionError(f"{op}: raised {type(e).__name__} (not a MinigradError): {e}\n"
                             + traceback.format_exc()) from e
    raise AssertionError(f"{op}: expected an error, got {result!r}")


def _check_message(op, msg, mentions, also=()):
    names = (op,) + tuple(also)
    assert any(n.lower() in msg.lower() for n in names), \
        f"error message does not name the op {op!r}: {msg!r}"
    if mentions:
        assert any(m in msg for m in mentions), \
            f"{op}: error message names none of {list(mentions)}: {msg!r}"


def check(op, mg_fn, torch_fn, arrays, *, args=(), grad=True, stricter=None, reference=None,
          also=(), tol=None, equal_dtype=True, random=False, nan_ok=False):
    """Run `mg_fn(*tensors)` and `torch_fn(*torch_tensors)` on copies of `arrays` and
    check the outcome (see the module doc). Non-array entries of `arrays` pass through.

    stricter: why minigrad may refuse a call PyTorch accepts (None: it may not).
    grad: compare the gradients of every float input (True), of the inputs at the
        given positions (a tuple), or of none (False).
    reference: numpy function of the arrays, checked when only minigrad succeeds.
    also: other names the error message may use for the op.
    random: the op draws random numbers: compare shapes and dtypes only.
    nan_ok: where PyTorch gives NaN, minigrad may give any finite value (a documented
        difference, e.g. zeros for a fully masked attention row).
    Returns the minigrad result (or None when it raised).
    """
    xs = _mg_inputs(arrays, grad)
    try:
        out = _no_warnings(op, mg_fn, xs)
    except MinigradError as e:
        _check_message(op, str(e), mentions_of(arrays, args), also)
        try:
            tout = _quiet(torch_fn, _torch_inputs(arrays, False))
        except Exception:                                        # noqa: BLE001
            count(ALSO_RAISED)
            return None
        del tout
        if not stricter and _torch_refuses_when_filled(torch_fn, arrays):
            count(EMPTY_UNCHECKED)
            return None
        assert stricter, (f"{op}: minigrad raised {type(e).__name__} where PyTorch accepts the "
                          f"call: {e}")
        count(STRICTER)
        return None
    except Exception as e:                                       # noqa: BLE001
        raise AssertionError(f"{op}: raised {type(e).__name__} (not a MinigradError): {e}\n"
                             + traceback.format_exc()) from e
    outs = as_list(out)
    for o in outs:
        assert isinstance(o, mg.Tensor), f"{op}: returned {type(o).__name__}, not a Tensor"
    if tol is None:          # a result is only as precise as its least precise float input
        floats = [a.dtype for a in arrays if getattr(a, "dtype", None) is not None
                  and a.dtype.kind == "f"]
        tol = max([tolerance(d) for d in floats], default=None)
    ts = _torch_inputs(arrays, grad)
    try:
        tout = _quiet(torch_fn, ts)
    except Exception:                                            # noqa: BLE001
        _check_no_upcast(op, arrays, outs)
        if reference is not None:
            ref, outcome = as_list(reference(*arrays)), NUMPY_REFERENCE
        else:
            ref, outcome = _widened_results(torch_fn, arrays), FLOAT64_REFERENCE
            assert ref is not None, (f"{op}: minigrad accepts a call that PyTorch refuses, even "
                                     "in float64, and the case gives no NumPy reference: its "
                                     "result would go unchecked")
        assert len(ref) == len(outs), f"{op}: {len(outs)} outputs, the reference has {len(ref)}"
        for o, r in zip(outs, ref):
            assert_same(op, o.numpy(), np.asarray(r), tol, equal_dtype=False, values=not random)
        count(outcome)
        return out
    touts = as_list(tout)
    assert len(outs) == len(touts), f"{op}: {len(outs)} outputs, torch gives {len(touts)}"
    if random:
        for o, t in zip(outs, touts):
            assert_same(op, o.numpy(), t.detach().numpy(), tol, equal_dtype, values=False)
        count(MATCHED)
        return out
    names = [op] * len(outs)
    mine, theirs = [o.numpy() for o in outs], [t.detach().numpy() for t in touts]
    graded = _grads(op, xs, ts, outs, touts, torch_fn) if grad else None
    if graded is not None:
        names += [op + " (gradient)"] * len(graded[0])
        mine, theirs = mine + graded[0], theirs + graded[1]
    for name, a, e in zip(names, mine, theirs):              # shapes and dtypes: exactly
        assert_same(name, a, e, tol, equal_dtype, values=False)
    try:
        for name, a, e in zip(names, mine, theirs):
            assert_same(name, a, e, tol, equal_dtype, nan_ok=nan_ok)
    except AssertionError:
        # In float16/32 an ill-conditioned case (a near-constant row in layer_norm) can
        # leave both results far from the truth: the float64 result referees, and
        # minigrad must be at least as close to it as PyTorch is, give or take tol.
        exact = _float64_results(torch_fn, arrays, grad, graded)
        if exact is None or len(exact) != len(mine):
            raise
        for name, a, e, x in zip(names, mine, theirs, exact):
            a, e = np.asarray(a, np.float64), np.asarray(e, np.float64)
            finite = np.isfinite(x)
            scale = max(1.0, float(np.abs(x[finite]).max())) if finite.any() else 1.0
            worse = np.abs(a - x) > np.abs(e - x) + tol * scale
            assert not (worse & finite).any(), f"{name}: further from the float64 result than " \
                f"PyTorch:\nminigrad {a[worse & finite]}\nPyTorch  {e[worse & finite]}\n" \
                f"float64  {x[worse & finite]}"
        count(REFEREED)
        return out
    count(MATCHED)
    return out


def _grads(op, xs, ts, outs, touts, torch_fn):
    """minigrad's and PyTorch's input gradients for the same random output weights:
    (mine, theirs, weights, input positions, output positions), or None."""
    t = torch()
    inputs = [i for i, x in enumerate(xs) if isinstance(x, mg.Tensor) and x.requires_grad]
    live = [i for i, (o, to) in enumerate(zip(outs, touts)) if o.requires_grad and to.requires_grad]
    if not inputs or not live:
        return None
    r = np.random.default_rng(1)
    weights = [r.uniform(-1, 1, outs[i].shape).astype(outs[i].dtype) for i in live]
    try:
        tgrads = t.autograd.grad([touts[i] for i in live], [ts[i] for i in inputs],
                                 grad_outputs=[t.from_numpy(w) for w in weights], allow_unused=True)
    except Exception as e:                                       # noqa: BLE001
        tgrads = _float64_grads(torch_fn, xs, inputs, live, weights)   # e.g. no float16 kernel
        assert tgrads is not None, (f"{op}: PyTorch's autograd refuses this case ({e}), in "
                                    "float64 too: the gradient would go unchecked")
    try:
        grads = _no_warnings(op + " (backward)", lambda: mg.grad(
            [outs[i] for i in live], [xs[i] for i in inputs],
            grad_outputs=[mg.Tensor(w) for w in weights], allow_unused=True), ())
    except Exception as e:                                       # noqa: BLE001
        raise AssertionError(f"{op}: backward raised {type(e).__name__}: {e}\n"
                             + traceback.format_exc()) from e
    mine = [np.zeros(xs[i].shape, xs[i].dtype) if g is None else g.numpy()
            for i, g in zip(inputs, grads)]
    theirs = [np.zeros(xs[i].shape, xs[i].dtype) if g is None else g.numpy()
              for i, g in zip(inputs, tgrads)]
    return mine, theirs, weights, inputs, live


def _float64_grads(torch_fn, xs, inputs, live, weights):
    """PyTorch's input gradients computed in float64 (cast back to each input's dtype),
    for when its autograd has no kernel for the inputs' own dtype; None if it fails."""
    t = torch()
    for kinds in ("f", "fiub"):               # (bools too: x ** mask has no bool autograd)
        wide = [x.numpy().astype(np.float64) if isinstance(x, mg.Tensor) and x.dtype.kind in kinds
                else (x.numpy() if isinstance(x, mg.Tensor) else x) for x in xs]
        try:
            ts = _torch_inputs(wide, tuple(inputs))
            outs = as_list(_quiet(torch_fn, ts))
            grads = t.autograd.grad([outs[i] for i in live], [ts[i] for i in inputs],
                                    grad_outputs=[t.from_numpy(w.astype(np.float64))
                                                  for w in weights], allow_unused=True)
        except Exception:                                        # noqa: BLE001
            continue
        return [None if g is None else g.to(t.from_numpy(xs[i].numpy()).dtype)
                for i, g in zip(inputs, grads)]
    return None


def _torch_refuses_when_filled(torch_fn, arrays):
    """For a call on empty inputs that minigrad refuses and PyTorch accepts (PyTorch skips
    its dtype and shape checks when there are no elements): True when PyTorch refuses
    the same call once every empty dimension has one element, i.e. minigrad applies
    PyTorch's own rule; False when there is no empty input or PyTorch accepts it then."""
    if not any(isinstance(a, np.ndarray) and a.size == 0 for a in arrays):
        return False
    filled = [np.ones([max(d, 1) for d in a.shape], a.dtype) if isinstance(a, np.ndarray)
              else a for a in arrays]
    try:
        _quiet(torch_fn, _torch_inputs(filled, False))
    except Exception:                                            # noqa: BLE001
        return True
    return False


def _widened_results(torch_fn, arrays):
    """PyTorch's outputs for the inputs widened to float64 (floats first, then ints and
    bools, then Python numbers as 0-d tensors too): the reference for a call PyTorch
    refuses in the inputs' own dtypes."""
    for kinds in ("f", "fiu", "fiub", "fiub+"):
        wide = [a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype.kind in kinds
                else np.asarray(a, np.float64)
                if kinds.endswith("+") and isinstance(a, (int, float)) else a for a in arrays]
        try:
            return [o.detach().numpy() for o in as_list(_quiet(torch_fn,
                                                               _torch_inputs(wide, False)))]
        except Exception:                                        # noqa: BLE001
            continue
    return None


def _float64_results(torch_fn, arrays, grad, graded):
    """PyTorch's outputs (and the gradients _grads compared) computed in float64."""
    t = torch()
    if not any(getattr(a, "dtype", None) in (np.float16, np.float32) for a in arrays):
        return None
    wide = [a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
            for a in arrays]
    try:
        outs = as_list(_quiet(torch_fn, _torch_inputs(wide, grad)))
        results = [o.detach().numpy().astype(np.float64) for o in outs]
        if graded is not None:
            _, _, weights, inputs, live = graded
            ts = _torch_inputs(wide, grad)
            outs = as_list(_quiet(torch_fn, ts))
            grads = t.autograd.grad([outs[i] for i in live], [ts[i] for i in inputs],
                                    grad_outputs=[t.from_numpy(w.astype(np.float64))
                                                  for w in weights], allow_unused=True)
            results += [np.zeros(ts[i].shape) if g is None else g.numpy()
                        for i, g in zip(inputs, grads)]
    except Exception:                                            # noqa: BLE001
        return None
    return results


def _no_warnings(op, fn, args):
    """Call fn(*args); a warning of any kind (NumPy's included) fails the case."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fn(*args)
    assert not caught, f"{op}: warned: " + "; ".join(
        f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught[:3])
    return result


def _quiet(fn, args):
    """PyTorch's own warnings (e.g. var() of one element) are not minigrad's business."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args)


def _check_no_upcast(op, arrays, outs):
    """Without PyTorch to compare with, at least: no float64 made from smaller inputs."""
    if not arrays or any(getattr(a, "dtype", None) == np.float64 for a in arrays):
        return
    for o in outs:
        assert o.dtype != np.float64, f"{op}: float64 result from inputs " \
            f"{[str(getattr(a, 'dtype', type(a).__name__)) for a in arrays]}"


def tolerance(dtype):
    return {np.dtype("float16"): 1e-2, np.dtype("float32"): 1e-4}.get(np.dtype(dtype), 1e-9)


def assert_same(op, actual, expected, tol=None, equal_dtype=True, values=True, nan_ok=False):
    """Same shape, same dtype (when asked), same values (NaN == NaN, inf == inf)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, \
        f"{op}: shape {actual.shape}, PyTorch gives {expected.shape}"
    if equal_dtype:
        assert actual.dtype == expected.dtype, \
            f"{op}: dtype {actual.dtype}, PyTorch gives {expected.dtype}"
    if not values:
        return
    if actual.dtype.kind in "biu" and expected.dtype.kind in "biu":
        assert np.array_equal(actual, expected), f"{op}: values differ:\n{actual}\n{expected}"
        return
    tol = tolerance(actual.dtype) if tol is None else tol
    wide = np.complex128 if "c" in (actual.dtype.kind, expected.dtype.kind) else np.float64
    a, e = actual.astype(wide), expected.astype(wide)
    if nan_ok:
        a = np.where(np.isnan(e), e, a)
    finite = np.isfinite(e)
    scale = max(1.0, float(np.abs(e[finite]).max())) if finite.any() else 1.0
    np.testing.assert_allclose(a, e, rtol=tol, atol=tol * scale, equal_nan=True,
                               err_msg=f"{op}: values differ from PyTorch's")

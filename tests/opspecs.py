"""The pieces the op-table tests share (tests/minigrad/test_ops.py, test_ops_torch_extra.py,
test_ops_torch_aliases.py): a drawn case, its random generator and shapes, and the
comparison of one op table entry with PyTorch in value, dtype and input gradients."""
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad.tensor import Tensor


@dataclass
class Case:
    """One drawn example: values of the differentiable inputs, and constant params."""
    values: list                         # float64 arrays: the differentiable inputs
    params: dict = field(default_factory=dict)


def rng(data):
    return np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))


def shape_of(data, min_dims=0, max_dims=3, min_side=1, max_side=4):
    return data.draw(hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                                      max_side=max_side), label="shape")


def outputs(result):
    return list(result) if isinstance(result, (tuple, list)) else [result]


TOLERANCE = {np.float64: 1e-10, np.float32: 1e-5, np.float16: 1e-2}


def close(actual, expected, dtype):
    a = np.asarray(actual.numpy(), dtype=np.float64)
    e = expected.detach().double().numpy()
    assert a.shape == e.shape, f"shape {a.shape} != {e.shape}"
    tol = TOLERANCE[dtype]
    np.testing.assert_allclose(a, e, rtol=tol, atol=tol * max(1.0, float(np.abs(e).max(initial=0))))


def assert_matches_torch(torch, mg_fn, torch_fn, arrays, params, dtype):
    """mg_fn and torch_fn on the same inputs (`arrays`, each one's own: minigrad uses
    them as they are laid out, PyTorch gets copies) give the same outputs and dtypes, and
    the same gradient of every input for a fixed random weighting of the float outputs."""
    xs = [Tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(np.array(a), requires_grad=True) for a in arrays]
    outs, touts = outputs(mg_fn(*xs, **params)), outputs(torch_fn(*ts, **params))
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

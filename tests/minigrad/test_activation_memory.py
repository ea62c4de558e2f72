"""Ops whose backward reads none of their inputs (add, relu, reshape, dropout, layer
norm's x, cross-entropy's logits, x in x * constant) hold computed inputs as stand-ins: the activations
are freed as soon as the forward is done with them, as in PyTorch, and the gradients,
graph pictures and in-place checks are unchanged."""
import gc
import weakref

import numpy as np
import pytest

import minigrad as mg
from minigrad.nn import functional as F


def _dies(make):
    """Whether the array of the tensor make() returns (with the graph it feeds) is freed
    once only the graph holds it."""
    x, out = make()
    ref = weakref.ref(x.array)
    del x
    gc.collect()
    alive = ref() is not None
    return alive, out


@pytest.mark.parametrize("op", ["relu", "add", "scale", "layer_norm", "dropout",
                                "cross_entropy"])
def test_an_input_backward_does_not_read_is_freed(op):
    w = mg.randn(6, 6, requires_grad=True)
    ln_w, ln_b = mg.ones(6, requires_grad=True), mg.zeros(6, requires_grad=True)
    targets = mg.tensor(np.arange(4) % 6)

    def make():
        h = mg.randn(4, 6) @ w                       # computed: not a leaf
        out = {"relu": lambda: F.relu(h),
               "add": lambda: h + 1.0,
               "scale": lambda: h * 2.0,           # mul reads h only for 2.0's gradient
               "layer_norm": lambda: F.layer_norm(h, (6,), ln_w, ln_b),
               "dropout": lambda: F.dropout(h, 0.5),
               "cross_entropy": lambda: F.cross_entropy(h, targets)}[op]()
        return h, out

    alive, out = _dies(make)
    assert not alive
    out.sum().backward()                              # the gradient still flows
    assert w.grad is not None and np.isfinite(w.grad.numpy()).all()


def test_an_input_backward_reads_is_kept():
    w = mg.randn(5, 5, requires_grad=True)

    def make():
        h = mg.randn(3, 5) @ w
        return h, (h * h).sum()                       # mul reads h
    alive, out = _dies(make)
    assert alive


def test_gradients_equal_torch_through_stand_ins():
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(0)
    x0, w0 = r.standard_normal((4, 3, 8)), r.standard_normal((8, 8))
    ln_w, ln_b = r.standard_normal(8), r.standard_normal(8)

    def run(lib, t):
        x, w = t(x0, True), t(w0, True)
        h = lib.relu(x @ w) + 1.0
        h = (h.reshape(12, 8) * 0.5).reshape(4, 3, 8)
        y = lib.nn.functional.layer_norm(h, (8,), t(ln_w, False), t(ln_b, False))
        loss = lib.nn.functional.cross_entropy(y.reshape(12, 8),
                                               t(np.arange(12) % 8, False, int))
        loss.backward()
        return [loss, x.grad, w.grad]

    ours = run(mg, lambda a, g, kind=float: mg.tensor(a.astype(np.float64) if kind is float else a,
                                                       requires_grad=g))
    theirs = run(torch, lambda a, g, kind=float: torch.tensor(
        a.astype(np.float64) if kind is float else a, requires_grad=g))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(np.asarray(a.detach().numpy()), b.detach().numpy(),
                                   rtol=1e-10, atol=1e-12)


def test_in_place_change_of_a_freed_input_is_allowed_and_of_a_read_one_raises():
    w = mg.randn(3, 3, requires_grad=True)
    h = mg.randn(2, 3) @ w
    out = F.relu(h).sum()                             # relu reads its mask, not h
    h.add_(1.0)
    out.backward()
    w.grad = None
    h = mg.randn(2, 3) @ w
    out = (h * h).sum()
    h.add_(1.0)
    with pytest.raises(mg.AutogradError, match="modified by an inplace operation"):
        out.backward()

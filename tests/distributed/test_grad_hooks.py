"""Autograd's gradient-ready hooks, which DistributedDataParallel builds on:
a leaf's hook fires once per backward, when its `.grad` is final, and queued
callbacks run when the backward has finished."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import autograd


@pytest.fixture(autouse=True)
def _no_leftover_hooks():
    before = autograd.hooked_leaves()
    yield
    assert autograd.hooked_leaves() == before, "a test left hooks registered"


def test_hook_fires_once_after_every_use_of_the_leaf_is_accumulated():
    w = mg.randn(3, requires_grad=True)
    seen = []
    h = autograd.register_post_accumulate_grad_hook(w, lambda t: seen.append(t.grad.numpy().copy()))
    y = (w * w).sum() + (w * 3.0).sum() + w.tanh().sum()     # three uses of w
    y.backward()
    expected = 2 * w.numpy() + 3 + (1 - np.tanh(w.numpy()) ** 2)
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], expected, rtol=1e-6)
    h.remove()


def test_hooks_fire_in_the_order_backward_finishes_the_leaves():
    a = mg.randn(2, 2, requires_grad=True)
    b = mg.randn(2, 2, requires_grad=True)
    order = []
    hs = [autograd.register_post_accumulate_grad_hook(t, lambda t, n=n: order.append(n))
          for n, t in (("a", a), ("b", b))]
    x = mg.randn(4, 2)
    ((x @ a).tanh() @ b).sum().backward()         # b is the last layer: finished first
    assert order == ["b", "a"]
    for h in hs:
        h.remove()


def test_hook_fires_again_on_each_backward_with_the_accumulated_grad():
    w = mg.randn(2, requires_grad=True)
    grads = []
    h = autograd.register_post_accumulate_grad_hook(w, lambda t: grads.append(t.grad.numpy().copy()))
    (w * 2.0).sum().backward()
    (w * 2.0).sum().backward()
    np.testing.assert_allclose(grads, [[2.0, 2.0], [4.0, 4.0]])
    h.remove()


class _StopGradient(autograd.Function):
    name = "stop_gradient"

    def forward(self, x):
        return x

    def backward(self, grad):
        return None


def test_hook_fires_for_a_leaf_whose_path_gets_no_gradient():
    """An op that passes no gradient on still finishes its inputs' uses."""
    w = mg.randn(3, requires_grad=True)
    u = mg.randn(3, requires_grad=True)
    fired = []
    h = autograd.register_post_accumulate_grad_hook(u, lambda t: fired.append(t.grad))
    y = (w * 2.0).sum() + _StopGradient.apply(u * 2.0).sum()
    y.backward()
    h.remove()
    assert fired == [None]
    np.testing.assert_allclose(w.grad.numpy(), [2.0, 2.0, 2.0])


def test_root_leaf_hook_fires():
    w = mg.randn(3, requires_grad=True)
    fired = []
    h = autograd.register_post_accumulate_grad_hook(w, lambda t: fired.append(t.grad.numpy().copy()))
    w.backward(mg.ones(3))
    h.remove()
    assert len(fired) == 1
    np.testing.assert_array_equal(fired[0], np.ones(3, dtype=np.float32))


def test_callbacks_run_after_every_hook():
    a = mg.randn(3, requires_grad=True)
    b = mg.randn(3, requires_grad=True)
    log = []

    def hook(t):
        if not log:
            autograd.queue_callback(lambda: log.append("end"))
        log.append("hook")
    hs = [autograd.register_post_accumulate_grad_hook(t, hook) for t in (a, b)]
    (a * b).sum().backward()
    for h in hs:
        h.remove()
    assert log == ["hook", "hook", "end"]


def test_queue_callback_outside_backward_raises():
    with pytest.raises(mg.AutogradError, match="no backward is running"):
        autograd.queue_callback(lambda: None)


def test_failed_backward_drops_its_callbacks():
    w = mg.randn(3, requires_grad=True)
    ran = []

    def hook(t):
        autograd.queue_callback(lambda: ran.append(1))
        raise RuntimeError("hook failed")
    h = autograd.register_post_accumulate_grad_hook(w, hook)
    with pytest.raises(RuntimeError, match="hook failed"):
        (w * 2.0).sum().backward()
    h.remove()
    assert ran == []
    with pytest.raises(mg.AutogradError, match="no backward is running"):
        autograd.queue_callback(lambda: None)      # the failed backward left nothing behind


def test_grad_returns_gradients_without_firing_hooks():
    w = mg.randn(3, requires_grad=True)
    fired = []
    h = autograd.register_post_accumulate_grad_hook(w, lambda t: fired.append(1))
    g = mg.grad((w * w).sum(), w)
    h.remove()
    assert fired == [] and w.grad is None
    np.testing.assert_allclose(g.numpy(), 2 * w.numpy(), rtol=1e-6)


def test_remove_and_non_leaf():
    w = mg.randn(3, requires_grad=True)
    fired = []
    h = autograd.register_post_accumulate_grad_hook(w, lambda t: fired.append(1))
    h.remove()
    h.remove()                                   # twice is harmless
    (w * 2.0).sum().backward()
    assert fired == []
    with pytest.raises(mg.AutogradError, match="only leaf tensors"):
        autograd.register_post_accumulate_grad_hook(w * 2.0, lambda t: None)

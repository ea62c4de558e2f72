"""The backward walk itself: depth, memory, grad mode, retain_graph, accumulation, threads."""
import gc
import sys
import threading
import weakref

import numpy as np
import pytest

import minigrad as mg
from minigrad.errors import AutogradError


# ------------------------------------------------------------------ depth
def test_chain_of_20000_ops_backpropagates_without_recursion_error():
    x = mg.tensor([0.5, -1.0], requires_grad=True)
    y = x
    for _ in range(10_000):                # 20,000 recorded ops
        y = (y * 1.0001) + 0.001
    assert sys.getrecursionlimit() < 20_000
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(2, 1.0001 ** 10_000), rtol=1e-3)
    assert x.grad.dtype == mg.float32


def test_deep_chain_through_minigrad_grad_and_create_graph():
    x = mg.tensor(0.3, dtype=mg.float64, requires_grad=True)
    y = x
    for _ in range(5_000):
        y = y * 1.0002
    (g,) = mg.grad(y * y, [x], create_graph=True)      # d/dx (c x)^2 = 2 c^2 x
    (h,) = mg.grad(g, [x])                               # 2 c^2
    c = 1.0002 ** 5_000
    assert g.item() == pytest.approx(2 * c * c * 0.3, rel=1e-9)
    assert h.item() == pytest.approx(2 * c * c, rel=1e-9)


# ------------------------------------------------------------------ memory
def _graph_with_intermediate():
    x = mg.randn(1000, requires_grad=True)
    hidden = x.tanh()                      # intermediate: only the graph refers to it
    loss = (hidden.exp() * 2).sum()
    return x, loss, weakref.ref(hidden.array)


def test_backward_frees_intermediate_arrays():
    x, loss, hidden_data = _graph_with_intermediate()
    gc.collect()
    assert hidden_data() is not None, "the graph should keep the intermediate alive before backward"
    loss.backward()
    gc.collect()
    assert hidden_data() is None, "backward should free the graph's intermediate arrays"
    assert x.grad is not None


def test_retain_graph_keeps_intermediates_until_the_last_backward():
    x, loss, hidden_data = _graph_with_intermediate()
    loss.backward(retain_graph=True)
    gc.collect()
    assert hidden_data() is not None
    first = x.grad.numpy().copy()
    loss.backward()                        # the second backward accumulates, then frees
    gc.collect()
    assert hidden_data() is None
    np.testing.assert_allclose(x.grad.numpy(), 2 * first, rtol=1e-6)


def test_second_backward_without_retain_graph_raises():
    x = mg.randn(4, requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(AutogradError, match="retain_graph=True"):
        loss.backward()


def test_grad_keeps_graph_only_when_asked():
    x = mg.randn(4, requires_grad=True)
    y = (x.exp() * 3).sum()
    mg.grad(y, x, retain_graph=True)
    mg.grad(y, x)
    with pytest.raises(AutogradError):
        mg.grad(y, x)


# ------------------------------------------------------------------ grad mode
def test_no_grad_records_nothing():
    x = mg.randn(3, 4, requires_grad=True)
    with mg.no_grad():
        y = mg.softmax(x @ x.T, -1) * 2 + x.sum()
        z = mg.layer_norm(x, 4).tanh()[0]
    for t in (y, z):
        assert t._ctx is None and not t.requires_grad
    w = x * 2                              # recording is back on after the block
    assert w._ctx is not None and w.requires_grad


def test_no_grad_as_decorator_and_enable_grad_inside():
    x = mg.randn(3, requires_grad=True)

    @mg.no_grad()
    def f(t):
        inner = t * 2
        with mg.enable_grad():
            on = t * 3
        return inner, on

    inner, on = f(x)
    assert inner._ctx is None
    assert on._ctx is not None
    assert mg.is_grad_enabled()


def test_ops_on_tensors_without_requires_grad_record_nothing():
    a, b = mg.randn(3), mg.randn(3)
    assert (a * b + 1).exp()._ctx is None


def test_detach_cuts_the_graph():
    x = mg.randn(3, requires_grad=True)
    y = (x * 2).detach() * x
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy(), rtol=1e-6)


# ------------------------------------------------------------------ accumulation and broadcasting
def test_gradients_accumulate_over_uses_and_calls():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    (x * x + x).sum().backward()           # x used three times: 2x + 1
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 5.0])
    (x * 4).sum().backward()               # a second backward adds to .grad
    np.testing.assert_allclose(x.grad.numpy(), [7.0, 9.0])
    x.zero_grad()
    assert x.grad is None


def test_diamond_graph_visits_each_op_once():
    x = mg.tensor(2.0, dtype=mg.float64, requires_grad=True)
    a = x * 3
    b = a.exp()
    c = a.tanh()
    (b + c).backward()
    expected = 3 * np.exp(6.0) + 3 * (1 - np.tanh(6.0) ** 2)
    assert x.grad.item() == pytest.approx(expected, rel=1e-12)


def test_broadcast_gradient_is_summed_back_to_each_input_shape():
    a = mg.randn(4, 1, 3, requires_grad=True)
    b = mg.randn(5, 1, requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.shape == (4, 1, 3) and b.grad.shape == (5, 1)
    np.testing.assert_allclose(a.grad.numpy(), np.broadcast_to(b.numpy().sum(), (4, 1, 3)),
                               rtol=1e-5)
    np.testing.assert_allclose(b.grad.numpy(), np.full((5, 1), a.numpy().sum()), rtol=1e-5)


def test_leaf_grad_does_not_hold_a_graph():
    x = mg.randn(3, requires_grad=True)
    (x * x).sum().backward()
    assert x.grad._ctx is None and not x.grad.requires_grad


# ------------------------------------------------------------------ threads
def test_no_grad_in_one_thread_leaves_other_threads_recording():
    """Grad mode is thread-local: a thread inside no_grad() does not switch it off elsewhere."""
    inside, done = threading.Event(), threading.Event()
    seen = {}

    def worker():
        x = mg.randn(3, requires_grad=True)
        with mg.no_grad():
            inside.set()
            done.wait(10)
            seen["worker_records"] = (x * 2)._ctx is not None
            seen["worker_enabled"] = mg.is_grad_enabled()

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert inside.wait(10)
        x = mg.randn(3, requires_grad=True)
        y = x * 2                          # the worker is inside no_grad right now
        assert mg.is_grad_enabled()
        assert y._ctx is not None
        y.sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), 2.0)
    finally:
        done.set()
        thread.join(10)
    assert seen == {"worker_records": False, "worker_enabled": False}


def test_fused_switch_is_thread_local_too():
    inside, done = threading.Event(), threading.Event()

    def worker():
        with mg.use_fused(False):
            inside.set()
            done.wait(10)

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert inside.wait(10)
        assert mg.softmax(mg.randn(2, 3, requires_grad=True))._ctx.name == "softmax"
        assert mg.autograd.fused_enabled()
    finally:
        done.set()
        thread.join(10)

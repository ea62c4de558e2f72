"""Thread and reentrancy safety of the autograd modes and the module scope.

A server that answers requests under `no_grad` in one thread while another
thread trains must not switch the trainer's gradients off; scopes, the fused
switch and anomaly mode are per-thread too. Each test makes two threads
overlap for certain (barriers), not just by luck of timing.
"""
import threading

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.autograd import current_scope
from minigrad.errors import AnomalyError

TIMEOUT = 30


def run_threads(*targets):
    """Run each target in its own thread; re-raise the first failure here."""
    errors = []

    def wrap(fn):
        def run():
            try:
                fn()
            except BaseException as e:                    # noqa: BLE001 - reported below
                errors.append(e)
        return run
    threads = [threading.Thread(target=wrap(fn)) for fn in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
        assert not t.is_alive(), "a thread hung (barrier never reached?)"
    if errors:
        raise errors[0]


def test_no_grad_in_one_thread_leaves_another_recording():
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    x = mg.randn(3, requires_grad=True)
    seen = {}

    def inference():
        with mg.no_grad():
            barrier.wait()                  # 1: no_grad is on here
            seen["inference"] = (x * 2).requires_grad
            barrier.wait()                  # 2: the trainer has recorded its op

    def trainer():
        barrier.wait()                      # 1
        y = (x * 2).sum()
        seen["trainer"] = y.requires_grad
        y.backward()
        seen["grad"] = x.grad.numpy().copy()
        barrier.wait()                      # 2

    run_threads(inference, trainer)
    assert seen == {"inference": False, "trainer": True, "grad": seen["grad"]}
    np.testing.assert_array_equal(seen["grad"], np.full(3, 2.0, np.float32))


def test_enable_grad_in_one_thread_does_not_leak_into_a_no_grad_thread():
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    x = mg.randn(3, requires_grad=True)
    seen = {}

    def quiet():
        with mg.no_grad():
            barrier.wait()
            barrier.wait()                  # the other thread is inside enable_grad now
            seen["quiet"] = (x + 1).requires_grad

    def loud():
        with mg.no_grad(), mg.enable_grad():
            barrier.wait()
            seen["loud"] = (x + 1).requires_grad
            barrier.wait()

    run_threads(quiet, loud)
    assert seen == {"quiet": False, "loud": True}


def test_grad_mode_of_a_new_thread_is_on_even_when_started_under_no_grad():
    seen = {}
    with mg.no_grad():
        run_threads(lambda: seen.setdefault("enabled", mg.is_grad_enabled()))
        assert not mg.is_grad_enabled()
    assert seen["enabled"] is True
    assert mg.is_grad_enabled()


def test_scopes_are_per_thread():
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    x = mg.randn(2, requires_grad=True)
    seen = {}

    def worker(name):
        def run():
            with mg.scope(name, "Block"):
                barrier.wait()                  # both threads are inside their scope
                y = x * 3
                seen[name] = (current_scope(), [n for n, _ in y._ctx.scope])
                barrier.wait()
            seen[name + " after"] = current_scope()
        return run

    run_threads(worker("encoder"), worker("decoder"))
    assert seen["encoder"] == ("encoder", ["encoder"])
    assert seen["decoder"] == ("decoder", ["decoder"])
    assert seen["encoder after"] == seen["decoder after"] == ""


class _Rendezvous(nn.Module):
    """Waits at a barrier in the middle of forward, so two threads are inside at once."""

    def __init__(self, barrier):
        super().__init__()
        self.barrier = barrier
        self.inner = nn.Linear(2, 2)

    def forward(self, x):
        self.barrier.wait()
        return self.inner(x)


class _Model(nn.Module):
    def __init__(self, barrier):
        super().__init__()
        self.left = _Rendezvous(barrier)
        self.right = _Rendezvous(barrier)

    def forward(self, x, side):
        return getattr(self, side)(x)


def test_one_module_called_from_two_threads_names_each_op_by_its_own_path():
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    model = _Model(barrier)
    seen = {}

    def call(side):
        def run():
            y = model(mg.randn(1, 2), side)
            seen[side] = ".".join(n for n, _ in y._ctx.scope if n)
        return run

    run_threads(call("left"), call("right"))
    assert seen["left"].startswith("left.inner")
    assert seen["right"].startswith("right.inner")


def test_use_fused_and_detect_anomaly_are_per_thread():
    barrier = threading.Barrier(2, timeout=TIMEOUT)
    x = mg.randn(2, 3, requires_grad=True)
    seen = {}

    def reference_mode():
        with mg.use_fused(False), mg.detect_anomaly():
            barrier.wait()
            seen["unfused op"] = mg.softmax(x)._ctx.name
            with pytest.raises(AnomalyError):
                mg.log(-x.detach().abs() - 1)
            barrier.wait()

    def fast_mode():
        barrier.wait()
        seen["fused op"] = mg.softmax(x)._ctx.name
        seen["nan passes"] = bool(np.isnan(mg.log(-x.detach().abs() - 1).numpy()).all())
        barrier.wait()

    run_threads(reference_mode, fast_mode)
    assert seen == {"unfused op": "div", "fused op": "softmax", "nan passes": True}


def test_many_threads_toggling_modes_never_see_each_others_state():
    """A stress test: every thread flips no_grad, scope and use_fused many times and
    checks, at every step, that it sees exactly its own settings."""
    x = mg.randn(4, requires_grad=True)
    start = threading.Barrier(4, timeout=TIMEOUT)

    def worker(k):
        def run():
            start.wait()
            for i in range(300):
                off = (i + k) % 2 == 0
                with mg.set_grad_enabled(not off), mg.scope(f"t{k}", "T"), mg.use_fused(off):
                    y = x * 1.5
                    assert y.requires_grad is (not off)
                    assert current_scope() == f"t{k}"
                    assert mg.autograd.fused_enabled() is off
                    if not off:
                        assert [n for n, _ in y._ctx.scope] == [f"t{k}"]
                assert mg.is_grad_enabled() and current_scope() == ""
        return run

    run_threads(*(worker(k) for k in range(4)))


# ------------------------------------------------------------------ reentrancy
def test_no_grad_nests_and_restores_after_an_exception():
    x = mg.randn(2, requires_grad=True)
    with mg.no_grad():
        with mg.enable_grad():
            assert (x * 2).requires_grad
            with mg.no_grad():
                assert not (x * 2).requires_grad
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad
    with pytest.raises(ZeroDivisionError):
        with mg.no_grad(), mg.scope("boom", "Boom"), mg.use_fused(False):
            raise ZeroDivisionError
    assert mg.is_grad_enabled() and current_scope() == "" and mg.autograd.fused_enabled()


def test_a_module_that_raises_leaves_no_scope_behind():
    class Bad(nn.Module):
        def forward(self, x):
            raise ValueError("bad input")

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.bad = Bad()

        def forward(self, x):
            return self.bad(x)

    with pytest.raises(ValueError):
        Outer()(mg.randn(2))
    assert current_scope() == ""
    y = nn.Linear(2, 2)(mg.randn(1, 2))          # a fresh call gets a clean path
    assert [n for n, _ in y._ctx.scope if n] == []


def test_no_grad_as_a_decorator_is_reentrant_and_thread_safe():
    x = mg.randn(2, requires_grad=True)
    barrier = threading.Barrier(2, timeout=TIMEOUT)

    @mg.no_grad()
    def infer(depth):
        if depth:
            return infer(depth - 1)
        return (x * 2).requires_grad

    assert infer(3) is False
    assert mg.is_grad_enabled()
    seen = {}

    def a():
        seen["a"] = infer(2)
        barrier.wait()

    def b():
        barrier.wait()
        seen["b"] = (x * 2).requires_grad

    run_threads(a, b)
    assert seen == {"a": False, "b": True}


def test_one_no_grad_object_can_be_entered_again():
    """As in PyTorch: a context object kept in a variable works every time it is used,
    also nested in itself."""
    x = mg.randn(2, requires_grad=True)
    quiet = mg.no_grad()
    with quiet:
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    with quiet:
        with quiet:
            assert not (x * 2).requires_grad
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad

"""The engine's one extension point (minigrad/autograd/hooks.py): hook objects hear of
every forward, every backward op and the end of a backward; nothing is registered
unless a feature is in use."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import hooks


class Recorder(hooks.EngineHook):
    def __init__(self):
        self.events = []

    def on_forward(self, fn, out, inputs):
        self.events.append(("forward", fn.name))

    def on_backward_begin(self, order, roots, accumulate):
        self.events.append(("begin", [fn.name for fn in order], accumulate))

    def before_backward_op(self, fn, grad):
        self.events.append(("before", fn.name, tuple(grad.shape)))

    def after_backward_op(self, fn, grad, input_grads):
        self.events.append(("after", fn.name, len(input_grads)))

    def on_op_done(self, fn):
        self.events.append(("done", fn.name))

    def on_backward_end(self, finished):
        self.events.append(("end", finished))


def registered():
    """The hooks registered now (a DDP-wrapped model of another test may still hold one)."""
    return list(hooks.backward_hooks), list(hooks.forward_hooks)


def test_a_hook_sees_forward_and_backward_in_order():
    before = registered()
    x = mg.randn(3, requires_grad=True)
    rec = Recorder()
    with hooks.using_hook(rec):
        y = (x * 2.0).sum()
        y.backward()
    assert rec.events[:2] == [("forward", "mul"), ("forward", "sum")]
    in_backward = [e for e in rec.events[2:] if e[0] != "forward"]   # (backward's own ops
    assert in_backward == [                                           #  run forwards too)
        ("begin", ["mul", "sum"], True),
        ("before", "sum", ()), ("after", "sum", 1), ("done", "sum"),
        ("before", "mul", (3,)), ("after", "mul", 2), ("done", "mul"),
        ("end", True)]
    assert registered() == before


def test_the_end_is_reported_when_backward_fails():
    class Broken(mg.Function):
        name = "broken"

        def forward(self, a):
            return a

        def backward(self, grad):
            raise ZeroDivisionError
    rec = Recorder()
    with hooks.using_hook(rec), pytest.raises(ZeroDivisionError):
        Broken.apply(mg.randn(2, requires_grad=True)).sum().backward()
    assert rec.events[-1] == ("end", False)


def test_features_register_while_in_use_and_unregister():
    before = registered()
    with mg.detect_anomaly(), mg.autograd.record_grad_norms():
        assert len(hooks.backward_hooks) == len(before[0]) + 2
        assert len(hooks.forward_hooks) == len(before[1]) + 1
    assert registered() == before
    if mg.autograd.hooked_leaves() == 0:
        w = mg.randn(2, requires_grad=True)
        h = mg.autograd.register_post_accumulate_grad_hook(w, lambda t: None)
        assert len(hooks.backward_hooks) == len(before[0]) + 1
        h.remove()
        assert registered() == before


def test_no_hook_is_registered_in_a_fresh_process():
    import subprocess
    import sys
    code = ("import minigrad as mg; from minigrad.autograd import hooks; "
            "x = mg.randn(2, requires_grad=True); (x * x).sum().backward(); "
            "assert hooks.backward_hooks == [] and hooks.forward_hooks == []")
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0


def test_grad_norms_are_recorded_through_the_hook():
    x = mg.randn(4, requires_grad=True)
    y = (x * 3.0).sum()
    with mg.autograd.record_grad_norms():
        y.backward(retain_graph=True)
    assert y._ctx.grad_norm == pytest.approx(1.0)
    assert y._ctx.inputs[0]._ctx.grad_norm == pytest.approx(2.0)      # ones(4): norm 2
    np.testing.assert_allclose(x.grad.numpy(), 3.0)

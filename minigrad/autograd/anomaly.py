"""detect_anomaly(): raise at the first op whose forward or backward makes NaN or inf.

An engine hook (hooks.py): it checks each op's output after forward, and each op's
input gradients after its backward. Ops run inside a backward are part of that
backward, so their own forward is not checked (the op's gradients are).
"""
import contextlib
import threading

from ..backend import xp_of
from ..dtype import kind_of
from ..errors import AnomalyError
from ..modes import state
from . import hooks


class _Mode(threading.local):
    enabled = False          # this thread is inside detect_anomaly()
    paused = 0               # > 0 while an op's backward runs (its inner ops are not checked)


_mode = _Mode()


class AnomalyCheck(hooks.EngineHook):
    def on_forward(self, fn, out, inputs):
        if _mode.enabled and not _mode.paused:
            check_finite(fn, state.scope, (out,), inputs, "forward")

    def before_backward_op(self, fn, grad):
        _mode.paused += 1

    def after_backward_op(self, fn, grad, input_grads):
        _mode.paused -= 1
        if _mode.enabled:
            check_finite(fn, fn.scope, [g.array for g in input_grads if g is not None],
                         fn.inputs, "backward")

    def on_backward_end(self, finished):
        _mode.paused = 0


_check = AnomalyCheck()
_users = 0                   # detect_anomaly blocks open in any thread; the hook is on while > 0
_lock = threading.Lock()


@contextlib.contextmanager
def detect_anomaly(enabled=True):
    """Raise an AnomalyError at the first op that makes NaN (or inf out of finite inputs),
    naming the op, the module it ran in and its input shapes; `detect_anomaly(False)`
    switches it off inside. Per thread. PyTorch: torch.autograd.detect_anomaly."""
    global _users
    prev, _mode.enabled = _mode.enabled, bool(enabled)
    with _lock:
        _users += 1
        hooks.add_hook(_check)
    try:
        yield
    finally:
        _mode.enabled = prev
        with _lock:
            _users -= 1
            if not _users:
                hooks.remove_hook(_check)


def check_finite(fn, scope, arrays, inputs, phase):
    """Raise AnomalyError when an op made NaN, or made inf out of finite inputs.

    inf that came in (an additive -inf mask) or that the op was asked to write
    (masked_fill with -inf) passes through: masking is not an anomaly, NaN always is.
    """
    for a in arrays:
        if a is None or getattr(a, "dtype", None) is None or kind_of(a.dtype) not in "fc":
            continue
        xp = xp_of(a)
        if bool(xp.isfinite(a).all()):
            continue
        nan, inf = int(xp.isnan(a).sum()), int(xp.isinf(a).sum())
        came_in = [i for i, t in enumerate(inputs) if kind_of(t.dtype) in "fc"
                   and not bool(xp_of(t.array).isfinite(t.array).all())] if phase == "forward" else []
        if not nan and phase == "forward" and (came_in or not _finite(getattr(fn, "value", 0.0))):
            continue
        what = " and ".join(f"{n} {k}" for n, k in ((nan, "NaN"), (inf, "inf")) if n)
        shapes = ", ".join(f"{tuple(t.shape)} {t.dtype}" for t in inputs)
        hint = f" (input {came_in[0]} already held NaN or inf)" if came_in else ""
        raise AnomalyError(f"{fn.name}: {phase} produced {what} (of {a.size} values)"
                           f"{_describe_scope(scope)}; input shapes {shapes}{hint}")


def _finite(value):
    try:
        return abs(float(value)) != float("inf")
    except (TypeError, ValueError):
        return True


def _describe_scope(scope):
    """' in module 'encoder.layers.0.self_attn' (MultiheadAttention)', for errors."""
    if not scope:
        return " outside any module"
    path, kind = ".".join(n for n, _ in scope if n), scope[-1][1]
    kind = f" ({kind})" if kind else ""
    return f" in module '{path}'{kind}" if path else f" in the top-level module{kind}"


class set_detect_anomaly:
    """torch.autograd.set_detect_anomaly(mode): anomaly detection on (or off) from now on;
    used as a context manager, the previous setting comes back at the end."""

    def __init__(self, mode, check_nan=True):
        self._context = detect_anomaly(bool(mode))
        self._context.__enter__()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._context.__exit__(*exc)

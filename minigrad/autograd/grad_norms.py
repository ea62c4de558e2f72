"""record_grad_norms(): during backward, store on each op the 2-norm of its output's
gradient (`fn.grad_norm`), for the graph pictures to write on the edges.

An engine hook (hooks.py). Run it with `backward(retain_graph=True)`: freeing the
graph drops the norms too.
"""
import contextlib

from . import hooks


class GradNormRecorder(hooks.EngineHook):
    def before_backward_op(self, fn, grad):
        fn.grad_norm = float((grad.array.astype("float64") ** 2).sum() ** 0.5)


@contextlib.contextmanager
def record_grad_norms(enabled=True):
    """While on, backward records each op's output-gradient norm as `fn.grad_norm`."""
    if not enabled:
        yield
        return
    with hooks.using_hook(GradNormRecorder()):
        yield

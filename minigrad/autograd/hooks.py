"""The engine's one extension point: hook objects that watch forward and backward.

A side feature subclasses `EngineHook`, overrides the methods it needs, and is
switched on with `add_hook(h)` (off with `remove_hook(h)`), or for a block of code
with `with using_hook(h):`. While no hook is registered the engine does no work
for them: `apply` and the backward walk test one empty list.

    on_forward(fn, out, inputs)       after every op's forward (recorded or not)
    on_backward_begin(order, roots, accumulate)
                                      before the walk; `order` is the topological
                                      order, `accumulate` False under minigrad.grad
    before_backward_op(fn, grad)      before fn.backward(grad)
    after_backward_op(fn, grad, input_grads)
    on_op_done(fn)                    fn has passed its gradients on (or had none)
    on_backward_end(finished)         after the walk; finished False when it raised

The features built on it, one module each: anomaly.py (detect_anomaly),
grad_norms.py (gradient norms for graph pictures), post_accumulate.py
(register_post_accumulate_grad_hook, queue_callback: data-parallel training).

Gradient hooks on single tensors (`Tensor.register_hook`, `retain_grad`) are
stored on the tensor (a leaf) or on its creator (`fn.tensor_hooks`) and run by
`run_tensor_hooks` below when that tensor's gradient is complete.
"""
import contextlib

from ..tensor import HookHandle  # noqa: F401  (the handle every register_* returns)

forward_hooks = []       # hooks whose class overrides on_forward
backward_hooks = []      # every registered hook


class EngineHook:
    """Base class: every method does nothing."""

    def on_forward(self, fn, out, inputs):
        pass

    def on_backward_begin(self, order, roots, accumulate):
        pass

    def before_backward_op(self, fn, grad):
        pass

    def after_backward_op(self, fn, grad, input_grads):
        pass

    def on_op_done(self, fn):
        pass

    def on_backward_end(self, finished):
        pass


def add_hook(hook):
    """Register `hook` (an EngineHook) with the engine; a hook already there is kept once."""
    if hook not in backward_hooks:
        backward_hooks.append(hook)
        if type(hook).on_forward is not EngineHook.on_forward:
            forward_hooks.append(hook)


def remove_hook(hook):
    """Unregister `hook`; removing one that is not registered does nothing."""
    for hooks in (forward_hooks, backward_hooks):
        if hook in hooks:
            hooks.remove(hook)


@contextlib.contextmanager
def using_hook(hook):
    """Register `hook` while the block runs."""
    add_hook(hook)
    try:
        yield hook
    finally:
        remove_hook(hook)


# ------------------------------------------------------------------ tensor hooks
def run_tensor_hooks(tensor_hooks, grad):
    """Call each `hook(grad)` in order; one that returns a Tensor replaces the gradient
    (as torch's Tensor.register_hook)."""
    for hook in list(tensor_hooks):
        out = hook(grad)
        if out is not None:
            grad = out
    return grad

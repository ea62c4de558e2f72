"""Gradient-ready hooks: data-parallel training starts averaging a parameter's
gradient across processes as soon as backward has finished with it, while the rest
of backward still runs (PyTorch: Tensor.register_post_accumulate_grad_hook and the
engine's queue_callback).

An engine hook (hooks.py), registered while any leaf carries a hook: at the start
of a backward it counts, for each hooked leaf, the ops that will pass it a
gradient; when the count reaches zero the leaf's `.grad` is final and its hooks run.
"""
from ..errors import AutogradError
from . import hooks


class PostAccumulate(hooks.EngineHook):
    """The state of the running backward (callbacks, uses) is saved when a backward starts
    inside another one (an op's backward that runs one: checkpoint's rerun) and restored
    when it ends, so the outer backward's hooks and callbacks carry on."""

    def __init__(self):
        self.hooked_leaves = 0       # leaves carrying hooks; at 0 this hook unregisters
        self.callbacks = None        # while a backward runs: functions to call at its end
        self.uses = None             # id(leaf) -> ops that still have to pass it a gradient
        self.outer = []              # (callbacks, uses) of the backward runs this one is in

    def on_backward_begin(self, order, roots, accumulate):
        self.outer.append((self.callbacks, self.uses))
        self.callbacks = []
        if not accumulate:          # minigrad.grad: no .grad is accumulated, no hook fires
            self.uses = None
            return
        uses = self.uses = {}
        for fn in order:
            for t, need in zip(fn.inputs, fn.needs_input_grad):
                if need and t._ctx is None and t.__dict__.get("_post_hooks"):
                    uses[id(t)] = uses.get(id(t), 0) + 1
        for r in roots:              # a root leaf no op uses got its gradient already
            if r._ctx is None and id(r) not in uses:
                for hook in list(r.__dict__.get("_post_hooks", ())):
                    hook(r)

    def on_op_done(self, fn):
        uses = self.uses
        if not uses:
            return
        for t, need in zip(fn.inputs, fn.needs_input_grad):
            if need and t._ctx is None and id(t) in uses:
                uses[id(t)] -= 1
                if uses[id(t)] == 0:
                    for hook in list(t._post_hooks):
                        hook(t)

    def on_backward_end(self, finished):
        callbacks = self.callbacks
        self.callbacks, self.uses = self.outer.pop() if self.outer else (None, None)
        if finished:
            for callback in callbacks:
                callback()


_engine_hook = PostAccumulate()


def register_post_accumulate_grad_hook(tensor, hook):
    """Call `hook(tensor)` once per backward, when the leaf's `.grad` holds everything
    that backward adds to it (every op using the leaf has passed its gradient on).
    Returns a handle; `handle.remove()` unregisters the hook."""
    if tensor._ctx is not None:
        raise AutogradError("register_post_accumulate_grad_hook: only leaf tensors "
                            f"accumulate .grad; this tensor was computed by {tensor._ctx.name}")
    post_hooks = tensor.__dict__.get("_post_hooks")
    if not post_hooks:
        post_hooks = tensor._post_hooks = []
        _engine_hook.hooked_leaves += 1
        hooks.add_hook(_engine_hook)
    post_hooks.append(hook)
    return hooks.HookHandle(post_hooks, hook, on_empty=lambda: _leaf_unhooked(tensor))


def _leaf_unhooked(tensor):
    del tensor._post_hooks
    _engine_hook.hooked_leaves -= 1
    if not _engine_hook.hooked_leaves:
        hooks.remove_hook(_engine_hook)


def hooked_leaves():
    """How many leaves carry post-accumulate hooks (for tests: none left behind)."""
    return _engine_hook.hooked_leaves


def queue_callback(callback):
    """Call `callback()` once the running backward has finished with every leaf."""
    if _engine_hook.callbacks is None:
        raise AutogradError("queue_callback: no backward is running")
    _engine_hook.callbacks.append(callback)

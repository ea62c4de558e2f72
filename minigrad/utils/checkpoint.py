"""Activation checkpointing (torch.utils.checkpoint.checkpoint): memory for compute.

    from minigrad.utils.checkpoint import checkpoint
    x = checkpoint(block, x, use_reentrant=False)      # inside a model's forward

A training step keeps every op's saved inputs until the backward uses them: for a
Transformer that is several activations of (batch, length, d_model) per layer, and
(batch, heads, length, length) attention weights. `checkpoint(function, *args)` runs
`function` without recording its ops, so only its inputs are kept; the backward runs it
again, recording, and backpropagates through that rerun. The gradients are the same;
the forward of the checkpointed part runs twice.

The random generator's state is saved before the first run and restored for the rerun
(preserve_rng_state), so dropout draws the same mask both times. Autocast's state is
restored for the rerun too. The function's parameters get their gradients from the
rerun's backward (they accumulate into `.grad` as usual), inside the outer backward, as
torch's reentrant checkpoint does: a post-accumulate-grad hook on such a parameter (the
data-parallel gradient averaging of minigrad.distributed) may run before that rerun has
added its part, so do not checkpoint blocks of a model trained data-parallel.
"""
from .. import backend
from ..amp.autocast_mode import autocast, get_autocast_dtype, is_autocast_enabled
from ..autograd import Function, enable_grad, is_grad_enabled, no_grad
from ..autograd import backward as autograd_backward
from ..errors import MinigradError
from ..tensor import Tensor, constant

__all__ = ["checkpoint"]

_TENSOR = object()                   # marks a tensor's place among the positional arguments


class Checkpoint(Function):
    """`function` run without a graph in forward and again with one in backward."""
    name = "checkpoint"
    once_differentiable = True
    saves_inputs = True              # the inputs are what the rerun starts from
    function: object
    args: tuple                      # the positional arguments, _TENSOR where a tensor goes
    kwargs: dict
    rng_state: object                # the CPU generator's state before the first run, or None
    autocast_state: tuple            # ((device_type, enabled, dtype), ...) of the first run

    def forward(self, *arrays):
        with no_grad():
            out = self.function(*self._arguments([constant(a) for a in arrays]), **self.kwargs)
        if not isinstance(out, Tensor):
            raise MinigradError(f"checkpoint: the function must return one Tensor, got "
                                f"{type(out).__name__} (wrap several outputs in separate "
                                "checkpoints, or return them concatenated)")
        return out.array

    def _arguments(self, tensors):
        """The positional arguments with these tensors in the tensor slots."""
        it = iter(tensors)
        return [next(it) if a is _TENSOR else a for a in self.args]

    def backward(self, grad):
        leaves = [Tensor(t.array, requires_grad=need) for t, need
                  in zip(self.inputs, self.needs_input_grad)]
        outer = _generator_state() if self.rng_state is not None else None
        try:
            if self.rng_state is not None:
                _set_generator_state(self.rng_state)
            with enable_grad(), _autocast_as(self.autocast_state):
                out = self.function(*self._arguments(leaves), **self.kwargs)
            if out.requires_grad:
                autograd_backward(out, grad)
        finally:
            if outer is not None:
                _set_generator_state(outer)
        return tuple(None if not need or t.grad is None else constant(t.grad.array)
                     for t, need in zip(leaves, self.needs_input_grad))


def checkpoint(function, *args, use_reentrant=None, context_fn=None, determinism_check="default",
               debug=False, preserve_rng_state=True, **kwargs):
    """function(*args, **kwargs), keeping only its inputs for the backward, which reruns it
    (torch.utils.checkpoint.checkpoint). Tensors among `args` are the differentiated
    inputs; keywords pass through. The function must return one Tensor.

    use_reentrant (True or False: the same results here), determinism_check and debug are
    accepted for torch's signature; context_fn is not supported. When grad mode is off or
    no tensor argument requires grad, the function just runs (its parameters still get
    their gradients). On a GPU the generator's state cannot be saved: pass
    preserve_rng_state=False there (only right when the function draws no random numbers,
    e.g. no dropout in training). Raises MinigradError for these cases.
    """
    if context_fn is not None:
        raise MinigradError("checkpoint: context_fn is not supported")
    tensors = [a for a in args if isinstance(a, Tensor)]
    if not (is_grad_enabled() and any(t.requires_grad for t in tensors)):
        return function(*args, **kwargs)      # nothing to save memory on: run it plainly
    devices = {t.device for t in tensors}
    if preserve_rng_state and devices != {"cpu"}:
        raise MinigradError(f"checkpoint: the random generator of {sorted(devices)} cannot be "
                            "saved for the rerun; pass preserve_rng_state=False if the "
                            "function draws no random numbers (no dropout in training)")
    slots = tuple(_TENSOR if isinstance(a, Tensor) else a for a in args)
    return Checkpoint.apply(*tensors, function=function, args=slots, kwargs=kwargs,
                            rng_state=_generator_state() if preserve_rng_state else None,
                            autocast_state=_autocast_state())


def _generator_state():
    return backend.generator("cpu").bit_generator.state


def _set_generator_state(state):
    backend.generator("cpu").bit_generator.state = state


def _autocast_state():
    return tuple((device, is_autocast_enabled(device), get_autocast_dtype(device))
                 for device in ("cpu", "cuda"))


class _autocast_as:
    """Re-enter the autocast state the first run had (for the rerun)."""

    def __init__(self, state):
        self.contexts = [autocast(device, dtype=dtype) for device, on, dtype in state if on]

    def __enter__(self):
        for c in self.contexts:
            c.__enter__()
        return self

    def __exit__(self, *exc):
        for c in reversed(self.contexts):
            c.__exit__(*exc)

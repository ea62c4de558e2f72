"""Module backward hooks (torch.nn.Module.register_full_backward_hook / _pre_hook).

Like torch's BackwardHook, the module's inputs and outputs pass through identity Functions:
the outputs' identities collect grad_output (and let pre-hooks replace it); the input's
identity, reached once every gradient from the outputs has arrived, calls the hooks with
(grad_input, grad_output) and passes on what they return. When no input needs a gradient
the hooks run with grad_input = (None, ...) as soon as grad_output is complete, as torch.
Known limit: minigrad's Function has one output, so a module given more than one input that
requires grad cannot have full backward hooks (a clear error says so).
"""
from minigrad.autograd import Function
from minigrad.errors import MinigradError
from minigrad.modes import state
from minigrad.tensor import Tensor


class _Record:
    """The gradients of one forward call, filled in during backward."""

    def __init__(self, module, n_inputs, input_index, n_outputs, expected):
        self.module, self.n_inputs, self.input_index = module, n_inputs, input_index
        self.grad_output, self.waiting = [None] * n_outputs, expected

    def output_grad(self, i, grad):
        for hook in list(self.module._backward_pre_hooks.values()):
            new = hook(self.module, tuple(self.grad_output[:i]) + (grad,)
                       + tuple(self.grad_output[i + 1:]))
            if new is not None:
                grad = new[i] if isinstance(new, (tuple, list)) else new
        self.grad_output[i] = grad
        self.waiting -= 1
        if self.waiting == 0 and self.input_index is None:   # no input needs a gradient
            self.call_hooks(None)
        return grad

    def call_hooks(self, grad):
        grad_input = [None] * self.n_inputs
        if self.input_index is not None:
            grad_input[self.input_index] = grad
        for hook in list(self.module._backward_hooks.values()):
            new = hook(self.module, tuple(grad_input), tuple(self.grad_output))
            if new is not None:
                grad_input = list(new) if isinstance(new, (tuple, list)) else [new]
        return grad_input[self.input_index] if self.input_index is not None else None


class _OutputIdentity(Function):
    @staticmethod
    def forward(ctx, x, record, i):
        ctx.record, ctx.i = record, i
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return ctx.record.output_grad(ctx.i, grad), None, None


class _InputIdentity(Function):
    @staticmethod
    def forward(ctx, x, record):
        ctx.record = record
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return ctx.record.call_hooks(grad), None


def wrap_inputs(module, args):
    """The positional inputs, the one that requires grad passed through an identity; and
    the record the outputs will share (None when no gradient will flow)."""
    if not state.grad_enabled:
        return args, None
    needing = [i for i, a in enumerate(args) if isinstance(a, Tensor) and a.requires_grad]
    if len(needing) > 1:
        raise MinigradError(f"{type(module).__name__}: full backward hooks support a module "
                            f"with at most one input that requires grad; got {len(needing)}")
    record = _Record(module, len(args), needing[0] if needing else None, 0, 0)
    if needing:
        args = tuple(_InputIdentity.apply(a, record) if i == needing[0] else a
                     for i, a in enumerate(args))
    return args, record


def wrap_outputs(record, out):
    """The output (a Tensor or a tuple/list of them) through identities that collect grad_output."""
    if record is None:
        return out
    outs = out if isinstance(out, (tuple, list)) else (out,)
    record.grad_output = [None] * len(outs)
    wrapped = []
    for i, o in enumerate(outs):
        if isinstance(o, Tensor) and o.requires_grad:
            record.waiting += 1
            o = _OutputIdentity.apply(o, record, i)
        wrapped.append(o)
    if isinstance(out, (tuple, list)):
        return type(out)(wrapped)
    return wrapped[0]

"""torch.autograd.functional's everyday part: jacobian, hessian and vjp of a function.

    J[i..., j...] = d func(x)[i...] / d x[j...]

`jacobian` runs one reverse pass per output element (torch's default strategy,
"reverse-mode", without vectorize): the row of J for output element i is the gradient
of that element. `hessian` is the jacobian of the gradient, taken with create_graph.
Meant for small functions (checking a derivation, a second-order method on a few
parameters): the cost is one backward pass per output element.
"""
from ..errors import AutogradError, MinigradError
from ..modes import enable_grad
from ..tensor import Tensor
from .engine import grad


def _as_inputs(inputs, op):
    single = isinstance(inputs, Tensor)
    inputs = (inputs,) if single else tuple(inputs)
    if not inputs or not all(isinstance(t, Tensor) for t in inputs):
        raise MinigradError(f"{op}: inputs must be a Tensor or a tuple of Tensors")
    # fresh leaves that require grad: the caller's tensors are not touched
    return single, tuple(t.detach().requires_grad_(True) for t in inputs)


def _as_outputs(outputs, op):
    single = isinstance(outputs, Tensor)
    outputs = (outputs,) if single else tuple(outputs)
    if not all(isinstance(o, Tensor) for o in outputs):
        raise MinigradError(f"{op}: the function must return a Tensor or a tuple of Tensors")
    return single, outputs


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False,
             strategy="reverse-mode"):
    """torch.autograd.functional.jacobian: the Jacobian of `func` at `inputs`.

    inputs: a Tensor or a tuple of Tensors; func returns a Tensor or a tuple of Tensors.
    Returns, for one input and one output, a Tensor of shape output.shape + input.shape;
    for several, a tuple over outputs of tuples over inputs (one level less where either
    is a single Tensor), as PyTorch. An output that does not depend on an input gives
    zeros there (strict=True raises AutogradError instead). create_graph=True makes the
    result differentiable. Only strategy="reverse-mode" (vectorize is accepted and does
    not change the result). Raises MinigradError for other arguments."""
    if strategy != "reverse-mode":
        raise MinigradError(f"jacobian: only strategy='reverse-mode' is supported, got {strategy!r}")
    single_in, xs = _as_inputs(inputs, "jacobian")
    with enable_grad():
        single_out, outs = _as_outputs(func(*xs), "jacobian")
        table = []
        for o in outs:
            flat = o.reshape(-1)
            rows = [[] for _ in xs]
            for i in range(flat.shape[0]):
                gs = grad(flat[i], xs, retain_graph=True, create_graph=create_graph,
                          allow_unused=True) if o.requires_grad else (None,) * len(xs)
                for k, (x, g) in enumerate(zip(xs, gs)):
                    if g is None:
                        if strict:
                            raise AutogradError(f"jacobian: output {len(table)} does not depend "
                                                f"on input {k} (strict=True)")
                        g = x.new_zeros(x.shape)
                    rows[k].append(g)
            row = tuple(_stack_rows(r, o, x) for r, x in zip(rows, xs))
            table.append(row[0] if single_in else row)
    return table[0] if single_out else tuple(table)


def _stack_rows(rows, out, x):
    """The gradients of out's elements w.r.t. x, as one (*out.shape, *x.shape) tensor."""
    from ..ops import stack
    if not rows:                                   # an output with no elements
        return x.new_zeros(tuple(out.shape) + tuple(x.shape))
    return stack(rows).reshape(tuple(out.shape) + tuple(x.shape))


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    """torch.autograd.functional.hessian: the Hessian of a scalar-valued `func` at
    `inputs` (a Tensor: shape input.shape * 2; a tuple: a tuple of tuples of blocks).
    Raises MinigradError when func does not return a one-element tensor."""
    single_in, xs = _as_inputs(inputs, "hessian")

    def gradient(*args):
        out = func(*args)
        if not isinstance(out, Tensor) or out.numel() != 1:
            raise MinigradError("hessian: the function must return a tensor with one element")
        gs = grad(out.reshape(()), args, create_graph=True, allow_unused=True)
        return tuple(a.new_zeros(a.shape) if g is None
                     else g for a, g in zip(args, gs))

    result = jacobian(gradient, xs, create_graph=create_graph, strict=strict,
                      strategy=outer_jacobian_strategy)
    return result[0][0] if single_in else result


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """torch.autograd.functional.vjp: (func(inputs), v^T J), the vector-Jacobian
    product for `v` of the output's shape (None for a one-element output)."""
    single_in, xs = _as_inputs(inputs, "vjp")
    with enable_grad():
        out = func(*xs)
        single_out, outs = _as_outputs(out, "vjp")
        vs = None if v is None else ((v,) if isinstance(v, Tensor) else tuple(v))
        gs = grad(outs, xs, grad_outputs=vs, create_graph=create_graph, allow_unused=True)
    gs = tuple(x.new_zeros(x.shape) if g is None
               else (g if create_graph else g.detach()) for x, g in zip(xs, gs))
    out = out if create_graph else (out.detach() if single_out else tuple(o.detach() for o in outs))
    return out, (gs[0] if single_in else gs)

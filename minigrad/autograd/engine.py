"""The autograd engine: Functions record the graph, `backward` walks it in reverse.

Read this file top to bottom; it is the whole idea.

1. Forward. Every differentiable op is a `Function` subclass. `Op.apply(*tensors,
   **settings)` runs `forward` on the input arrays and, when a gradient is wanted,
   returns a Tensor whose `_ctx` is the Function object: the graph is the chain
   output -> `_ctx` -> `_ctx.inputs` -> their `_ctx` ... down to the leaves.
2. Order. `topological_order` lists the Functions reachable from the loss, each
   after every Function that produced one of its inputs.
3. Backward. `run_backward` visits them in reverse: it hands each Function the
   gradient of its output, calls its `backward`, and adds the returned input
   gradients to the producers of those inputs, or, for a leaf (a parameter), into
   its `.grad`. Broadcast dimensions are summed back to each input's shape.

Settings of an op (axis, eps, ...) are declared as class annotations and passed to
`apply` as keywords. Primitive ops write `backward` with Tensor ops, so it can be
recorded again (`create_graph=True`, higher-order gradients); fused ops write it on
arrays and declare `once_differentiable = True` (see once_differentiable.py).
Everything else (anomaly checks, gradient norms for pictures, data-parallel hooks)
hangs off the walk through one extension point: `hooks.py`.
"""
import weakref

import numpy as np
from numpy import errstate

from ..backend import CPU_ARRAY, xp_of
from ..errors import AutogradError, DeviceError, MinigradError, ShapeError
from ..modes import set_grad_enabled, state
from ..tensor import Tensor
from . import hooks


# ------------------------------------------------------------------ Function
class Function:
    """One op: `forward` on arrays, `backward` on gradients, side by side.

    Subclasses set `name` (shown in errors and graphs) and declare their settings as
    class annotations (`axes: tuple`); `apply` accepts exactly those keywords. While
    the graph is alive, `self.inputs` holds the input tensors and
    `self.needs_input_grad` says which of them want a gradient.

    `edges` holds each input's creator at the time the op ran: an in-place op
    (`y += w`, methods.py) gives the tensor y a new creator, but an op that used y
    before must still pass its gradient to the old one, as in PyTorch.

    `saves_inputs` says which input values `backward` reads, so that changing one
    in place between forward and backward is an error (as in PyTorch) and changing
    another is not: True (all), False (none), "others" (a product: input i is
    read only when another input wants a gradient, as d(ab)/da = b), or a tuple of
    the indices of the inputs it reads. An input that backward does not read and
    that was computed (not a leaf) is held as a stand-in without its values
    (`_stand_in`), so that its memory can go, as PyTorch frees it. `saves_output`
    says that backward reads the op's result (y = exp(x): dy/dx = y); changing that
    result in place before backward is an error too, as in PyTorch.
    """

    name = "op"
    once_differentiable = False
    saves_inputs = True      # True, False, "others" or a tuple of indices: see above
    saves_output = False     # True: backward reads the op's own result (exp, tanh, softmax)
    holds_inputs = False     # True: self.inputs are the real tensors whatever saves_inputs says
    tensor_hooks = ()        # hooks on the output's gradient (Tensor.register_hook, retain_grad)
    retained = True          # False while a backward that frees the graph runs this op

    settings = frozenset()   # names of the annotated settings (filled in per subclass)
    class_adapters = []      # functions called on each new subclass (once_differentiable.py)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.settings = frozenset(k for c in cls.__mro__ for k in c.__dict__.get("__annotations__", {}))
        for adapt in Function.class_adapters:
            adapt(cls)

    @classmethod
    def apply(cls, *inputs, **settings):
        """Run the op on `inputs` (Tensors) with its declared `settings` (keywords);
        record it in the graph when an input wants a gradient and grad mode is on."""
        fn = cls.__new__(cls)
        if settings.keys() != cls.settings:
            cls._check_settings(settings)
        fn.__dict__.update(settings)           # the settings become attributes of this op
        arrays = [t.array for t in inputs]
        if len(arrays) > 1:
            kind = type(arrays[0])
            for a in arrays:
                if type(a) is not kind or kind is not CPU_ARRAY:
                    _check_same_device(cls.name, inputs)
                    break
        needs = tuple([t.requires_grad for t in inputs])
        record = state.grad_enabled and True in needs
        fn.needs_input_grad = needs if record else ()
        try:
            out = fn.forward(*arrays)
        except MinigradError:
            raise
        except (ValueError, TypeError, IndexError) as e:
            desc = ", ".join(f"{tuple(t.shape)} {t.dtype}" for t in inputs)
            raise ShapeError(f"{cls.name}: failed on inputs [{desc}]: {e}") from e
        if hooks.forward_hooks:
            for h in hooks.forward_hooks:
                h.on_forward(fn, out, inputs)
        if not record:
            return Tensor._make(out, False, None)
        fn.edges = [t._ctx for t in inputs]    # each input's creator now (see below)
        saves = cls.saves_inputs
        if saves is not True and not cls.holds_inputs:
            # computed inputs that backward does not read are held as stand-ins (shape,
            # dtype, device, history, no values): their memory goes when nothing else uses it
            if saves == "others":            # x * c: x is read only for c's gradient
                saves = tuple([i for i in range(len(needs))
                               if any(needs[:i]) or any(needs[i + 1:])])
            inputs = tuple([t if t._ctx is None or (saves and i in saves) else _stand_in(t)
                            for i, t in enumerate(inputs)])
        fn.inputs = inputs
        fn.scope = state.scope
        if fn.saves_inputs:
            fn.versions = tuple([t._vc[0] for t in inputs])
        result = Tensor._make(out, True, fn)
        if cls.saves_output:
            fn.output_vc = result._vc          # at version 0 now (see check_versions)
        return result

    @classmethod
    def _check_settings(cls, settings):
        """A TypeError naming the op for an unknown keyword or a missing setting."""
        if not cls.settings:
            return     # transitional: ops not yet migrated to annotations (fused files) take any
        unknown = sorted(settings.keys() - cls.settings)
        missing = sorted(k for k in cls.settings - settings.keys() if not hasattr(cls, k))
        if unknown or missing:
            raise TypeError(f"{cls.name}: unexpected setting(s) {unknown}, missing {missing}; "
                            f"this op takes {sorted(cls.settings)}")

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, grad):
        """Return one gradient (Tensor or None) per input."""
        raise NotImplementedError

    def release(self):
        """Drop the inputs and whatever forward saved, so their memory can go."""
        scope = self.__dict__.get("scope", ())
        self.__dict__.clear()
        self.scope, self.released = scope, True

    def __repr__(self):
        return f"<{self.name} backward>"


_ZERO_BYTES = bytes(16)       # a read-only zero that every stand-in's strides point at


def _stand_in(t):
    """A tensor in place of computed input `t` for an op whose backward reads no input
    value (add, relu, reshape, ...): same shape, dtype, device, requires_grad and
    creator, and one zero broadcast over its shape (no memory of its own). The engine
    reads an input's shape and dtype to pass its gradient on; graph pictures read
    shape, dtype and creator. PyTorch keeps no reference to such inputs either, so an
    activation used only by them is freed as soon as the forward is done with it."""
    a = t.array
    if type(a) is CPU_ARRAY and a.dtype.itemsize <= len(_ZERO_BYTES):
        zeros = np.ndarray(a.shape, a.dtype, buffer=_ZERO_BYTES, strides=(0,) * a.ndim)
    else:
        xp = xp_of(a)
        zeros = xp.broadcast_to(xp.zeros((), a.dtype), a.shape)
    stand_in = Tensor._make(zeros, t.requires_grad, t._ctx)
    stand_in._vc = t._vc
    stand_in.stands_for = weakref.ref(t)
    return stand_in


def _check_same_device(op, inputs):
    devices = {t.device for t in inputs}
    if len(devices) > 1:
        raise DeviceError(f"{op}: tensors on different devices: {', '.join(sorted(devices))}")


# ------------------------------------------------------------------ the order
def topological_order(roots, argument_order=False, caller="backward"):
    """The Functions reachable from `roots`, each after every Function it depends on.

    Iterative depth-first search (deep graphs must not hit Python's recursion limit).
    The order is the same on every run; `argument_order=True` visits inputs first to
    last (the graph pictures number their nodes so), else last to first."""
    order, visited = [], set()
    step = -1 if argument_order else 1
    stack = [(fn, False) for fn in roots[::step] if fn is not None]
    while stack:
        fn, expanded = stack.pop()
        if expanded:
            order.append(fn)
            continue
        if fn in visited:
            continue
        visited.add(fn)
        edges = fn.__dict__.get("edges")
        if edges is None:
            raise AutogradError(
                f"{caller}: the graph through {fn.name} was already freed by an earlier "
                "backward(); pass retain_graph=True to the first call to backward twice")
        stack.append((fn, True))
        for ctx in edges[::step]:
            if ctx is not None and ctx not in visited:
                stack.append((ctx, False))
    return order


# ------------------------------------------------------------------ the walk
def check_versions(fn, saved, versions):
    """Raise when a tensor `fn` saved for backward was changed in place since
    (every in-place op adds one to the tensor's `_version`)."""
    for i, (t, v) in enumerate(zip(saved, versions)):
        if t is not None and t._version != v and reads_saved(fn, i):
            raise AutogradError(
                f"{fn.name}: one of the variables needed for gradient computation has been "
                f"modified by an inplace operation: saved tensor {i} of {fn.name}, of shape "
                f"{tuple(t.shape)} and dtype {t.dtype}, is at version {t._version}; expected "
                f"version {v} instead")


def reads_saved(fn, i):
    """Whether fn's backward reads saved tensor i (see Function.saves_inputs)."""
    if type(fn.saves_inputs) is tuple:
        return i in fn.saves_inputs
    if fn.saves_inputs != "others":
        return True
    return any(need for k, need in enumerate(fn.needs_input_grad) if k != i)


class _Walk:
    """The state of one backward: pending gradients per Function, and where the
    leaves' gradients go (`.grad`, or the list `minigrad.grad` returns)."""

    def __init__(self, inputs, create_graph):
        self.grads = {}                  # Function -> gradient of its output so far
        self.create_graph = create_graph
        self.inputs = inputs
        self.captured = [None] * len(inputs or ())
        self.wanted_fns, self.wanted_leaves = {}, {}
        for i, t in enumerate(inputs or ()):
            if t._ctx is None:
                self.wanted_leaves[id(t)] = i
            else:
                self.wanted_fns.setdefault(t._ctx, []).append(i)
        self.handed_out = set()          # ids of arrays some gradient already uses

    def add(self, fn, g):
        prev = self.grads.get(fn)
        self.grads[fn] = g if prev is None else prev + g

    def backward_op(self, fn, g, retain_graph, active):
        """Call `fn.backward(g)` and pass each input gradient on."""
        if fn.saves_inputs:
            check_versions(fn, fn.inputs, fn.versions)
        if fn.saves_output and fn.output_vc[0]:
            raise AutogradError(
                f"{fn.name}: one of the variables needed for gradient computation has been "
                f"modified by an inplace operation: the output of {fn.name}, which its "
                f"backward reads, is at version {fn.output_vc[0]}; expected version 0 instead "
                "(change a copy, y.clone(), or use the out-of-place op)")
        fn.retained = retain_graph       # a fused backward may reuse its buffers when False
        for h in active:
            h.before_backward_op(fn, g)
        in_grads = fn.backward(g)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        for h in active:
            h.after_backward_op(fn, g, in_grads)
        for t, ctx, need, gi in zip(fn.inputs, fn.edges, fn.needs_input_grad, in_grads):
            if need and gi is not None:
                self.deliver(t, gi, ctx)

    def deliver(self, t, g, ctx):
        """Hand gradient `g` to tensor `t`: to its creator `ctx`, or into a leaf."""
        if g.shape != t.shape:                     # undo broadcasting
            g = g.sum_to_size(t.shape)
        if g.dtype != t.dtype:
            g = g.astype(t.dtype)
        if ctx is not None:
            self.add(ctx, g)
            return
        leaf_hooks = t.__dict__.get("_hooks")
        if leaf_hooks:
            g = hooks.run_tensor_hooks(leaf_hooks, g)
        if self.inputs is not None:
            i = self.wanted_leaves.get(id(t))
            if i is not None:
                self.captured[i] = g if self.captured[i] is None else self.captured[i] + g
        else:
            t.grad = (g if self.create_graph else self.own(g)) if t.grad is None else t.grad + g
            if not self.create_graph and t.grad._ctx is not None:
                t.grad = t.grad.detach()
        self.handed_out.add(id(g.array))

    def own(self, g):
        """A leaf's .grad gets memory of its own: optimizers and clipping change it in
        place, so it must not be a view, or an array another gradient also uses
        (add's backward passes one gradient to both inputs)."""
        a = g.array
        if id(a) in self.handed_out or a.base is not None or not getattr(a.flags, "writeable", True):
            return Tensor._make(a.copy(), False, None)
        return g


def run_backward(roots, root_grads, retain_graph=False, create_graph=False, inputs=None):
    """Propagate `root_grads` from `roots` back to the leaves.

    Without `inputs`, leaf gradients accumulate into `.grad` (`loss.backward()`).
    With `inputs`, their gradients are returned instead and no `.grad` is touched
    (`minigrad.grad`). A gradient that overflows, or a 0 * inf, gives inf or NaN
    quietly (as in PyTorch); `detect_anomaly()` is the way to catch it.
    """
    walk = _Walk(inputs, create_graph)
    walk.handed_out.update(id(g.array) for g in root_grads)
    root_fns = []
    for r, g in zip(roots, root_grads):
        if not r.requires_grad:
            raise AutogradError("backward: tensor does not require grad and has no grad_fn")
        if r._ctx is None:
            walk.deliver(r, g, None)
        else:
            root_fns.append(r._ctx)
            walk.add(r._ctx, g)
    order = topological_order(root_fns)
    active = hooks.backward_hooks
    for h in active:
        h.on_backward_begin(order, roots, accumulate=inputs is None)
    finished = False
    try:
        with set_grad_enabled(create_graph), errstate(all="ignore"):
            for fn in reversed(order):
                g = walk.grads.pop(fn, None)
                if g is not None:
                    if fn.tensor_hooks:                # Tensor.register_hook, retain_grad
                        g = hooks.run_tensor_hooks(fn.tensor_hooks, g)
                    if fn in walk.wanted_fns:          # minigrad.grad asked for this output
                        for i in walk.wanted_fns[fn]:
                            walk.captured[i] = g
                    walk.backward_op(fn, g, retain_graph, active)
                for h in active:
                    h.on_op_done(fn)
                if not retain_graph:
                    fn.release()
        finished = True
    finally:                                           # hooks hear of the end, failed or not
        for h in active:
            h.on_backward_end(finished)
    return walk.captured


# ------------------------------------------------------------------ entry points
def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate d(tensors)/d(leaf) into every leaf's `.grad` (torch.autograd.backward);
    with `inputs` (a tensor or a sequence), into those tensors' `.grad` only (leaves or
    computed tensors; the other leaves are left alone)."""
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    grads = _root_grads(tensors, grad_tensors, "backward")
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is None:
        run_backward(tensors, grads, retain_graph or create_graph, create_graph)
        return
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if not inputs:
        raise AutogradError("backward: inputs, when given, must not be empty")
    for t in inputs:
        if not t.requires_grad:
            raise AutogradError(f"backward: an input of shape {tuple(t.shape)} does not "
                                "require grad")
    before = [t.grad for t in inputs]
    found = run_backward(tensors, grads, retain_graph or create_graph, create_graph,
                         inputs=inputs)
    for t, g, old in zip(inputs, found, before):
        if g is not None and t.grad is old:          # (retain_grad may have stored it already)
            t.grad = g if t.grad is None else t.grad + g


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """Gradients of `outputs` with respect to `inputs`, returned as a tuple (one per input)
    rather than accumulated (torch.autograd.grad). With `create_graph=True` the result
    is itself differentiable. An input the outputs do not depend on raises unless
    allow_unused (then None) or materialize_grads (then zeros of its shape).
    is_grads_batched is not supported (AutogradError when True)."""
    if is_grads_batched:
        raise AutogradError("grad: is_grads_batched=True is not supported; loop over the "
                            "grad_outputs instead")
    if allow_unused is None:
        allow_unused = materialize_grads
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    root_grads = _root_grads(outputs, grad_outputs, "grad")
    for t in inputs:
        if not t.requires_grad:
            raise AutogradError(f"grad: an input of shape {tuple(t.shape)} does not require grad")
    if retain_graph is None:
        retain_graph = create_graph
    result = run_backward(outputs, root_grads, retain_graph, create_graph, inputs=inputs)
    for t, g in zip(inputs, result):
        if g is None and not allow_unused:
            raise AutogradError(
                f"grad: an input of shape {tuple(t.shape)} was not used to compute the outputs "
                "(pass allow_unused=True to get None for it)")
    if materialize_grads:
        result = [Tensor._make(t.xp.zeros(t.shape, dtype=t.dtype), False, None) if g is None
                  else g for t, g in zip(inputs, result)]
    return tuple(result)


def _root_grads(outputs, grad_outputs, op):
    """The gradient each output starts with: ones for a scalar, else as given."""
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    grads = []
    for o, g in zip(outputs, grad_outputs):
        if g is None:
            if o.numel() != 1:
                raise AutogradError(
                    f"{op}: grad can be implicitly created only for a scalar output, got shape "
                    f"{tuple(o.shape)}; pass a gradient of that shape")
            g = Tensor._make(o.xp.ones(o.shape, dtype=o.dtype), False, None)
        elif not isinstance(g, Tensor):
            g = Tensor(g, dtype=o.dtype, device=o.device)
        if tuple(g.shape) != tuple(o.shape):
            raise ShapeError(f"{op}: gradient shape {tuple(g.shape)} does not match output "
                             f"shape {tuple(o.shape)}")
        grads.append(g)
    return grads

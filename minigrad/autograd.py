"""The autograd engine: Functions record the graph, `backward` walks it in reverse.

Define-by-run: every differentiable op is a `Function` subclass whose `forward`
computes on raw arrays and whose `backward` maps the output's gradient to the
inputs' gradients. Calling `Op.apply(*tensors)` runs `forward` and, when a
gradient is wanted, remembers the inputs on the Function and the Function on
the output tensor (its creator). `backward` then visits creators in reverse
topological order, iteratively, so graphs of any depth work.

Primitive ops write `backward` with Tensor ops, so the gradient computation can
itself be recorded (`create_graph=True`) for higher-order gradients. Fused ops
compute their backward on arrays and declare `once_differentiable = True`.
"""
import contextlib
import functools
import threading

from numpy import errstate as _errstate
from numpy import ndarray as _ndarray

from .errors import AnomalyError, AutogradError, DeviceError, MinigradError, ShapeError


class _State(threading.local):
    """Per-thread autograd state: no_grad in one thread leaves the others alone."""

    def __init__(self):
        self.grad_enabled = True
        self.scope = ()            # ((name, class name), ...) of the running modules
        self.anomaly = False
        self.fused = True          # False: fused ops run their composed reference versions
        self.grad_norms = False    # record each op's output-gradient norm during backward
        self.callbacks = None      # while a backward runs: functions to call when it ends


state = _State()


# ------------------------------------------------------------------ grad mode
def is_grad_enabled():
    return state.grad_enabled


class set_grad_enabled:
    """Context (or decorator) that sets grad mode in this thread and restores it after.

    One object may be entered again, nested in itself or from several threads (as
    PyTorch's): what to restore is kept per thread and per entry, not in one slot.
    """

    def __init__(self, mode):
        self.mode = bool(mode)
        self._saved = {}                       # thread id -> modes to restore, innermost last

    def __enter__(self):
        self._saved.setdefault(threading.get_ident(), []).append(state.grad_enabled)
        state.grad_enabled = self.mode

    def __exit__(self, *exc):
        saved = self._saved[threading.get_ident()]
        state.grad_enabled = saved.pop()
        if not saved:
            del self._saved[threading.get_ident()]

    def __call__(self, fn):
        @functools.wraps(fn)
        def with_grad_mode(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)
        return with_grad_mode


def no_grad():
    """Context (or decorator) in which no op is recorded."""
    return set_grad_enabled(False)


def enable_grad():
    return set_grad_enabled(True)


# ------------------------------------------------------------------ module scope
@contextlib.contextmanager
def scope(name, kind=""):
    """Record ops run inside as belonging to module `name` (of class `kind`)."""
    prev = state.scope
    state.scope = prev + ((name, kind),)
    try:
        yield
    finally:
        state.scope = prev


def current_scope():
    """The dotted path of the running module, e.g. 'encoder.layers.0.self_attn'."""
    return ".".join(n for n, _ in state.scope if n)


# ------------------------------------------------------------------ fused switch
@contextlib.contextmanager
def use_fused(enabled=True):
    """Fused kernels on (default) or off. Off runs each fused op as its chain of
    primitive ops: slower, but every step shows up in the graph pictures."""
    prev = state.fused
    state.fused = bool(enabled)
    try:
        yield
    finally:
        state.fused = prev


def fused_enabled():
    return state.fused


# ------------------------------------------------------------------ anomaly mode
@contextlib.contextmanager
def detect_anomaly(enabled=True):
    """Raise at the first op whose forward or backward makes NaN or inf."""
    prev = state.anomaly
    state.anomaly = bool(enabled)
    try:
        yield
    finally:
        state.anomaly = prev


def _check_finite(fn, scope, arrays, inputs, phase):
    """Raise AnomalyError when an op made NaN, or made inf out of finite inputs.

    inf that came in (an additive -inf mask) or that the op was asked to write
    (masked_fill with -inf) passes through: masking is not an anomaly, NaN always is.
    """
    from .backend import xp_of
    for a in arrays:
        if a is None or getattr(a, "dtype", None) is None or a.dtype.kind not in "fc":
            continue
        xp = xp_of(a)
        if bool(xp.isfinite(a).all()):
            continue
        nan, inf = int(xp.isnan(a).sum()), int(xp.isinf(a).sum())
        came_in = [i for i, t in enumerate(inputs) if t.dtype.kind in "fc"
                   and not bool(xp_of(t.data).isfinite(t.data).all())] if phase == "forward" else []
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


# ------------------------------------------------------------------ Function
class Function:
    """One op: `forward` on arrays, `backward` on gradients, side by side.

    Subclasses set `name` (shown in errors and graphs). Keyword arguments of
    `apply` become attributes (axis, keepdims, ...). `self.inputs` holds the
    input tensors while the graph is alive; `self.needs_input_grad` says which
    of them want a gradient.
    """

    name = "op"
    once_differentiable = False

    @classmethod
    def apply(cls, *inputs, **params):
        fn = cls.__new__(cls)
        if params:
            fn.__dict__.update(params)
        arrays = [t.data for t in inputs]
        if len(arrays) > 1:
            kind = type(arrays[0])
            for a in arrays:
                if type(a) is not kind or kind is not _ndarray:
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
        if state.anomaly:
            _check_finite(fn, state.scope, (out,), inputs, "forward")
        if record:
            fn.inputs = inputs
            fn.scope = state.scope
            return _make_tensor(out, True, fn)
        return _make_tensor(out, False, None)

    def forward(self, *arrays):
        raise NotImplementedError

    def backward(self, grad):
        """Return one gradient (Tensor or None) per input."""
        raise NotImplementedError

    def release(self):
        """Drop the inputs and whatever forward saved, so their memory can go."""
        keep = {k: self.__dict__[k] for k in ("scope",) if k in self.__dict__}
        self.__dict__.clear()
        self.__dict__.update(keep)
        self.released = True

    def __repr__(self):
        return f"<{self.name} backward>"


def _check_same_device(op, inputs):
    devices = {t.device for t in inputs}
    if len(devices) > 1:
        raise DeviceError(f"{op}: tensors on different devices: {', '.join(sorted(devices))}")


def _make_tensor(data, requires_grad, ctx):
    """Tensor._make, bound on first use (tensor.py imports this module)."""
    global _make_tensor
    from .tensor import Tensor
    _make_tensor = Tensor._make
    return _make_tensor(data, requires_grad, ctx)


class _OnceDifferentiableGrad(Function):
    """Stands in for the gradient of a once-differentiable op under create_graph:
    differentiating it again raises instead of silently returning zeros."""

    name = "once_differentiable_grad"

    def forward(self, grad, *inputs):
        return grad

    def backward(self, grad):
        raise AutogradError(
            f"{self.op}: this fused op is once-differentiable; double backward through it "
            "is not supported (compute it from primitive ops, e.g. under minigrad.use_fused(False))")


# ------------------------------------------------------------------ the backward walk
def _topological_order(roots):
    """Creators reachable from `roots`, each after every creator it depends on."""
    order, visited = [], set()
    stack = [(fn, False) for fn in roots if fn is not None]
    while stack:
        fn, expanded = stack.pop()
        if expanded:
            order.append(fn)
            continue
        if fn in visited:
            continue
        visited.add(fn)
        inputs = fn.__dict__.get("inputs")
        if inputs is None:
            raise AutogradError(
                f"backward: the graph through {fn.name} was already freed by an earlier "
                "backward(); pass retain_graph=True to the first call to backward twice")
        stack.append((fn, True))
        for t in inputs:
            c = t._ctx
            if c is not None and c not in visited:
                stack.append((c, False))
    return order


def _sum_to(grad, shape):
    """Sum the broadcast dimensions of `grad` back to `shape`."""
    if grad.shape == shape:
        return grad
    from .ops.shape import sum_to
    return sum_to(grad, shape)


# ------------------------------------------------------------------ gradient-ready hooks
# Data-parallel training starts averaging a parameter's gradient across processes
# as soon as backward has finished with it, while the rest of backward still runs.
_hooked_leaves = 0       # leaves carrying hooks; while 0, backward does no bookkeeping


class _HookHandle:
    def __init__(self, tensor, hook):
        self.tensor, self.hook = tensor, hook

    def remove(self):
        global _hooked_leaves
        hooks = getattr(self.tensor, "_grad_hooks", None)
        if hooks and self.hook in hooks:
            hooks.remove(self.hook)
            if not hooks:
                del self.tensor._grad_hooks
                _hooked_leaves -= 1


def register_post_accumulate_grad_hook(tensor, hook):
    """Call `hook(tensor)` once per backward, when the leaf's `.grad` holds everything
    that backward adds to it (every op using the leaf has passed its gradient on).
    Returns a handle; `handle.remove()` unregisters the hook."""
    global _hooked_leaves
    if tensor._ctx is not None:
        raise AutogradError("register_post_accumulate_grad_hook: only leaf tensors "
                            "accumulate .grad; this tensor was computed by "
                            f"{tensor._ctx.name}")
    hooks = getattr(tensor, "_grad_hooks", None)
    if not hooks:
        hooks = tensor._grad_hooks = []
        _hooked_leaves += 1
    hooks.append(hook)
    return _HookHandle(tensor, hook)


def queue_callback(callback):
    """Call `callback()` once the running backward has finished with every leaf."""
    if state.callbacks is None:
        raise AutogradError("queue_callback: no backward is running")
    state.callbacks.append(callback)


def _start_leaf_hooks(order, roots):
    """Count the pending uses of every hooked leaf; fire the hooks of root leaves
    that no op uses (their gradient was delivered before the walk)."""
    uses = {}
    for fn in order:
        for t, need in zip(fn.inputs, fn.needs_input_grad):
            if need and t._ctx is None and getattr(t, "_grad_hooks", None):
                uses[id(t)] = uses.get(id(t), 0) + 1
    for r in roots:
        if r._ctx is None and id(r) not in uses:
            for hook in list(getattr(r, "_grad_hooks", ())):
                hook(r)
    return uses


def _leaf_uses_done(fn, uses):
    """`fn` has passed on its gradients: a hooked leaf with no use left is final."""
    for t, need in zip(fn.inputs, fn.needs_input_grad):
        if need and t._ctx is None and id(t) in uses:
            uses[id(t)] -= 1
            if uses[id(t)] == 0:
                for hook in list(t._grad_hooks):
                    hook(t)


def run_backward(roots, root_grads, retain_graph=False, create_graph=False, inputs=None):
    """Propagate `root_grads` from `roots` to the leaves.

    Without `inputs`, leaf gradients accumulate into `.grad`. With `inputs`, their
    gradients are returned instead and no `.grad` is touched (`minigrad.grad`).
    """
    from .tensor import Tensor
    grads = {}           # creator -> gradient of its output
    wanted_fns = {}
    if inputs is not None:
        for i, t in enumerate(inputs):
            if t._ctx is not None:
                wanted_fns.setdefault(t._ctx, []).append(i)
    captured = [None] * (len(inputs) if inputs is not None else 0)
    wanted_leaves = {id(t): i for i, t in enumerate(inputs or ()) if t._ctx is None}

    def deliver(t, g):
        if g.shape != t.shape:
            g = _sum_to(g, t.shape)
        if g.dtype != t.dtype:
            g = g.astype(t.dtype)
        if t._ctx is not None:
            prev = grads.get(t._ctx)
            grads[t._ctx] = g if prev is None else prev + g
        elif inputs is not None:
            i = wanted_leaves.get(id(t))
            if i is not None:
                captured[i] = g if captured[i] is None else captured[i] + g
        else:
            if t.grad is None:
                t.grad = g if create_graph else _own(g)
            else:
                t.grad = t.grad + g
            if not create_graph and t.grad._ctx is not None:
                t.grad = t.grad.detach()
        handed_out.add(id(g.data))

    def _own(g):
        """A leaf's .grad gets memory of its own: optimizers and clipping change it in
        place, so it must not be a view, or an array another gradient also uses
        (add's backward passes one gradient to both inputs)."""
        a = g.data
        if id(a) in handed_out or a.base is not None or not getattr(a.flags, "writeable", True):
            return Tensor._make(a.copy(), False, None)
        return g

    handed_out = {id(g.data) for g in root_grads}    # arrays some gradient already uses
    root_fns = []
    for r, g in zip(roots, root_grads):
        if not r.requires_grad:
            raise AutogradError("backward: tensor does not require grad and has no grad_fn")
        if r._ctx is None:
            deliver(r, g)
        else:
            root_fns.append(r._ctx)
            prev = grads.get(r._ctx)
            grads[r._ctx] = g if prev is None else prev + g

    order = _topological_order(root_fns)
    uses = _start_leaf_hooks(order, roots) if _hooked_leaves and inputs is None else None
    outer_callbacks, state.callbacks = state.callbacks, []
    try:
        _walk(order, grads, deliver, wanted_fns, captured, uses, retain_graph, create_graph)
        for callback in state.callbacks:
            callback()
    finally:
        state.callbacks = outer_callbacks
    return captured


def _walk(order, grads, deliver, wanted_fns, captured, uses, retain_graph, create_graph):
    """Visit the creators in reverse topological order, handing gradients to their inputs.

    A gradient that overflows, or a 0 * inf, gives inf or NaN quietly (as in PyTorch)
    rather than a NumPy warning per op; detect_anomaly() is the way to catch it."""
    with set_grad_enabled(create_graph), _errstate(all="ignore"):
        for fn in reversed(order):
            g = grads.pop(fn, None)
            if g is None:
                if uses:
                    _leaf_uses_done(fn, uses)
                continue
            if fn in wanted_fns:
                for i in wanted_fns[fn]:
                    captured[i] = g
            if state.grad_norms:
                fn.grad_norm = float((g.data.astype("float64") ** 2).sum() ** 0.5)
            fn.retained = retain_graph     # a fused backward may reuse its buffers when False
            anomaly, state.anomaly = state.anomaly, False   # ops inside fn.backward are
            try:                                            # fn's backward: check fn's result
                if fn.once_differentiable and create_graph:
                    with set_grad_enabled(False):
                        in_grads = fn.backward(g)
                else:
                    in_grads = fn.backward(g)
            finally:
                state.anomaly = anomaly
            if not isinstance(in_grads, tuple):
                in_grads = (in_grads,)
            if state.anomaly:
                _check_finite(fn, fn.scope,
                              [x.data for x in in_grads if x is not None], fn.inputs, "backward")
            for t, need, gi in zip(fn.inputs, fn.needs_input_grad, in_grads):
                if need and gi is not None:
                    if fn.once_differentiable and create_graph:
                        gi = _OnceDifferentiableGrad.apply(gi, *fn.inputs, op=fn.name)
                    deliver(t, gi)
            if uses:
                _leaf_uses_done(fn, uses)
            if not retain_graph:
                fn.release()


def backward(tensor, grad=None, retain_graph=False, create_graph=False):
    """Accumulate d(tensor)/d(leaf) into every leaf's `.grad`."""
    from .tensor import Tensor
    if grad is None:
        if tensor.size != 1:
            raise AutogradError(
                f"backward: grad can be implicitly created only for a scalar output, "
                f"got shape {tuple(tensor.shape)}; pass grad= of that shape")
        grad = Tensor._make(tensor.xp.ones(tensor.shape, dtype=tensor.dtype), False, None)
    else:
        grad = _as_grad(grad, tensor, "backward")
    run_backward([tensor], [grad], retain_graph or create_graph, create_graph)


def _as_grad(g, like, op):
    from .tensor import Tensor
    if not isinstance(g, Tensor):
        g = Tensor(g, dtype=like.dtype, device=like.device)
    if tuple(g.shape) != tuple(like.shape):
        raise ShapeError(f"{op}: gradient shape {tuple(g.shape)} does not match output shape "
                         f"{tuple(like.shape)}")
    return g


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """Gradients of `outputs` with respect to `inputs`, returned rather than accumulated.

    With `create_graph=True` the result is itself differentiable (higher-order gradients).
    """
    from .tensor import Tensor
    single = isinstance(inputs, Tensor)
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    root_grads = []
    for o, g in zip(outputs, grad_outputs):
        if g is None:
            if o.size != 1:
                raise AutogradError(
                    f"grad: grad_outputs needed for non-scalar output of shape {tuple(o.shape)}")
            g = Tensor._make(o.xp.ones(o.shape, dtype=o.dtype), False, None)
        root_grads.append(_as_grad(g, o, "grad"))
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
    return result[0] if single else tuple(result)

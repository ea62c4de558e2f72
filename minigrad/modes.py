"""Thread-local modes read by the engine and the ops: grad mode, the running
module's scope, and fused kernels on or off.

Grad mode follows PyTorch: `no_grad`, `enable_grad`, `inference_mode` and
`set_grad_enabled(mode)` are context managers and decorators (`@no_grad` and
`@no_grad()` both work); `set_grad_enabled(False)` called on its own sets the
mode, as `torch.set_grad_enabled` does. The mode is per thread (as PyTorch's):
`no_grad` in a server thread leaves a training thread recording.
"""
import contextlib
import functools
import threading


class _State(threading.local):
    def __init__(self):
        self.grad_enabled = True
        self.scope = ()            # ((name, class name), ...) of the running modules
        self.fused = True          # False: fused ops run their composed reference versions


state = _State()


def is_grad_enabled():
    return state.grad_enabled


# ------------------------------------------------------------------ grad mode
class _GradMode:
    """Enter: set the mode; exit: restore it. One object may be entered again, nested
    in itself or from several threads: what to restore is kept per thread and entry."""

    mode = True

    def __enter__(self):
        self._saved().append(state.grad_enabled)
        state.grad_enabled = self.mode

    def __exit__(self, *exc):
        saved = self.__dict__["_stacks"][threading.get_ident()]
        state.grad_enabled = saved.pop()
        if not saved:
            del self.__dict__["_stacks"][threading.get_ident()]

    def _saved(self):
        return self.__dict__.setdefault("_stacks", {}).setdefault(threading.get_ident(), [])

    def __call__(self, fn):
        """Used as a decorator: run `fn` in this mode."""
        @functools.wraps(fn)
        def in_grad_mode(*args, **kwargs):
            with self:
                return fn(*args, **kwargs)
        return in_grad_mode


class _BareDecoratorMode(_GradMode):
    """`@no_grad` (no parentheses) decorates the function directly."""

    def __new__(cls, fn=None):
        if callable(fn) and not isinstance(fn, bool):
            return super().__new__(cls)(fn)
        return super().__new__(cls)


class no_grad(_BareDecoratorMode):
    """Record no op inside (context manager or decorator). PyTorch: torch.no_grad."""

    mode = False

    def __init__(self, fn=None):
        pass


class enable_grad(_BareDecoratorMode):
    """Record ops inside, even within no_grad. PyTorch: torch.enable_grad."""

    mode = True

    def __init__(self, fn=None):
        pass


class inference_mode(_BareDecoratorMode):
    """Like no_grad (minigrad has no separate inference tensors). PyTorch: torch.inference_mode;
    `inference_mode(False)` / `inference_mode(mode=False)` leave grad mode on."""

    mode = False                 # grad mode inside: off (`inference_mode(False)`: on)

    def __new__(cls, mode=True):
        return super().__new__(cls, mode)

    def __init__(self, mode=True):
        self.mode = not (mode if isinstance(mode, bool) else True)


class set_grad_enabled(_GradMode):
    """Set grad mode to `mode` now (a plain call keeps it set, as in PyTorch); used
    as a context manager or decorator, the previous mode comes back afterwards."""

    def __init__(self, mode):
        if not isinstance(mode, bool):
            mode = bool(mode)
        self.mode = mode
        self._before_init = state.grad_enabled
        self._fresh = True                     # the mode set here is still in effect
        state.grad_enabled = mode

    def __enter__(self):
        if self.__dict__.pop("_fresh", False):   # `with set_grad_enabled(m):`: undo __init__'s
            state.grad_enabled = self._before_init     # setting on exit, not the mode it set
        super().__enter__()

    def __call__(self, fn):
        if self.__dict__.pop("_fresh", False):   # a decorator changes nothing until called
            state.grad_enabled = self._before_init
        return super().__call__(fn)


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

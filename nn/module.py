"""Module and Parameter: the building blocks every layer is made of.

A Module owns Parameters and child Modules, found by attribute assignment as in
PyTorch. Calling a module runs `forward` inside a named scope, so every op it
records knows the module path it ran in ('encoder.layers.0.self_attn'); the
graph pictures group ops by that path.
"""
import threading
from collections import OrderedDict, namedtuple

import numpy as np

from minigrad.backend import parse_device, to_device
from minigrad.dtype import as_dtype, kind_of
from minigrad.errors import MinigradError, ShapeError
from minigrad.modes import state as _mode_state
from minigrad.tensor import Tensor

from . import backward_hooks


class LoadStateDictError(ShapeError, RuntimeError):
    """load_state_dict's error: a ShapeError, and a RuntimeError as torch raises there."""


class IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What load_state_dict returns, as torch's: (missing_keys, unexpected_keys) lists."""
    __slots__ = ()


class RemovableHandle:
    """What register_*_hook returns: `remove()` takes the hook away (also as a context manager)."""

    _next_id = 0

    def __init__(self, hooks, hook, prepend=False):
        RemovableHandle._next_id += 1
        self.id, self._hooks = RemovableHandle._next_id, hooks
        hooks[self.id] = hook
        if prepend:                      # run before the hooks registered earlier
            hooks.move_to_end(self.id, last=False)

    def remove(self):
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class _WithKwargs:
    """A forward (pre-)hook registered with with_kwargs=True: it also gets the keywords."""

    def __init__(self, fn):
        self.fn = fn


class Parameter(Tensor):
    """A tensor that is a module's learnable state: requires grad by default."""

    def __init__(self, data, requires_grad=True):
        super().__init__(data.array if isinstance(data, Tensor) else data)
        if kind_of(self.dtype) == "f":
            self.requires_grad_(requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class _Running(threading.local):
    def __init__(self):
        self.stack = []          # the modules whose forward is running, outermost first


_running = _Running()


class Module:
    """Base class of every layer. Subclasses set attributes in `__init__` and define `forward`."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_child_paths", None)
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_backward_hooks", OrderedDict())
        object.__setattr__(self, "_backward_pre_hooks", OrderedDict())

    # ------------------------------------------------------------ registration
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise MinigradError(f"{type(self).__name__}: call super().__init__() before "
                                "assigning attributes")
        if name in self._buffers and not isinstance(value, (Parameter, Module)) and (
                value is None or isinstance(value, Tensor)):
            # `self.count += 1` or `self.buf = new_tensor` on a buffer: it stays a buffer, with
            # its persistence (as torch's __setattr__).
            self._buffers[name] = value
            object.__setattr__(self, name, value)
            return
        # a Parameter or Module replacing one of its kind keeps its place in the registry
        # (dict assignment to an existing key), so parameters, children and state_dict
        # keys stay in definition order, as in torch
        keep = self._parameters if isinstance(value, Parameter) else \
            self._modules if isinstance(value, Module) else None
        for registry in (self._parameters, self._modules, self._buffers):
            if registry is not keep:
                registry.pop(name, None)
        if keep is not None:
            keep[name] = value
        self._invalidate_paths()
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        for registry in (self._parameters, self._modules, self._buffers):
            registry.pop(name, None)
        self._invalidate_paths()
        object.__delattr__(self, name)

    def _invalidate_paths(self):
        object.__setattr__(self, "_child_paths", None)

    def register_buffer(self, name, tensor, persistent=True):
        """State that is not learned (e.g. the positional-encoding table) but moves with `.to()`."""
        object.__setattr__(self, name, tensor)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def register_parameter(self, name, param):
        setattr(self, name, param)

    def add_module(self, name, module):
        setattr(self, name, module)

    def register_module(self, name, module):
        """torch's alias of add_module."""
        self.add_module(name, module)

    # ------------------------------------------------------------ calling
    def __call__(self, *args, **kwargs):
        stack = _running.stack
        name = self._name_under(stack[-1]) if stack else ""
        stack.append(self)
        # ops run inside belong to this module (minigrad.autograd.scope, written out: this
        # runs for every layer of every step)
        outer = _mode_state.scope
        _mode_state.scope = outer + ((name, type(self).__name__),)
        try:
            if self._forward_pre_hooks:
                for hook in list(self._forward_pre_hooks.values()):
                    if isinstance(hook, _WithKwargs):   # hook(module, args, kwargs)
                        new = hook.fn(self, args, kwargs)
                        if new is not None:             # ... -> None or (args, kwargs)
                            args, kwargs = new
                        continue
                    new = hook(self, args)
                    if new is not None:        # a hook may replace the inputs
                        args = new if isinstance(new, tuple) else (new,)
            record = None
            if self._backward_hooks or self._backward_pre_hooks:
                args, record = backward_hooks.wrap_inputs(self, args)
            out = self.forward(*args, **kwargs)
            if self._forward_hooks:
                for hook in list(self._forward_hooks.values()):
                    new = hook.fn(self, args, kwargs, out) if isinstance(hook, _WithKwargs) \
                        else hook(self, args, out)
                    if new is not None:        # ... or the output
                        out = new
            return backward_hooks.wrap_outputs(record, out) if record is not None else out
        finally:
            _mode_state.scope = outer
            stack.pop()

    def register_forward_pre_hook(self, hook, *, prepend=False, with_kwargs=False):
        """Call hook(module, args) before each forward; a non-None result replaces args.
        with_kwargs=True: hook(module, args, kwargs), returning None or (args, kwargs).
        prepend=True: before the hooks already registered. Returns a handle whose remove()
        takes the hook away (torch.nn.Module's)."""
        return RemovableHandle(self._forward_pre_hooks,
                               _WithKwargs(hook) if with_kwargs else hook, prepend)

    def register_forward_hook(self, hook, *, prepend=False, with_kwargs=False,
                              always_call=False):
        """Call hook(module, args, output) after each forward; a non-None result replaces
        the output. with_kwargs=True: hook(module, args, kwargs, output). prepend as for
        pre-hooks; always_call is accepted (a forward that raises calls no hook here).
        Returns a handle whose remove() takes the hook away."""
        return RemovableHandle(self._forward_hooks,
                               _WithKwargs(hook) if with_kwargs else hook, prepend)

    def register_full_backward_hook(self, hook):
        """Call hook(module, grad_input, grad_output) when the gradients with respect to the
        module's inputs are computed; a non-None result replaces grad_input (torch's).
        At most one positional input may require grad (see nn/backward_hooks.py)."""
        return RemovableHandle(self._backward_hooks, hook)

    def register_full_backward_pre_hook(self, hook):
        """Call hook(module, grad_output) when the output's gradient arrives; a non-None
        result replaces grad_output (torch's)."""
        return RemovableHandle(self._backward_pre_hooks, hook)

    def _name_under(self, parent):
        """This module's path relative to the running parent module."""
        paths = parent._child_paths
        if paths is None or id(self) not in paths:      # first call, or children changed
            paths = {}
            for path, m in parent._named_modules_through_containers():
                paths.setdefault(id(m), path)
            for path, m in parent.named_modules():      # a grandchild called directly
                if m is not parent:                     # (model.transformer.encoder(x))
                    paths.setdefault(id(m), path)
            object.__setattr__(parent, "_child_paths", paths)
        return paths.get(id(self), type(self).__name__.lower())

    def _named_modules_through_containers(self, prefix=""):
        """Descendants reachable without passing through another called module."""
        for name, m in self._modules.items():
            path = f"{prefix}{name}"
            yield path, m
            if getattr(m, "_see_through", False):     # ModuleList, ModuleDict
                yield from m._named_modules_through_containers(path + ".")

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} has no forward()")

    # ------------------------------------------------------------ traversal
    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """(path, module) for self and every descendant; a shared module once unless
        remove_duplicate=False (torch's signature)."""
        if isinstance(memo, str):       # the old (prefix, memo) order of this method
            memo, prefix = None, memo
        memo = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(memo, f"{prefix}.{name}" if prefix else name,
                                           remove_duplicate)

    def get_submodule(self, target):
        """The module at dotted path `target` ('' is self), e.g. 'encoder.layers.0.self_attn'."""
        m = self
        for part in target.split(".") if target else ():
            if part not in m._modules:
                raise AttributeError(f"{type(m).__name__} has no submodule {part!r} "
                                     f"(looking up {target!r})")
            m = m._modules[part]
        return m

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        return iter(self._modules.items())

    def children(self):
        return iter(self._modules.values())

    def _named_members(self, registry, prefix, recurse, remove_duplicate):
        """(path, tensor) for the tensors of `registry` ("_parameters" or "_buffers") in
        self (and its descendants when recurse); a shared tensor once unless
        remove_duplicate=False (torch's _named_members)."""
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) \
            if recurse else [(prefix, self)]
        for mod_prefix, m in modules:
            for name, t in getattr(m, registry).items():
                if t is None or (remove_duplicate and id(t) in seen):
                    continue
                seen.add(id(t))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), t

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(path, parameter) pairs; a parameter shared by two modules appears once unless
        remove_duplicate=False (torch.nn.Module.named_parameters)."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        """(path, buffer) pairs, as named_parameters (torch.nn.Module.named_buffers)."""
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def num_parameters(self, trainable_only=False):
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def apply(self, fn):
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------ state
    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """Parameters and persistent buffers by dotted path, as torch names them (a tensor
        shared by two modules appears under both names); detached tensors sharing the
        module's memory unless keep_vars=True."""
        out = OrderedDict() if destination is None else destination
        for mod_prefix, m in self.named_modules(remove_duplicate=False):
            entries = list(m._parameters.items()) + [
                (n, b) for n, b in m._buffers.items() if n not in m._non_persistent]
            for name, t in entries:
                if t is not None:
                    key = prefix + (f"{mod_prefix}.{name}" if mod_prefix else name)
                    out[key] = t if keep_vars else t.detach()
        return out

    # Child names as torch's counterpart module has them -> their path here, for modules
    # laid out differently from torch's (the Transformer layers' feed_forward): a state
    # dict written by torch loads as it is.
    _torch_names = {}

    def _own_names(self, state_dict):
        """`state_dict` with keys in torch's layout renamed to this module's, where a
        submodule declares `_torch_names`; keys this module has stay as they are."""
        renames = [(f"{prefix}." if prefix else "", theirs, ours)
                   for prefix, m in self.named_modules() for theirs, ours in m._torch_names.items()]
        if not renames:
            return state_dict
        out = OrderedDict()
        for key, value in state_dict.items():
            for prefix, theirs, ours in renames:
                if key.startswith(prefix + theirs + "."):
                    key = prefix + ours + key[len(prefix + theirs):]
                    break
            out[key] = value
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy values in place. Every missing, unexpected or mis-shaped entry is
        reported in one error (with strict=False, missing and unexpected are allowed).
        Keys in torch's layout where this module's differs are renamed (`_torch_names`)."""
        state_dict = self._own_names(state_dict)
        own = self.state_dict()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        problems = []
        for k, target in own.items():
            if k not in state_dict:
                continue
            value = state_dict[k]
            shape = tuple(value.shape) if hasattr(value, "shape") else tuple(np.shape(value))
            if shape != tuple(target.shape):
                # (torch's wording, which programs search for: "size mismatch for ...")
                problems.append(f"size mismatch for {k}: copying a param with shape {shape} "
                                f"from checkpoint, the shape in current model is "
                                f"{tuple(target.shape)}")
        errors = []
        if strict and missing:
            errors.append(f"missing keys {missing}")
        if strict and unexpected:
            errors.append(f"unexpected keys {unexpected}")
        errors += problems
        if errors:
            raise LoadStateDictError(f"load_state_dict: error(s) in loading state_dict for "
                                     f"{type(self).__name__}: " + "; ".join(errors))
        for k, target in own.items():
            if k in state_dict:
                value = state_dict[k]
                array = value.array if isinstance(value, Tensor) else np.asarray(value)
                target.array[...] = to_device(array, target.device).astype(target.dtype, copy=False)
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------ modes and devices
    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def to(self, *args, dtype=None, device=None, non_blocking=False):
        """Move (or cast) every parameter and buffer in place; returns self (non_blocking
        is accepted and changes nothing: copies here are synchronous)."""
        for a in args:               # a string that names no dtype is a device (as Tensor.to)
            if isinstance(a, str) and not a.startswith(("float", "int", "bool", "half", "double",
                                                        "long")):
                device = a
            else:
                dtype = a
        device = parse_device(device) if device is not None else None
        dtype = as_dtype(dtype)
        for t in list(self.parameters()) + list(self.buffers()):
            data = t.array
            if device is not None:
                data = to_device(data, device)
            if dtype is not None and kind_of(data.dtype) == "f":
                data = data.astype(dtype)
            t.array = data
            if t.grad is not None:
                t.grad = None
        return self

    def float(self):
        """Cast floating-point parameters and buffers to float32 (in place); returns self."""
        return self.to(dtype="float32")

    def double(self):
        return self.to(dtype="float64")

    def half(self):
        return self.to(dtype="float16")

    def cuda(self, index=0):
        return self.to(f"cuda:{index}")

    def cpu(self):
        return self.to("cpu")

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.array[...] = 0

    def requires_grad_(self, flag=True):
        for p in self.parameters():
            p.requires_grad_(flag)
        return self

    # ------------------------------------------------------------ printing
    def extra_repr(self):
        return ""

    def __repr__(self):
        lines = []
        for name, m in self._modules.items():
            child = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {child}")
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n" + "\n".join(lines) + "\n)"


from .container import ModuleDict, ModuleList, Sequential  # noqa: E402,F401  (old import path)

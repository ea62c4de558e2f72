"""The Optimizer base class: parameter groups, per-parameter state, saving and restoring.

As in PyTorch, an optimizer holds a list of parameter groups, each a dict
with 'params' and that group's hyper-parameters (so the embeddings can have
their own learning rate), and a `state` dict from parameter to its running
buffers (momentum, Adam's moments). Subclasses implement `step()`, updating
each parameter's array in place on its own device.

`state_dict()` names parameters by their position across the groups, as
PyTorch does, so a saved state loads into a freshly built optimizer:

    {"state": {0: {"step": 3, "exp_avg": Tensor, ...}, ...},
     "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), ..., "params": [0, 1, 2]}]}

Arrays are minigrad Tensors and everything else is JSON-able, which is what
`minigrad.io` needs to store it in a safetensors checkpoint.
"""
import collections.abc
import functools
import inspect
import math
import numbers

import numpy as np

from ..backend import is_array, to_device, xp_of
from ..dtype import kind_of
from ..errors import MinigradError, ShapeError
from ..modes import enable_grad
from ..tensor import Tensor, constant


def check_number(owner, key, v, low=None, high=None, high_open=False):
    """`v` as a float; a MinigradError naming `owner` and `key` unless it is a finite real
    number in [low, high] (or [low, high) with high_open). A 0-d Tensor counts as a number."""
    if isinstance(v, Tensor) and v.ndim == 0:    # torch accepts a 0-d tensor learning rate
        v = v.item()
    key = "lr (the learning rate)" if key == "lr" else key
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise MinigradError(f"{owner}: {key} must be a number, got {v!r} ({type(v).__name__})")
    if not math.isfinite(v):
        raise MinigradError(f"{owner}: {key} must be finite, got {v}")
    if low is not None and v < low or high is not None and (v >= high if high_open else v > high):
        rng = f"in [{low}, {high}{')' if high_open else ']'}" if high is not None else f">= {low}"
        raise MinigradError(f"{owner}: {key} must be {rng}, got {v}")
    return float(v)


def check_int(owner, key, v, low=None):
    """`v` as an int >= low; a MinigradError naming `owner` and `key` otherwise."""
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise MinigradError(f"{owner}: {key} must be an int, got {v!r} ({type(v).__name__})")
    if low is not None and v < low:
        raise MinigradError(f"{owner}: {key} must be >= {low}, got {v}")
    return int(v)


class Optimizer:
    def __init_subclass__(cls, **kwargs):
        """A subclass's step(self) also takes torch's optional `closure` (a function that
        re-evaluates the model and returns the loss): step(closure) calls it under
        enable_grad() first and returns its loss. A step that takes more arguments
        itself (a torch-style custom optimizer) is left as written."""
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is None or len(inspect.signature(step).parameters) != 1:
            return

        @functools.wraps(step)
        def step_with_closure(self, closure=None):
            loss = None
            if closure is not None:
                with enable_grad():
                    loss = closure()
            step(self)
            return loss
        cls.step = step_with_closure

    def __init__(self, params, defaults, foreach=None, fused=None, capturable=False,
                 differentiable=False):
        """`defaults`: the hyper-parameters of every group that does not set its own.
        torch's implementation switches are accepted: foreach and fused (None or a bool)
        change nothing (minigrad picks its own kernel: blocked and threaded on the CPU, one
        fused kernel on a GPU); capturable and differentiable steps are not supported
        (MinigradError when True)."""
        name = type(self).__name__
        for key, value in (("foreach", foreach), ("fused", fused)):
            if value is not None and not isinstance(value, bool):
                raise MinigradError(f"{name}: {key} must be None, True or False, got {value!r}")
        for key, value in (("capturable", capturable), ("differentiable", differentiable)):
            if value:
                raise MinigradError(f"{name}: {key}=True is not supported (minigrad's optimizer "
                                    "steps are neither captured in CUDA graphs nor recorded by "
                                    "autograd)")
        self.defaults = dict(defaults)
        self.param_groups = []
        self._state = {}                # parameter -> {name: array or int}; see `state`
        name = type(self).__name__
        if isinstance(params, (Tensor, dict)) or not hasattr(params, "__iter__"):
            what = (f"a single Tensor of shape {tuple(params.shape)}" if isinstance(params, Tensor)
                    else f"an object of type {type(params).__name__}")
            raise MinigradError(f"{name}: params must be an iterable of Tensors or of parameter-group "
                                f"dicts, got {what}; pass model.parameters(), [tensor] or "
                                "[{'params': [...]}, ...]")
        groups = list(params)
        if not groups:
            raise MinigradError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, group):
        """Add a group of parameters; missing hyper-parameters take the defaults."""
        name = type(self).__name__
        if not isinstance(group, dict) or "params" not in group:
            raise MinigradError(f"{name}: a parameter group must be a dict with a 'params' entry")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in params:
            if not isinstance(p, Tensor):
                raise MinigradError(f"{name}: can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise MinigradError(f"{name}: can only optimize leaf tensors (parameters), "
                                    f"got one computed by {p.grad_fn.name}")
            if id(p) in seen:
                raise MinigradError(f"{name}: a parameter of shape {tuple(p.shape)} appears in "
                                    "more than one place; each parameter may appear once")
            seen.add(id(p))
        new = {k: v for k, v in group.items() if k != "params"}
        for k, v in self.defaults.items():
            new.setdefault(k, v)
        self._check_hyperparameters(new)
        new["params"] = params
        self.param_groups.append(new)

    def _check_hyperparameters(self, group):
        """Subclasses extend this: a clear error for a value of the wrong type or out of range."""
        group["lr"] = self._check_number(group, "lr", low=0.0)
        if not isinstance(group.get("maximize", False), (bool, np.bool_)):
            raise MinigradError(f"{type(self).__name__}: maximize must be True or False, got "
                                f"{group['maximize']!r}")

    def _check_number(self, group, key, low=None, high=None, high_open=False, value=None):
        """group[key] (or `value`) as a float, checked by `check_number`."""
        return check_number(type(self).__name__, key, group[key] if value is None else value,
                            low, high, high_open)

    # ------------------------------------------------------------ every step
    def zero_grad(self, set_to_none=True):
        """Forget the gradients of the last backward (None by default: no memory kept)."""
        for g in self.param_groups:
            for p in g["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad = constant(p.grad.xp.zeros_like(p.grad.array))

    @property
    def state(self):
        """torch's `optimizer.state`: parameter -> {name: value}, the arrays as Tensors that
        share the optimizer's memory (reading one sees the latest step; changing one in
        place changes the optimizer's state; assigning a Tensor or array replaces it).
        A parameter not stepped yet reads as an empty dict, as torch's defaultdict."""
        return _StateView(self._state)

    @state.setter
    def state(self, value):         # (torch code may assign a fresh defaultdict)
        self._state = {p: {k: _as_state_value(v) for k, v in dict(s).items()}
                       for p, s in dict(value).items()}

    def step(self):
        raise NotImplementedError(f"{type(self).__name__} has no step()")

    def _params_with_grad(self, group):
        """(parameter, gradient array) for each parameter of `group` that has a gradient;
        the gradient negated when the group maximizes (torch's maximize=True: ascend)."""
        maximize = group.get("maximize", False)
        for p in group["params"]:
            if p.grad is not None:
                p._version += 1          # the step changes p in place (autograd checks this)
                yield p, (-p.grad.array if maximize else p.grad.array)

    def _scratch(self, like):
        """A reusable work array of `like`'s shape, dtype and device, so a step
        allocates no fresh memory per parameter (one buffer per device and dtype)."""
        cache = self.__dict__.setdefault("_scratch_buffers", {})
        key = (type(like), str(getattr(like, "device", "cpu")), like.dtype)
        buf = cache.get(key)
        if buf is None or buf.size < like.size:
            buf = cache[key] = xp_of(like).empty(like.size, dtype=like.dtype)
        return buf[:like.size].reshape(like.shape)

    # ------------------------------------------------------------ saving
    def _indexed_params(self):
        return [p for g in self.param_groups for p in g["params"]]

    def state_dict(self):
        """The state as {'state': {index: {...}}, 'param_groups': [...]}; arrays as Tensors
        that share memory with the optimizer (copy them to keep a snapshot)."""
        index = {id(p): i for i, p in enumerate(self._indexed_params())}
        state = {}
        for p, s in self._state.items():
            state[index[id(p)]] = {k: (constant(v) if hasattr(v, "dtype") and hasattr(v, "shape")
                                       else v) for k, v in s.items()}
        groups = []
        for g in self.param_groups:
            groups.append({**{k: v for k, v in g.items() if k != "params"},
                           "params": [index[id(p)] for p in g["params"]]})
        return {"state": state, "param_groups": groups}

    def state_dict_problems(self, state_dict):
        """Every reason `state_dict` cannot load into this optimizer (empty when it can)."""
        name = type(self).__name__
        try:
            groups, state = state_dict["param_groups"], state_dict["state"]
        except (KeyError, TypeError):
            return [f"{name}.load_state_dict: expected a dict with 'state' and 'param_groups'"]
        problems = []
        if len(groups) != len(self.param_groups):
            return [f"{name}.load_state_dict: checkpoint has {len(groups)} parameter groups, "
                    f"optimizer has {len(self.param_groups)}"]
        for i, (saved, own) in enumerate(zip(groups, self.param_groups)):
            if len(saved["params"]) != len(own["params"]):
                problems.append(f"{name}.load_state_dict: group {i} has {len(saved['params'])} "
                                f"parameters in the checkpoint, {len(own['params'])} in the optimizer")
            try:                                # values read from a file: checked like arguments
                self._check_hyperparameters(self._saved_group(saved, own))
            except MinigradError as e:
                problems.append(f"{name}.load_state_dict: group {i}: {e}")
            except (KeyError, TypeError) as e:
                problems.append(f"{name}.load_state_dict: group {i} is malformed ({e!r})")
        if problems:
            return problems
        params = self._indexed_params()
        position = {int(k): p for saved, own in zip(groups, self.param_groups)
                    for k, p in zip(saved["params"], own["params"])}
        for key, s in state.items():
            p = position.get(int(key))
            if p is None:
                problems.append(f"{name}.load_state_dict: state for parameter {key}, which no "
                                f"group lists (the optimizer has {len(params)} parameters)")
                continue
            for k, v in s.items():
                if hasattr(v, "shape") and tuple(v.shape) not in ((), tuple(p.shape)):
                    problems.append(f"{name}.load_state_dict: shape mismatch for state {key}.{k}: "
                                    f"checkpoint {tuple(v.shape)}, parameter {tuple(p.shape)}")
        return problems

    def load_state_dict(self, state_dict):
        """Restore hyper-parameters and state; every problem is reported in one error."""
        problems = self.state_dict_problems(state_dict)
        if problems:
            raise ShapeError("; ".join(problems))
        groups = state_dict["param_groups"]
        position = {int(k): p for saved, own in zip(groups, self.param_groups)
                    for k, p in zip(saved["params"], own["params"])}
        self._state = {}
        for key, s in state_dict["state"].items():
            p = position[int(key)]
            self._state[p] = {k: self._restore(v, p) for k, v in s.items()}
        for saved, own in zip(groups, self.param_groups):
            restored = self._saved_group(saved, own)
            self._check_hyperparameters(restored)      # (checked in state_dict_problems)
            own.update(restored)

    @staticmethod
    def _saved_group(saved, own):
        """A saved group's hyper-parameters as the optimizer holds them, with own's params."""
        restored = {k: tuple(v) if isinstance(v, list) else v for k, v in saved.items()}
        restored["params"] = own["params"]
        return restored

    @staticmethod
    def _restore(value, param):
        """A saved state entry as an array on the parameter's device and in its dtype."""
        if isinstance(value, Tensor):
            value = value.array
        if not hasattr(value, "shape"):
            return value
        array = to_device(value, param.device)
        if kind_of(array.dtype) == "f":
            array = array.astype(param.dtype, copy=True)
        else:
            array = array.copy()
        return array if array.ndim else (array.item() if array.dtype.kind in "iu" else array)

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, g in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(k for k in g if k != "params"):
                lines.append(f"    {k}: {g[k]}")
        return "\n".join(lines) + "\n)"


def _as_state_value(value):
    return value.array if isinstance(value, Tensor) else value


class _ParamState(collections.abc.MutableMapping):
    """One parameter's optimizer state, its arrays seen as Tensors (Optimizer.state)."""

    def __init__(self, raw):
        self._raw = raw

    def __getitem__(self, key):
        value = self._raw[key]
        return Tensor._make(value, False, None) if is_array(value) else value

    def __setitem__(self, key, value):
        self._raw[key] = _as_state_value(value)

    def __delitem__(self, key):
        del self._raw[key]

    def __iter__(self):
        return iter(self._raw)

    def __len__(self):
        return len(self._raw)

    def __repr__(self):
        return repr(dict(self.items()))


class _StateView(collections.abc.MutableMapping):
    """Optimizer.state: parameter -> _ParamState, over the optimizer's own dict."""

    def __init__(self, raw):
        self._raw = raw

    def __getitem__(self, param):
        return _ParamState(self._raw.setdefault(param, {}))

    def __setitem__(self, param, values):
        self._raw[param] = {k: _as_state_value(v) for k, v in dict(values).items()}

    def __delitem__(self, param):
        del self._raw[param]

    def __contains__(self, param):
        return param in self._raw

    def __iter__(self):
        return iter(self._raw)

    def __len__(self):
        return len(self._raw)

    def __repr__(self):
        return repr({p: dict(s.items()) for p, s in self.items()})

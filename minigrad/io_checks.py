"""Checks of values read from files, before anything acts on them (used by minigrad.io).

`check_value`, `check_fields` and `check_numbers` validate what a caller reads from a
checkpoint's metadata (a model config, a loss history): each raises a CheckpointError
that names where the value came from, what it is and what was expected.
`_kind_problems` compares a state read from a file with an object's own state.
"""
import math

import numpy as np

from .safetensors_format import CheckpointError


def _kind_problems(name, own, saved):
    """Where `saved` (read from a file) is not the same kind of value as `own` (the
    object's current state): numbers (finite where own is), strings, bools, lists of the
    same length, dicts (per common key), arrays of the same shape."""
    if own is None:
        return []
    if isinstance(own, dict):
        if not isinstance(saved, dict):
            return [f"{name or 'state'} is {type(saved).__name__}, expected a dict"]
        return [p for k in own if k in saved
                for p in _kind_problems(f"{name}.{k}" if name else str(k), own[k], saved[k])]
    if isinstance(own, (list, tuple)):
        if not isinstance(saved, (list, tuple)) or len(saved) != len(own):
            return [f"{name} is {saved!r}, expected a list of {len(own)}"]
        return [p for i, (a, b) in enumerate(zip(own, saved))
                for p in _kind_problems(f"{name}[{i}]", a, b)]
    if hasattr(own, "shape"):
        ok = hasattr(saved, "shape") and tuple(saved.shape) == tuple(own.shape)
        return [] if ok else [f"{name} has shape {getattr(saved, 'shape', None)}, expected "
                              f"{tuple(own.shape)}"]
    if isinstance(own, bool) or isinstance(own, str):
        ok = type(saved) is type(own)
    elif isinstance(own, (int, float, np.number)):
        ok = (_is_number(saved) and (math.isfinite(saved) or not math.isfinite(own))
              and (not isinstance(own, (int, np.integer)) or float(saved).is_integer()))
    else:
        ok = True
    return [] if ok else [f"{name} is {saved!r}, expected a value like {own!r}"]


def _is_number(v):
    return isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_))


# ------------------------------------------------------------------ validation helpers
# For values read from a file (a config, a loss history) before anything acts on them.
_KINDS = {int: "a whole number", float: "a finite number", str: "a string", bool: "true or false"}


def check_value(where, name, value, kind=int, low=None, high=None):
    """`value` when it is a `kind` (int, float, str or bool; an int is not a bool, a float
    is an int or a finite float) within [low, high]; else a CheckpointError
    "`where`: `name` must be ..., got ...". Returns the value (a float as float)."""
    if kind is int:
        ok = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
    elif kind is float:
        ok = _is_number(value) and math.isfinite(value)
    else:
        ok = isinstance(value, kind)
    ok = ok and (low is None or value >= low) and (high is None or value <= high)
    if not ok:
        bounds = "".join([f" >= {low}" if low is not None else "",
                          " and" if low is not None and high is not None else "",
                          f" <= {high}" if high is not None else ""])
        raise CheckpointError(f"{where}: {name} must be {_KINDS.get(kind, kind.__name__)}"
                              f"{bounds}, got {value!r}")
    return float(value) if kind is float else value


def check_fields(where, mapping, spec):
    """Check a dict read from a file (a model config, ...) against
    spec = {key: (kind, low, high)}: every key present and valid (check_value); all
    problems in one CheckpointError. Returns `mapping`."""
    if not isinstance(mapping, dict):
        raise CheckpointError(f"{where}: expected a JSON object, got {type(mapping).__name__}")
    problems = []
    for key, (kind, low, high) in spec.items():
        if key not in mapping:
            problems.append(f"{key} is missing")
            continue
        try:
            check_value(where, key, mapping[key], kind, low, high)
        except CheckpointError as e:
            problems.append(str(e)[len(where) + 2:])
    if problems:
        raise CheckpointError(f"{where}: " + "; ".join(problems))
    return mapping


def check_numbers(where, name, values, kind=float, low=None, high=None, length=None):
    """A list read from a file (a loss history) whose items all pass check_value, of
    `length` items when given. Returns it as a list."""
    if not isinstance(values, list) or (length is not None and len(values) != length):
        want = f"a list of {length} numbers" if length is not None else "a list of numbers"
        got = f"{len(values)} items" if isinstance(values, list) else type(values).__name__
        raise CheckpointError(f"{where}: {name} must be {want}, got {got}")
    return [check_value(where, f"{name}[{i}]", v, kind, low, high) for i, v in enumerate(values)]

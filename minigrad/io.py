"""Saving and loading tensors and training checkpoints, in the safetensors format.

Why safetensors: a safetensors file is an 8-byte header length, a JSON header
(names, dtypes, shapes, byte offsets, string metadata) and raw little-endian
bytes. Reading one runs no code from the file, unlike a pickle (`torch.save`),
which can run anything when it is loaded. The same file opens in PyTorch
(`safetensors.torch.load_file`), JAX or NumPy. Nothing here ever unpickles.

Writes are atomic: the bytes go to a temporary file in the destination's
folder, are flushed to disk (fsync) and then renamed over the destination
(`os.replace`), so a crash mid-save leaves the previous file as it was.

    minigrad.save(model.state_dict(), "model.safetensors")
    model.load_state_dict(minigrad.load("model.safetensors"))

    ckpt = Checkpoint(model, optimizer, scheduler)
    ckpt.save("run.safetensors", step=step)
    step = ckpt.load("run.safetensors")["step"]

A checkpoint is one safetensors file: model tensors under 'model.', optimizer
arrays under 'optim.', schedule arrays (if any) under 'sched.'; the step, the
random generator state, hyper-parameters and the layout of the optimizer's
state are JSON strings in the header's metadata.
"""
import json
import os

import numpy as np

from .backend import get_rng_state, set_rng_state, to_device
from .dtype import kind_of
from .errors import MinigradError
from .io_checks import _kind_problems, check_fields, check_numbers, check_value  # noqa: F401
from .safetensors_format import (CheckpointError, CheckpointWriteError, atomic_write,  # noqa: F401
                                 read_header, read_tensors, remove_stale_temps)
from .tensor import Tensor

FORMAT = "minigrad-checkpoint"
FORMAT_VERSION = "1"


def _safetensors():
    """Import the safetensors package on first use."""
    try:
        import safetensors
        import safetensors.numpy
    except ImportError as e:  # pragma: no cover - depends on the machine
        raise MinigradError("minigrad.io needs the safetensors package, which is not installed: "
                            "pip install safetensors") from e
    return safetensors


# ------------------------------------------------------------------ plain tensors
def _host_array(name, value):
    if isinstance(value, Tensor):
        value = value.array
    if not hasattr(value, "dtype"):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray):            # CuPy: copy to the host
        value = to_device(value, "cpu")
    if kind_of(value.dtype) not in "biuf":
        raise CheckpointError(f"save: tensor {name!r} has dtype {value.dtype}, which safetensors "
                              "cannot store")
    # (np.ascontiguousarray would turn a 0-d array into shape (1,))
    return value if value.flags.c_contiguous else value.copy(order="C")


def save(tensors, path, metadata=None):
    """Write named tensors (a dict of Tensors or arrays, or a Module's state) to `path`.

    `metadata` is an optional dict of strings stored in the file's header.
    The write is atomic: `path` either keeps its old contents or has the new ones.
    """
    st = _safetensors()
    if hasattr(tensors, "state_dict") and callable(tensors.state_dict):
        tensors = tensors.state_dict()
    arrays = {}
    for name, value in tensors.items():
        if not isinstance(name, str):
            raise CheckpointError(f"save: tensor names must be strings, got {name!r}")
        if name == "__metadata__":   # the header's own entry: the file could not be read back
            raise CheckpointError("save: '__metadata__' is reserved by the safetensors format "
                                  "and cannot name a tensor")
        arrays[name] = _host_array(name, value)
    if metadata is not None:
        bad = {k: type(v).__name__ for k, v in metadata.items()
               if not isinstance(k, str) or not isinstance(v, str)}
        if bad:
            raise CheckpointError(f"save: metadata must map strings to strings; got non-string "
                                  f"values for {bad} (encode them, e.g. with json.dumps)")
        metadata = dict(metadata)
    atomic_write(path, lambda tmp: st.numpy.save_file(arrays, tmp, metadata=metadata))


def _read(path, device=None, header=None):
    """(tensors, metadata) of a safetensors file (its header already read, if given)."""
    header = header or read_header(path)
    out = {}
    for k, a in read_tensors(path, header).items():
        out[k] = Tensor._make(a if device is None else to_device(a, device), False, None)
    return out, dict(header.metadata)


def load(path, device=None):
    """The tensors of a safetensors file as {name: Tensor}, on `device` (default CPU).

    Every safetensors dtype minigrad can hold loads as itself (float16 and bfloat16
    files from torch included; bfloat16 needs ml_dtypes, without which it loads as
    float32, exactly: every bfloat16 is a float32 with its low 16 bits zero). bfloat16
    tensors save as BF16, which torch and the safetensors library read. Raises
    CheckpointError naming the file, without running anything
    from it and after checking the whole header before reading any tensor, when it is
    missing, a directory, unreadable, truncated, hostile (huge or deeply nested
    header, impossible offsets) or not a safetensors file (a pickle, a zip, ...), and
    for a dtype minigrad cannot hold (float8, ...), naming the tensor and the dtype.
    """
    return _read(path, device)[0]


def load_metadata(path):
    """The string metadata stored in a safetensors file's header."""
    return dict(read_header(path).metadata)


def state_dict_problems(model, tensors, strict=True):
    """Every reason `tensors` cannot load into `model`: missing and unexpected
    names (when strict), and shape or dtype mismatches."""
    own = model.state_dict()
    problems = []
    if strict:
        missing = [k for k in own if k not in tensors]
        unexpected = [k for k in tensors if k not in own]
        if missing:
            problems.append(f"missing keys {missing}")
        if unexpected:
            problems.append(f"unexpected keys {unexpected}")
    for k, target in own.items():
        if k not in tensors:
            continue
        value = tensors[k]
        if tuple(value.shape) != tuple(target.shape):
            problems.append(f"shape mismatch for {k}: checkpoint {tuple(value.shape)}, "
                            f"model {tuple(target.shape)}")
        elif value.dtype != target.dtype:
            problems.append(f"dtype mismatch for {k}: checkpoint {value.dtype}, "
                            f"model {target.dtype}")
    return problems


def load_model(model, path, strict=True):
    """Load a safetensors file (from minigrad or `safetensors.torch.save_file`) into
    `model`, after checking names, shapes and dtypes; every problem in one error.
    Returns (missing, unexpected) names, as Module.load_state_dict."""
    tensors = load(path)
    problems = state_dict_problems(model, tensors, strict)
    if problems:
        raise CheckpointError(f"load_model: {os.fspath(path)!r} does not fit "
                              f"{type(model).__name__}: " + "; ".join(problems))
    return model.load_state_dict(tensors, strict=strict)


# ------------------------------------------------------------------ nested state
# An optimizer's state is nested ({'state': {0: {'exp_avg': Tensor}}, ...}).
# `flatten` splits it into named tensors and a JSON skeleton that refers to
# them by name; `unflatten` puts it back together.
def flatten(obj, prefix, tensors):
    """JSON-able skeleton of `obj`; arrays go into `tensors` under dotted names."""
    if isinstance(obj, Tensor) or (hasattr(obj, "dtype") and hasattr(obj, "shape")
                                   and not isinstance(obj, np.generic)):
        if prefix in tensors:
            raise CheckpointError(f"save: two entries of the state are both named {prefix!r}")
        tensors[prefix] = obj
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj) and not {"__tensor__", "__items__",
                                                          "__tuple__"} & set(obj):
            return {k: flatten(v, f"{prefix}.{k}", tensors) for k, v in obj.items()}
        return {"__items__": [[k, flatten(v, f"{prefix}.{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [flatten(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [flatten(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise CheckpointError(f"save: cannot store {prefix!r} of type {type(obj).__name__}; state "
                          "must be arrays, numbers, strings, lists, tuples and dicts")


def unflatten(skeleton, tensors):
    """Inverse of `flatten`."""
    if isinstance(skeleton, dict):
        if "__tensor__" in skeleton:
            name = skeleton["__tensor__"]
            if name not in tensors:
                raise CheckpointError(f"load: the checkpoint's metadata refers to tensor {name!r}, "
                                      "which the file does not contain")
            return tensors[name]
        if "__items__" in skeleton:
            return {k: unflatten(v, tensors) for k, v in skeleton["__items__"]}
        if "__tuple__" in skeleton:
            return tuple(unflatten(v, tensors) for v in skeleton["__tuple__"])
        return {k: unflatten(v, tensors) for k, v in skeleton.items()}
    if isinstance(skeleton, list):
        return [unflatten(v, tensors) for v in skeleton]
    return skeleton


# ------------------------------------------------------------------ checkpoints
def save_checkpoint(path, model=None, optimizer=None, scheduler=None, step=None, extra=None,
                    rng=True):
    """Write model, optimizer and schedule state, the step and the CPU random
    generator's state to one safetensors file, atomically. `extra` is any
    JSON-able value stored alongside (e.g. the config or the best loss)."""
    tensors, meta = {}, {"format": FORMAT, "format_version": FORMAT_VERSION}
    if model is not None:
        for k, v in model.state_dict().items():
            tensors["model." + k] = v
        meta["model_type"] = type(model).__name__
    if optimizer is not None:
        meta["optim"] = json.dumps(flatten(optimizer.state_dict(), "optim", tensors))
        meta["optim_type"] = type(optimizer).__name__
    if scheduler is not None:
        meta["sched"] = json.dumps(flatten(scheduler.state_dict(), "sched", tensors))
        meta["sched_type"] = type(scheduler).__name__
    if step is not None:
        meta["step"] = json.dumps(int(step))
    if rng:
        meta["rng"] = json.dumps(get_rng_state())
    if extra is not None:
        try:
            meta["extra"] = json.dumps(extra)
        except TypeError as e:
            raise CheckpointError(f"save_checkpoint: extra must be JSON-able: {e}") from None
    save(tensors, path, meta)


def load_checkpoint(path, model=None, optimizer=None, scheduler=None, strict=True,
                    restore_rng=True):
    """Restore what `save_checkpoint` wrote into the given objects.

    Everything is checked first, on the file's header before any tensor is read (the
    format tag; the step, a whole number >= 0; model names, shapes and dtypes; the
    optimizer's groups, hyper-parameter types, state shapes and moment dtypes; the
    schedule's keys and value types; the classes of optimizer and schedule), and every
    problem is reported in one CheckpointError naming the file; nothing is changed
    unless all of it fits. Returns {'step', 'extra', 'metadata'}.
    """
    where = os.fspath(path)
    header = read_header(path)
    meta = header.metadata
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"load_checkpoint: {where!r} is a safetensors file but not a "
                              "minigrad checkpoint (no format tag); use minigrad.load or "
                              "minigrad.io.load_model for plain tensor files")
    try:                             # (a damaged file can hold broken JSON in its metadata)
        parsed = {k: json.loads(meta[k]) for k in ("optim", "sched", "rng", "step", "extra")
                  if k in meta}
    except (ValueError, RecursionError) as e:
        raise CheckpointError(f"load_checkpoint: {where!r} has corrupt metadata: {e}") from None
    if "step" in parsed:
        check_value(f"load_checkpoint: {where!r}", "step", parsed["step"], int, low=0)
    problems = _checkpoint_problems(header.tensors, meta, parsed, model, optimizer, scheduler,
                                    strict)
    if problems:
        raise CheckpointError(f"load_checkpoint: {where!r} does not fit: " + "; ".join(problems))
    tensors = _read(path, header=header)[0]
    if restore_rng and "rng" in parsed:            # first: the one part that can still fail
        try:
            set_rng_state(parsed["rng"])
        except (TypeError, KeyError, AttributeError, ValueError, OverflowError) as e:
            raise CheckpointError(f"load_checkpoint: {where!r} holds a corrupt random generator "
                                  f"state ({type(e).__name__}: {e})") from None
    if model is not None:
        model.load_state_dict({k[len("model."):]: v for k, v in tensors.items()
                               if k.startswith("model.")}, strict=strict)
    if optimizer is not None:
        optimizer.load_state_dict(unflatten(parsed["optim"], tensors))
    if scheduler is not None:
        scheduler.load_state_dict(unflatten(parsed["sched"], tensors))
    return {"step": parsed.get("step"), "extra": parsed.get("extra"), "metadata": meta}


def _checkpoint_problems(infos, meta, parsed, model, optimizer, scheduler, strict):
    """Every reason the checkpoint described by `infos` (header entries, which have the
    shape and dtype of the tensors) and `parsed` metadata cannot load into the objects."""
    problems = []
    if model is not None:
        own = {k[len("model."):]: v for k, v in infos.items() if k.startswith("model.")}
        problems += [f"model: {p}" for p in state_dict_problems(model, own, strict)]
    for label, obj, key in (("optimizer", optimizer, "optim"), ("scheduler", scheduler, "sched")):
        if obj is None:
            continue
        if key not in meta:
            problems.append(f"{label}: the checkpoint has no {label} state")
            continue
        if meta.get(key + "_type") != type(obj).__name__:
            problems.append(f"{label}: checkpoint holds {meta.get(key + '_type')} state, "
                            f"got a {type(obj).__name__}")
        try:
            state = unflatten(parsed[key], infos)
            if label == "optimizer":
                found = obj.state_dict_problems(state) or _optimizer_problems(obj, state)
            else:
                own, saved = obj.state_dict(), state if isinstance(state, dict) else {}
                found = ([f"missing keys {sorted(set(own) - set(saved))}; unexpected keys "
                          f"{sorted(set(saved) - set(own))}"] if set(own) != set(saved) else
                         _kind_problems("", own, saved))
        except (TypeError, KeyError, AttributeError, ValueError, IndexError, OverflowError,
                RecursionError, CheckpointError) as e:
            found = [f"the saved state is corrupt ({type(e).__name__}: {e})"]
        problems += [f"{label}: {p}" for p in found]
    return problems


def _optimizer_problems(optimizer, state):
    """Hyper-parameters of the wrong kind and moments whose dtype is not their parameter's."""
    problems = []
    for i, (saved, own) in enumerate(zip(state["param_groups"], optimizer.param_groups)):
        own = {k: v for k, v in own.items() if k != "params"}
        problems += _kind_problems(f"param_groups[{i}]", own, saved)
    position = {int(k): p for saved, own in zip(state["param_groups"], optimizer.param_groups)
                for k, p in zip(saved["params"], own["params"])}
    for key, s in state["state"].items():
        for k, v in s.items():
            p = position[int(key)]
            if not hasattr(v, "dtype"):
                problems += _kind_problems(f"state {key}.{k}", 0, v) if k == "step" else []
            elif tuple(v.shape) == tuple(p.shape) and v.dtype != p.dtype:
                problems.append(f"state {key}.{k} is {v.dtype}, its parameter is {p.dtype}")
            elif kind_of(v.dtype) not in "iuf":
                problems.append(f"state {key}.{k} has dtype {v.dtype}, expected a number")
    return problems


class Checkpoint:
    """The objects of a training run, saved and restored together.

        ckpt = Checkpoint(model, optimizer, scheduler)
        ckpt.save("run.safetensors", step=step)
        step = ckpt.load("run.safetensors")["step"]
    """

    def __init__(self, model=None, optimizer=None, scheduler=None):
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler

    def save(self, path, step=None, extra=None, rng=True):
        save_checkpoint(path, self.model, self.optimizer, self.scheduler, step, extra, rng)

    def load(self, path, strict=True, restore_rng=True):
        return load_checkpoint(path, self.model, self.optimizer, self.scheduler, strict,
                               restore_rng)

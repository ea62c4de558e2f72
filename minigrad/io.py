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
import tempfile

import numpy as np

from .backend import get_rng_state, set_rng_state, to_device
from .errors import MinigradError
from .tensor import Tensor

FORMAT = "minigrad-checkpoint"
FORMAT_VERSION = "1"
_MAX_HEADER = 100 * 1024 * 1024      # safetensors' own limit on the JSON header


class CheckpointError(MinigradError, ValueError):
    """A file that is not a readable safetensors file, or whose contents do not fit."""


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
        value = value.data
    if not hasattr(value, "dtype"):
        value = np.asarray(value)
    if not isinstance(value, np.ndarray):            # CuPy: copy to the host
        value = to_device(value, "cpu")
    if value.dtype.kind not in "biuf":
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
    _atomic_write(path, lambda tmp: st.numpy.save_file(arrays, tmp, metadata=metadata))


def _atomic_write(path, write):
    """Run write(temporary path) then move the result onto `path`, fsynced."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(path) + ".",
                               suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:                                  # make the rename itself durable (POSIX)
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:                       # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(dir_fd)
    except OSError:                       # pragma: no cover
        pass
    finally:
        os.close(dir_fd)


def _describe_foreign(head):
    """A hint for common files that are not safetensors."""
    if head[:1] == b"\x80":
        return ("it looks like a Python pickle (e.g. torch.save with the old format); minigrad "
                "never unpickles files, because loading a pickle can run arbitrary code")
    if head[:4] == b"PK\x03\x04":
        return ("it is a zip archive (torch.save writes these, with a pickle inside); minigrad "
                "never unpickles files; re-save it with safetensors.torch.save_file")
    if head[:6] == b"\x93NUMPY":
        return "it is a NumPy .npy file"
    return ""


def _check_file(path):
    """Validate the header before the parser sees it: a clear error for truncated
    files and for files of another format. Reads bytes and JSON only."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"load: no such file: {path!r}")
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(9)
        # An 8-byte length, then the JSON header's "{": only a file without that can be of
        # another format (a valid length may well start with 0x80, a pickle's first byte)
        hint = _describe_foreign(head) if head[8:9] != b"{" else ""
        head = head[:8]
        if hint:
            raise CheckpointError(f"load: {path!r} is not a safetensors file: {hint}")
        if len(head) < 8:
            raise CheckpointError(f"load: {path!r} is not a safetensors file: it has only "
                                  f"{size} bytes (a safetensors file starts with an 8-byte "
                                  "header length)")
        n = int.from_bytes(head, "little")
        if n > _MAX_HEADER:
            raise CheckpointError(f"load: {path!r} is not a safetensors file: its first 8 bytes "
                                  f"give a header length of {n} bytes")
        if 8 + n > size:
            raise CheckpointError(f"load: {path!r} is truncated or not a safetensors file: the "
                                  f"header needs {8 + n} bytes but the file has {size}")
        f.seek(8)
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise CheckpointError(f"load: {path!r} is not a safetensors file: its header is not "
                                  f"valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"load: {path!r} is not a safetensors file: header is not a JSON "
                              "object")
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            end = max(end, int(entry["data_offsets"][1]))
        except (KeyError, TypeError, IndexError, ValueError):
            raise CheckpointError(f"load: {path!r} is not a safetensors file: entry {name!r} has "
                                  "no valid data_offsets") from None
    if 8 + n + end > size:
        raise CheckpointError(f"load: {path!r} is truncated: its tensors end at byte {8 + n + end} "
                              f"but the file has {size} bytes")
    return header


def _read(path, device=None):
    """(tensors, metadata) of a safetensors file."""
    st = _safetensors()
    _check_file(path)
    try:
        with st.safe_open(os.fspath(path), framework="np") as f:
            metadata = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except st.SafetensorError as e:
        raise CheckpointError(f"load: {os.fspath(path)!r} is not a valid safetensors file: {e}") \
            from None
    out = {}
    for k, a in tensors.items():
        if not a.flags.writeable:
            a = a.copy()
        if device is not None:
            a = to_device(a, device)
        out[k] = Tensor._make(a, False, None)
    return out, metadata


def load(path, device=None):
    """The tensors of a safetensors file as {name: Tensor}, on `device` (default CPU).

    Raises CheckpointError, without running anything from the file, when it is
    missing, truncated, or not a safetensors file (a pickle, a zip, ...).
    """
    return _read(path, device)[0]


def load_metadata(path):
    """The string metadata stored in a safetensors file's header."""
    header = _check_file(path)
    return dict(header.get("__metadata__") or {})


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

    Everything is checked first (model names, shapes and dtypes; the
    optimizer's groups and state shapes; the classes of optimizer and schedule)
    and every problem is reported in one CheckpointError; nothing is changed
    unless all of it fits. Returns {'step', 'extra', 'metadata'}.
    """
    tensors, meta = _read(path)
    where = os.fspath(path)
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"load_checkpoint: {where!r} is a safetensors file but not a "
                              "minigrad checkpoint (no format tag); use minigrad.load or "
                              "minigrad.io.load_model for plain tensor files")
    try:                             # (a damaged file can hold broken JSON in its metadata)
        parsed = {k: json.loads(meta[k]) for k in ("optim", "sched", "rng", "step", "extra")
                  if k in meta}
    except ValueError as e:
        raise CheckpointError(f"load_checkpoint: {where!r} has corrupt metadata: {e}") from None
    problems = []
    model_tensors = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    if model is not None:
        problems += [f"model: {p}" for p in state_dict_problems(model, model_tensors, strict)]
    optim_state = sched_state = None
    if optimizer is not None:
        if "optim" not in meta:
            problems.append("optimizer: the checkpoint has no optimizer state")
        else:
            if meta.get("optim_type") != type(optimizer).__name__:
                problems.append(f"optimizer: checkpoint holds {meta.get('optim_type')} state, "
                                f"got a {type(optimizer).__name__}")
            try:
                optim_state = unflatten(parsed["optim"], tensors)
                problems += [f"optimizer: {p}" for p in optimizer.state_dict_problems(optim_state)]
            except (TypeError, KeyError, AttributeError, ValueError, IndexError,
                    OverflowError) as e:
                problems.append(f"optimizer: the saved state is corrupt ({type(e).__name__}: {e})")
    if scheduler is not None:
        if "sched" not in meta:
            problems.append("scheduler: the checkpoint has no schedule state")
        else:
            if meta.get("sched_type") != type(scheduler).__name__:
                problems.append(f"scheduler: checkpoint holds {meta.get('sched_type')} state, "
                                f"got a {type(scheduler).__name__}")
            sched_state = unflatten(parsed["sched"], tensors)
            own = set(scheduler.state_dict())
            saved = set(sched_state) if isinstance(sched_state, dict) else set()
            if own != saved:
                problems.append(f"scheduler: missing keys {sorted(own - saved)}; unexpected keys "
                                f"{sorted(saved - own)}")
    if problems:
        raise CheckpointError(f"load_checkpoint: {where!r} does not fit: " + "; ".join(problems))
    if restore_rng and "rng" in parsed:            # first: the one part that can still fail
        try:
            set_rng_state(parsed["rng"])
        except (TypeError, KeyError, AttributeError, ValueError, OverflowError) as e:
            raise CheckpointError(f"load_checkpoint: {where!r} holds a corrupt random generator "
                                  f"state ({type(e).__name__}: {e})") from None
    if model is not None:
        model.load_state_dict(model_tensors, strict=strict)
    if optim_state is not None:
        optimizer.load_state_dict(optim_state)
    if sched_state is not None:
        scheduler.load_state_dict(sched_state)
    return {"step": parsed.get("step"), "extra": parsed.get("extra"), "metadata": meta}


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

"""`minigrad.save(obj, path)` / `minigrad.load(path)`: torch.save / torch.load, without pickle.

    minigrad.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": 10},
                  "ckpt.safetensors")
    ckpt = minigrad.load("ckpt.safetensors")
    model.load_state_dict(ckpt["model"]); opt.load_state_dict(ckpt["optimizer"])

`obj` is any nesting of dicts (any str, int, float, bool or None keys), lists and
tuples of Tensors (or NumPy arrays), numbers, strings, bools and None. The file is
one safetensors file (written atomically by `minigrad.io.save`): the tensors by
their dotted path ('model.fc1.weight'; a tensor that appears twice is stored once
and comes back as one object), and the structure as JSON in the header's metadata
under 'minigrad.object'. Loading never runs code from the file (torch.load unpickles).

A flat {name: Tensor} dict (a state dict) is written as a plain safetensors file
with no structure metadata, exactly as before, so it opens in
`safetensors.torch.load_file`; `load` of a file without structure metadata (any
plain safetensors file, and the checkpoints of `minigrad.io.save_checkpoint`)
returns its {name: Tensor} dict. Differences from torch: docs/torch_compat.md.
"""
import collections
import json
import numbers
import os
import tempfile

import numpy as np

from . import io
from .dtype import kind_of
from .io import CheckpointError
from .tensor import Tensor

FORMAT_KEY, FORMAT = "minigrad.format", "object-1"
OBJECT_KEY = "minigrad.object"


def _is_array(value):
    return isinstance(value, (Tensor, np.ndarray))


_NOT_SCALAR = object()


def _json_scalar(v):
    """None, a bool, str, int or float as its JSON value (NumPy scalars too), else _NOT_SCALAR."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, numbers.Integral):
        return int(v)
    if isinstance(v, numbers.Real):
        return float(v)
    return _NOT_SCALAR


def _pack(obj, path, tensors, names):
    """JSON skeleton of `obj`; each tensor goes into `tensors` under a unique dotted name."""
    if _is_array(obj):
        name = names.get(id(obj))
        if name is None:                    # a new tensor: its path, made unique
            name, n = path or "tensor", 1
            while name in tensors or name == "__metadata__":
                n += 1
                name = f"{path}#{n}"
            names[id(obj)] = name
            tensors[name] = obj
        node = {"T": name}
        if isinstance(obj, Tensor) and obj.requires_grad:
            node["g"] = 1
        return node
    if isinstance(obj, dict):
        items = [[_pack_key(k, path), _pack(v, f"{path}.{k}" if path else str(k), tensors, names)]
                 for k, v in obj.items()]
        return {"D": items, "o": 1} if isinstance(obj, collections.OrderedDict) else {"D": items}
    if isinstance(obj, (list, tuple)):
        packed = [_pack(v, f"{path}.{i}" if path else str(i), tensors, names)
                  for i, v in enumerate(obj)]
        return {"U" if isinstance(obj, tuple) else "L": packed}
    scalar = _json_scalar(obj)
    if scalar is not _NOT_SCALAR:
        return scalar
    raise CheckpointError(f"save: cannot store {path or 'the object'!r} of type "
                          f"{type(obj).__name__}: minigrad.save takes dicts, lists and tuples of "
                          "tensors, numbers, strings, bools and None (it never pickles)")


def _pack_key(key, path):
    """A dict key as JSON: a str, number, bool or None as itself, a tuple of keys tagged."""
    if isinstance(key, tuple):
        return {"U": [_pack_key(k, path) for k in key]}
    scalar = _json_scalar(key)
    if scalar is not _NOT_SCALAR:
        return scalar
    raise CheckpointError(f"save: dict key {key!r} under {path or 'the top level'!r} has type "
                          f"{type(key).__name__}; keys must be str, int, float, bool, None or tuples")


def save(obj, f, metadata=None):
    """Write `obj` (see the module docstring) to the path `f`, atomically, or to a binary
    file object (io.BytesIO, an open file: the same bytes a path would get).

    A Module is saved as its state_dict (torch would pickle the module itself).
    `metadata`: optional {str: str} stored in the header too. Raises CheckpointError
    for what cannot be stored, naming its place in `obj`. As torch.save.
    """
    if not isinstance(f, (str, os.PathLike)):
        if not callable(getattr(f, "write", None)):
            raise CheckpointError(f"save: expected a file path or a binary file object, got "
                                  f"{type(f).__name__}")
        return _through_file(f, "wb", lambda path: save(obj, path, metadata))
    if hasattr(obj, "state_dict") and callable(obj.state_dict) and not isinstance(obj, dict):
        obj = obj.state_dict()
    for key in (FORMAT_KEY, OBJECT_KEY):
        if key in (metadata or {}):
            raise CheckpointError(f"save: metadata key {key!r} is reserved by minigrad.save")
    if isinstance(obj, dict) and all(isinstance(k, str) and _is_array(v) for k, v in obj.items()):
        return io.save(obj, f, metadata)    # a state dict (or {}): the plain file, as before
    tensors = {}
    skeleton = _pack(obj, "", tensors, {})
    meta = dict(metadata or {})
    meta[FORMAT_KEY], meta[OBJECT_KEY] = FORMAT, json.dumps(skeleton)
    io.save(tensors, f, meta)


def load(f, map_location=None, weights_only=None, mmap=None, device=None):
    """Read back what `save` wrote (or a plain safetensors file, as {name: Tensor}), from a
    path or a binary file object (read to its end).

    map_location (or device): 'cpu', 'cuda', 'cuda:N' or a Tensor device; weights_only
    and mmap are accepted for torch's signature (nothing here can run code). Raises
    CheckpointError naming the file when it is missing, broken, or its structure is.
    """
    if map_location is not None and device is not None:
        raise CheckpointError("load: give map_location or device, not both")
    device = device if device is not None else map_location
    if device is not None and not isinstance(device, str):
        raise CheckpointError(f"load: map_location must be a device name such as 'cpu', got "
                              f"{type(device).__name__} (dicts and functions are not supported)")
    if not isinstance(f, (str, os.PathLike)):
        if not callable(getattr(f, "read", None)):
            raise CheckpointError(f"load: expected a file path or a binary file object, got "
                                  f"{type(f).__name__}")
        return _through_file(f, "rb", lambda path: load(path, device=device))
    meta = io.load_metadata(f)
    tensors = io.load(f, device)
    if meta.get(FORMAT_KEY) is None:
        return tensors
    where = f"load: {os.fspath(f)!r}"
    if meta[FORMAT_KEY] != FORMAT or OBJECT_KEY not in meta:
        raise CheckpointError(f"{where} has minigrad.format {meta[FORMAT_KEY]!r}; this version "
                              f"reads {FORMAT!r} (with {OBJECT_KEY!r})")
    try:
        return _unpack(json.loads(meta[OBJECT_KEY]), tensors)
    except RecursionError:
        raise CheckpointError(f"{where}: its structure is nested too deeply") from None
    except (ValueError, TypeError, KeyError, IndexError) as e:
        raise CheckpointError(f"{where}: its structure metadata is malformed ({e})") from None


def _through_file(f, mode, run):
    """save/load with a file object (io.BytesIO, an open file): the bytes go through a
    temporary file, so the object gets exactly what a path would (and loading checks
    them the same way). Errors name the file object, not the temporary file."""
    with tempfile.TemporaryDirectory(prefix="minigrad-") as folder:
        path = os.path.join(folder, "object.safetensors")
        try:
            if mode == "rb":
                data = f.read()
                if not isinstance(data, (bytes, bytearray, memoryview)):
                    raise CheckpointError(f"load: the file object gave {type(data).__name__}, "
                                          "not bytes (open the file in binary mode, 'rb')")
                with open(path, "wb") as out:
                    out.write(data)
                return run(path)
            run(path)
            with open(path, "rb") as written:
                f.write(written.read())
        except CheckpointError as e:
            raise CheckpointError(str(e).replace(repr(path), repr(f)).replace(path, repr(f))) \
                from None


def _unpack(node, tensors):
    """Inverse of `_pack`; anything unexpected raises ValueError (turned into CheckpointError)."""
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if not isinstance(node, dict) or len(set(node) - {"g", "o"}) != 1:
        raise ValueError(f"unexpected node {str(node)[:80]}")
    if "T" in node:
        if node["T"] not in tensors:
            raise ValueError(f"it refers to tensor {node['T']!r}, which the file does not hold")
        t = tensors[node["T"]]
        return t.requires_grad_(True) if node.get("g") and kind_of(t.dtype) == "f" else t
    if "D" in node:
        items = [(_key(_unpack(k, tensors)), _unpack(v, tensors)) for k, v in node["D"]]
        return collections.OrderedDict(items) if node.get("o") else dict(items)
    if "L" in node:
        return [_unpack(v, tensors) for v in node["L"]]
    if "U" in node:
        return tuple(_unpack(v, tensors) for v in node["U"])
    raise ValueError(f"unknown node {str(node)[:80]}")


def _key(key):
    if isinstance(key, (dict, list, Tensor)):
        raise ValueError(f"dict key {str(key)[:80]} is not hashable")
    return key

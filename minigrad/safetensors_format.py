"""The safetensors file format, read and written with bounds (the low level of minigrad.io).

A safetensors file is 8 bytes (little-endian) giving the length N of a JSON header, N bytes
of JSON `{name: {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]},
"__metadata__": {str: str}}`, then the tensors' raw little-endian bytes, offsets counted from
the end of the header (https://github.com/huggingface/safetensors#format).

Everything in the header is checked here before one tensor byte is read, so a damaged or
hostile file fails quickly with a CheckpointError that names it: the header length, its size
in tensors, JSON nesting, non-finite numbers, dtypes, shapes, and offsets that must tile the
data exactly. Only then are tensors read, one at a time, with plain file reads.

Writes go to a temporary file `.NAME.PID.TOKEN.tmp` beside the target, are fsynced and
renamed over it; a failure of any kind removes the temporary file and leaves the target as it
was. Temporary files that a killed process left behind are removed by the next save.
"""
import json
import os
import re
import secrets
import threading
from collections import namedtuple

import numpy as np

from . import dtype as _dtypes
from .errors import MinigradError

MAX_HEADER = 100 * 1024 * 1024   # bytes; safetensors' own limit on the JSON header
MAX_TENSORS = 100_000            # a 70B-parameter LLM has ~1,000; bounds time and memory

# safetensors dtype tag -> the little-endian NumPy dtype it is read as
DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2", "I64": "<i8", "I32": "<i4",
          "I16": "<i2", "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1",
          "BOOL": "u1"}
# BF16 loads as bfloat16 where ml_dtypes gives NumPy one (minigrad.bfloat16); without it,
# as float32, exactly (a bfloat16 is the top half of a float32)
BFLOAT16 = getattr(_dtypes, "bfloat16", None)
LOADED_AS = {"BF16": BFLOAT16 if BFLOAT16 is not None else np.dtype("float32"),
             "BOOL": np.dtype("bool")}


class CheckpointError(MinigradError, ValueError):
    """A file that is not a readable safetensors file, or whose contents do not fit."""


class CheckpointWriteError(CheckpointError, OSError):
    """A save that failed (full disk, no permission, missing folder); the target is unchanged."""


# One tensor as the header describes it; `dtype` and `shape` are what load will return, so
# the checks written for tensors (state_dict_problems) run on the header alone.
TensorInfo = namedtuple("TensorInfo", "tag dtype shape begin end")
Header = namedtuple("Header", "tensors metadata data_start")


def _bad(path, why):
    return CheckpointError(f"load: {path!r} is not a safetensors file, or is damaged: {why}")


def _reject_constant(name):
    raise ValueError(f"the header holds {name}, which JSON does not allow")


def _no_duplicates(pairs):
    out = dict(pairs)
    if len(out) != len(pairs):
        names = [k for k, _ in pairs]
        raise ValueError(f"name {next(k for k in names if names.count(k) > 1)!r} appears twice")
    return out


def _open(path):
    """The file, opened for reading, or a CheckpointError that says why it cannot be."""
    if os.path.isdir(path):
        raise CheckpointError(f"load: {path!r} is a directory, not a file (give the path of a "
                              ".safetensors file inside it)")
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise CheckpointError(f"load: no such file: {path!r}") from None
    except PermissionError:
        raise CheckpointError(f"load: permission denied: cannot read {path!r}") from None
    except OSError as e:
        raise CheckpointError(f"load: cannot read {path!r}: {e.strerror or e}") from None


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


def read_header(path):
    """The checked Header of a safetensors file: {name: TensorInfo}, metadata, data start.

    Reads the header only. Raises CheckpointError naming the file for anything a
    safetensors reader would refuse, and for dtypes minigrad cannot hold (float8, ...).
    """
    path = os.fspath(path)
    with _open(path) as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(9)
        # An 8-byte length, then the JSON header's "{": only a file without that can be of
        # another format (a valid length may well start with 0x80, a pickle's first byte)
        hint = _describe_foreign(head) if head[8:9] != b"{" else ""
        if hint:
            raise CheckpointError(f"load: {path!r} is not a safetensors file: {hint}")
        if len(head) < 9:
            raise CheckpointError(f"load: {path!r} is not a safetensors file: it has only "
                                  f"{size} bytes (a safetensors file starts with an 8-byte "
                                  "header length and a JSON header)")
        n = int.from_bytes(head[:8], "little")
        if n > MAX_HEADER:
            raise _bad(path, f"its first 8 bytes give a header length of {n} bytes (at most "
                             f"{MAX_HEADER} allowed)")
        if 8 + n > size:
            raise CheckpointError(f"load: {path!r} is truncated or not a safetensors file: the "
                                  f"header needs {8 + n} bytes but the file has {size}")
        f.seek(8)
        raw = f.read(n)
    if raw.count(b'"data_offsets"') > MAX_TENSORS:   # before parsing: bounds time and memory
        raise _bad(path, f"its header lists more than {MAX_TENSORS} tensors")
    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant,
                            object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise _bad(path, "its JSON header is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise _bad(path, f"its header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise _bad(path, "its header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise _bad(path, "its __metadata__ is not a map of strings to strings")
    tensors = {name: _entry(path, name, entry) for name, entry in header.items()}
    end = 0
    for name, t in sorted(tensors.items(), key=lambda kv: (kv[1].begin, kv[1].end)):
        if t.begin != end:
            raise _bad(path, f"tensor {name!r} starts at data byte {t.begin}, expected {end} "
                             "(the tensors' bytes must follow each other without gaps or overlap)")
        end = t.end
    if 8 + n + end != size:
        what = "truncated" if 8 + n + end > size else "longer than its header says"
        raise CheckpointError(f"load: {path!r} is {what}: its tensors end at byte {8 + n + end} "
                              f"but the file has {size} bytes")
    return Header(tensors, metadata, 8 + n)


def _entry(path, name, entry):
    """The TensorInfo of one header entry, every field checked."""
    if not isinstance(entry, dict):
        raise _bad(path, f"entry {name!r} is not a JSON object")
    tag, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if tag not in DTYPES:
        raise CheckpointError(f"load: {path!r}: tensor {name!r} has dtype {tag!r}, which minigrad "
                              f"cannot hold (supported: {', '.join(DTYPES)})")

    def is_count(v):
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0
    if not isinstance(shape, list) or len(shape) > 64 or not all(map(is_count, shape)):
        raise _bad(path, f"tensor {name!r} has shape {shape!r}, expected a list of sizes >= 0")
    if (not isinstance(offsets, list) or len(offsets) != 2 or not all(map(is_count, offsets))
            or offsets[0] > offsets[1]):
        raise _bad(path, f"tensor {name!r} has data_offsets {offsets!r}, expected "
                         "[begin, end] with 0 <= begin <= end")
    itemsize = np.dtype(DTYPES[tag]).itemsize
    count = int(np.prod(shape, dtype=object)) if shape else 1
    if offsets[1] - offsets[0] != count * itemsize:
        raise _bad(path, f"tensor {name!r} of dtype {tag} and shape {shape} needs "
                         f"{count * itemsize} bytes, its data_offsets {offsets} give "
                         f"{offsets[1] - offsets[0]}")
    dtype = LOADED_AS.get(tag, np.dtype(DTYPES[tag]).newbyteorder("="))
    return TensorInfo(tag, dtype, tuple(shape), offsets[0], offsets[1])


def read_tensors(path, header, names=None):
    """{name: writable NumPy array} of the tensors `names` (default all) that `header`
    (from read_header) describes; BF16 comes back as bfloat16 (float32, exactly, without
    ml_dtypes)."""
    path = os.fspath(path)
    out = {}
    with _open(path) as f:
        for name in (header.tensors if names is None else names):
            t = header.tensors[name]
            buf = bytearray(t.end - t.begin)
            f.seek(header.data_start + t.begin)
            if f.readinto(buf) != len(buf):
                raise CheckpointError(f"load: {path!r} is truncated: tensor {name!r} ends past "
                                      "the end of the file (was it changed while loading?)")
            a = np.frombuffer(buf, DTYPES[t.tag])
            if t.tag == "BF16" and BFLOAT16 is not None:
                a = a.astype("=u2").view(BFLOAT16)           # the same 16 bits, as bfloat16
            elif t.tag == "BF16":
                a = (a.astype(np.uint32) << 16).view(np.float32)
            elif t.tag == "BOOL":
                if (a > 1).any():
                    raise _bad(path, f"BOOL tensor {name!r} holds bytes other than 0 and 1")
                a = a.view(np.bool_)
            elif not a.dtype.isnative:
                a = a.astype(a.dtype.newbyteorder("="))
            out[name] = a.reshape(t.shape)
    return out


# ------------------------------------------------------------------ atomic writes
_TEMP = re.compile(r"\.(?P<pid>\d+)\.[0-9a-f]+\.tmp$")
_LEGACY_TEMP = re.compile(r"\.[a-z0-9_]{8}\.tmp$")      # tempfile.mkstemp's names (before PIDs)
_in_flight = set()                                        # this process's temp files being written
_lock = threading.Lock()


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True


def remove_stale_temps(path):
    """Remove the temporary files that interrupted saves of `path` left (ours by name:
    `.NAME.PID.TOKEN.tmp` of a process that is gone, or the older `.NAME.XXXXXXXX.tmp`).
    Returns the paths removed."""
    path = os.fspath(path)
    folder, base = os.path.split(os.path.abspath(path))
    prefix = "." + base
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        if not name.startswith(prefix):
            continue
        rest = name[len(prefix):]
        m = _TEMP.fullmatch(rest)
        full = os.path.join(folder, name)
        if m:
            pid = int(m["pid"])
            with _lock:
                busy = full in _in_flight
            if busy or (pid != os.getpid() and _process_alive(pid)):
                continue
        elif not _LEGACY_TEMP.fullmatch(rest):
            continue
        try:
            os.unlink(full)
            removed.append(full)
        except OSError:
            pass
    return removed


def _reason(e):
    """'No space left on device' for an OSError or a SafetensorError wrapping one."""
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    m = re.search(r"code: (\d+)", str(e))
    return os.strerror(int(m.group(1))) if m else str(e)


def atomic_write(path, write):
    """Run write(temporary path), fsync it and rename it onto `path`.

    On any failure, KeyboardInterrupt included, the temporary file is removed and `path`
    keeps its previous contents; an OSError (full disk, permission) or a writer's error
    becomes a CheckpointWriteError that names `path` and the reason.
    """
    path = os.fspath(path)
    folder, base = os.path.split(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CheckpointWriteError(f"save: cannot write {path!r}: the folder {folder!r} does not "
                                   "exist (create it first)")
    if os.path.isdir(path):
        raise CheckpointWriteError(f"save: cannot write {path!r}: it is a directory")
    remove_stale_temps(path)
    # The name is chosen before the file exists, so whatever interrupts us from here on
    # (a signal between creating and writing included) finds it in `tmp` and removes it.
    tmp = os.path.join(folder, f".{base}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    with _lock:
        _in_flight.add(tmp)
    try:
        os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, (OSError, _safetensor_error())):
            kept = ("the previous file is unchanged" if os.path.exists(path)
                    else "nothing was written")
            raise CheckpointWriteError(f"save: could not write {path!r}: {_reason(e)} "
                                       f"({kept})") from e
        raise
    finally:
        with _lock:
            _in_flight.discard(tmp)
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


def _safetensor_error():
    try:
        from safetensors import SafetensorError
    except ImportError:                   # pragma: no cover - depends on the machine
        return OSError
    return SafetensorError

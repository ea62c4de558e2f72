"""Fuzzing checkpoint loading (issue 20): a real checkpoint (model, Adam state, NoamLR
schedule, step, random generator state, a model config and a loss history), mutated in
its header bytes, tensor offsets, dtypes, shapes, metadata and config, must either load
correctly (the model holds exactly what the file's bytes say, read by an independent
reader written here) or fail with a CheckpointError that names the file, within bounded
time (a hang guard) and memory (traced). Validating the config and history is the
caller's part, done here as the examples do, with minigrad.io's check helpers.
"""
import json
import signal
import struct
import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
import minigrad.nn as nn
from minigrad.io import Checkpoint, CheckpointError, check_fields, check_numbers
from reliability.fuzzlib import EXPECTED_ERROR, NUMPY_ONLY, assert_counted, count, fuzz_settings

CONFIG_SPEC = {"d_model": (int, 1, 4096), "d_ff": (int, 1, 65536), "dropout": (float, 0, 1)}
MEMORY_LIMIT = 64 * 1024 * 1024     # bytes traced while loading one small mutated file
HANG_GUARD_S = 60                   # a hang guard only: no case comes near it

DTYPE_TAGS = ["F32", "F16", "BF16", "F64", "I32", "I64", "U8", "BOOL", "F8_E4M3", "F8_E5M2",
              "x", None, 3]
NUMPY_OF = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2",
            "I8": "i1", "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}
ODD_VALUES = [0, -1, 1.5, 2 ** 40, 2 ** 64, float("inf"), float("nan"), True, None, "x", [],
              {}, [1, 2], "64", -64]


class Model(nn.Module):
    def __init__(self, d_model=4, d_ff=8):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x):
        return self.norm(self.fc2(self.fc1(x).relu()))


def objects():
    mg.manual_seed(0)
    model = Model()
    opt = mg.optim.Adam(model.parameters(), lr=1e-2)
    return model, opt, mg.optim.NoamLR(opt, d_model=4, warmup_steps=3)


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    """The bytes of a checkpoint after two real training steps."""
    model, opt, sched = objects()
    history = []
    for _ in range(2):
        opt.zero_grad()
        loss = (model(mg.randn(3, 4)) ** 2).mean()
        loss.backward()
        opt.step()
        sched.step()
        history.append(float(loss.item()))
    path = tmp_path_factory.mktemp("ckpt") / "run.safetensors"
    Checkpoint(model, opt, sched).save(path, step=2, extra={
        "config": {"d_model": 4, "d_ff": 8, "dropout": 0.1}, "history": history})
    return path.read_bytes()


def split(raw):
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def join(header, data):
    text = json.dumps(header).encode()       # (Infinity and NaN where a mutation put them)
    return struct.pack("<Q", len(text)) + text + data


def mutate_json(value, r, depth=0):
    """`value` with one randomly chosen leaf (or the whole, at the top) replaced."""
    if isinstance(value, dict) and value and r.random() < 0.8:
        key = list(value)[r.integers(len(value))]
        if r.random() < 0.15:
            return {k: v for k, v in value.items() if k != key}
        return {**value, key: mutate_json(value[key], r, depth + 1)}
    if isinstance(value, list) and value and r.random() < 0.8:
        i = int(r.integers(len(value)))
        return value[:i] + [mutate_json(value[i], r, depth + 1)] + value[i + 1:]
    return ODD_VALUES[r.integers(len(ODD_VALUES))]


def mutated(raw, kind, r):
    header, data = split(raw)
    names = sorted(k for k in header if k != "__metadata__")
    name = names[r.integers(len(names))]
    meta = header["__metadata__"]
    if kind == "header_bytes":
        blob = bytearray(raw)
        n = struct.unpack("<Q", raw[:8])[0]
        for _ in range(int(r.integers(1, 4))):
            blob[int(r.integers(0, 8 + n))] = int(r.integers(0, 256))
        return bytes(blob)
    if kind == "data_bytes":
        blob = bytearray(raw)
        n = struct.unpack("<Q", raw[:8])[0]
        blob[int(r.integers(8 + n, len(raw)))] ^= 1 << int(r.integers(8))
        return bytes(blob)
    if kind == "length":
        return raw[:int(r.integers(0, len(raw)))] if r.random() < 0.7 else raw + b"\0" * 4
    if kind == "dtype":
        header[name]["dtype"] = DTYPE_TAGS[r.integers(len(DTYPE_TAGS))]
    elif kind == "shape":
        header[name]["shape"] = [[], [-1], [2 ** 40], [2 ** 62, 2 ** 62], "x", [1.5], [True],
                                 [1] * 100, list(reversed(header[name]["shape"])),
                                 header[name]["shape"] + [1]][r.integers(10)]
    elif kind == "offsets":
        begin, end = header[name]["data_offsets"]
        header[name]["data_offsets"] = [[0, float("inf")], [end, begin], [begin, end + 4],
                                        [begin - 1, end], [begin, 2 ** 64], [begin, end, 0],
                                        [begin + 0.5, end], "x", None][r.integers(9)]
    elif kind == "entries":
        if r.random() < 0.5:
            del header[name]
        else:
            header["x" + name] = header.pop(name)
    elif kind == "metadata":
        key = sorted(meta)[r.integers(len(meta))]
        if r.random() < 0.3:
            meta[key] = meta[key][:int(r.integers(0, len(meta[key]) + 1))]   # broken JSON
        else:
            try:
                meta[key] = json.dumps(mutate_json(json.loads(meta[key]), r))
            except ValueError:                                 # format, model_type: text
                meta[key] = str(ODD_VALUES[r.integers(len(ODD_VALUES))])
    elif kind == "config":
        extra = json.loads(meta["extra"])
        field = ["d_model", "d_ff", "dropout", "history"][r.integers(4)]
        value = ODD_VALUES[r.integers(len(ODD_VALUES))]
        if field == "history":
            extra["history"] = mutate_json(extra["history"], r)
        else:
            extra["config"][field] = value
        meta["extra"] = json.dumps(extra)
    return join(header, data)


def independent_read(raw):
    """The file's tensors as its header and bytes say, for files minigrad loaded."""
    header, data = split(raw)
    out = {}
    for k, e in header.items():
        if k == "__metadata__":
            continue
        b, end = e["data_offsets"]
        if e["dtype"] == "BF16":
            a = (np.frombuffer(data[b:end], "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(data[b:end], NUMPY_OF[e["dtype"]])
        out[k] = a.reshape(e["shape"])
    return out


def load_and_validate(path):
    """Load the checkpoint into fresh objects and validate what the caller uses from it."""
    model, opt, sched = objects()
    info = Checkpoint(model, opt, sched).load(path)
    where = f"{str(path)!r}"
    extra = info["extra"]
    if not isinstance(extra, dict):
        raise CheckpointError(f"{where}: extra is {type(extra).__name__}, expected an object")
    check_fields(f"{where} config", extra.get("config"), CONFIG_SPEC)
    check_numbers(where, "history", extra.get("history"), float, length=info["step"])
    return model, info


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"loading took more than {HANG_GUARD_S} s")


KINDS = ["header_bytes", "data_bytes", "length", "dtype", "shape", "offsets", "entries",
         "metadata", "config"]


@fuzz_settings(150)
@given(kind=st.sampled_from(KINDS), seed=st.integers(0, 2 ** 32 - 1))
def test_mutated_checkpoint_loads_correctly_or_names_the_file(original, tmp_path_factory,
                                                              kind, seed):
    raw = mutated(original, kind, np.random.default_rng(seed))
    path = tmp_path_factory.mktemp("fuzz") / "mutated.safetensors"
    path.write_bytes(raw)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(HANG_GUARD_S)
    tracemalloc.start()
    try:
        model, info = load_and_validate(path)
    except CheckpointError as e:
        assert str(path) in str(e), f"{kind}: the error does not name the file: {e}"
        count(EXPECTED_ERROR)
        return
    except Exception as e:                                    # noqa: BLE001 - this is the bug
        pytest.fail(f"{kind}: raised {type(e).__name__}, not a CheckpointError: {e}")
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        assert peak < MEMORY_LIMIT, f"{kind}: {peak} bytes traced to load a {len(raw)}-byte file"
    want = independent_read(raw)
    for k, v in model.state_dict().items():
        assert v.dtype == np.float32, k
        np.testing.assert_array_equal(v.numpy(), want["model." + k], err_msg=k)
    assert isinstance(info["step"], int) and info["step"] >= 0
    count(NUMPY_ONLY)


def test_every_kind_of_outcome_was_counted():
    """Runs after the fuzz cases: some mutated files loaded, some were refused."""
    assert_counted(__file__, [EXPECTED_ERROR, NUMPY_ONLY])

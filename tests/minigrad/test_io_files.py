"""minigrad.io on unusual and broken files (issue 20): torch's bfloat16/float16 files,
dtypes minigrad cannot hold, hostile headers, untrusted checkpoint metadata, misleading
messages, temporary files and failed saves."""
import errno
import json
import os
import signal
import struct
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
import minigrad.optim as optim
import minigrad.safetensors_format as sf
from minigrad.io import (Checkpoint, CheckpointError, CheckpointWriteError, check_fields,
                         check_numbers, check_value)
from testutil import require_torch


def write_raw(path, header, data=b""):
    """A safetensors file with exactly this header (a dict or raw JSON bytes) and data."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


# ------------------------------------------------------------------ dtypes
def test_bfloat16_and_float16_files_from_torch_load(tmp_path):
    torch = require_torch()
    from safetensors.torch import save_file
    x = torch.randn(3, 5)
    path = tmp_path / "half.safetensors"
    save_file({"bf": x.to(torch.bfloat16), "h": x.to(torch.float16)}, str(path))
    back = mg.load(path)
    # bfloat16 loads as bfloat16 (with ml_dtypes; as float32, exactly, without), the values
    # torch holds
    assert back["bf"].dtype == getattr(mg, "bfloat16", mg.float32) and back["bf"].shape == (3, 5)
    np.testing.assert_array_equal(back["bf"].float().numpy(), x.to(torch.bfloat16).float().numpy())
    assert back["h"].dtype == mg.float16
    np.testing.assert_array_equal(back["h"].numpy(), x.to(torch.float16).numpy())


@pytest.mark.parametrize("tag", ["F8_E4M3", "F8_E5M2", "C64", "XYZ"])
def test_dtype_minigrad_cannot_hold_names_file_tensor_and_dtype(tmp_path, tag):
    path = write_raw(tmp_path / "f8.safetensors",
                     {"w": {"dtype": tag, "shape": [4], "data_offsets": [0, 4]}}, b"\0" * 4)
    with pytest.raises(CheckpointError) as e:
        mg.load(path)
    assert str(path) in str(e.value) and "'w'" in str(e.value) and tag in str(e.value)


def test_float8_file_from_torch_is_a_checkpoint_error(tmp_path):
    torch = require_torch()
    from safetensors.torch import save_file
    path = tmp_path / "f8.safetensors"
    save_file({"q": torch.zeros(4).to(torch.float8_e4m3fn)}, str(path))
    with pytest.raises(CheckpointError, match=r"'q'.*F8_E4M3"):
        mg.load(path)


# ------------------------------------------------------------------ hostile headers
def test_deeply_nested_header_is_a_checkpoint_error(tmp_path):
    depth = 200_000
    path = write_raw(tmp_path / "deep.safetensors", b"{\"a\":" + b"[" * depth + b"]" * depth
                     + b"}")
    with pytest.raises(CheckpointError, match="nested too deeply"):
        mg.load(path)


@pytest.mark.parametrize("offsets", ["[0, Infinity]", "[0, NaN]", "[0, 1e400]", "[-4, 0]",
                                     "[4, 0]", "[0, 99999999999999999999999]", "[true, 4]"])
def test_impossible_offsets_are_a_checkpoint_error(tmp_path, offsets):
    raw = ('{"w": {"dtype": "F32", "shape": [1], "data_offsets": %s}}' % offsets).encode()
    path = write_raw(tmp_path / "off.safetensors", raw, b"\0" * 4)
    with pytest.raises(CheckpointError) as e:
        mg.load(path)
    assert str(path) in str(e.value)


def test_a_million_empty_tensors_fail_before_the_header_is_parsed(tmp_path, monkeypatch):
    entry = '"t%d": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}'
    raw = ("{" + ", ".join(entry % i for i in range(1_000_000)) + "}").encode()
    path = write_raw(tmp_path / "many.safetensors", raw)
    parsed = []
    monkeypatch.setattr(sf.json, "loads", lambda *a, **k: parsed.append(1))
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match="more than 100000 tensors"):
            mg.io.load_checkpoint(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not parsed                               # refused before the JSON was parsed
    assert peak < 3 * len(raw), f"{peak} bytes to refuse a {len(raw)}-byte header"


def test_format_tag_is_checked_before_any_tensor_is_read(tmp_path, monkeypatch):
    path = tmp_path / "plain.safetensors"
    mg.save({f"t{i}": mg.zeros(0) for i in range(50)}, path)
    monkeypatch.setattr(sf, "read_tensors", lambda *a: pytest.fail("read the tensors"))
    monkeypatch.setattr(mg.io, "read_tensors", lambda *a: pytest.fail("read the tensors"))
    with pytest.raises(CheckpointError, match="not a minigrad checkpoint"):
        mg.io.load_checkpoint(path)


@pytest.mark.parametrize("header, why", [
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, "needs 8 bytes"),
    ({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, "shape"),
    ({"w": {"dtype": "F32", "shape": "1", "data_offsets": [0, 4]}}, "shape"),
    ({"w": [1, 2]}, "not a JSON object"),
    ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
      "v": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, "without gaps or overlap"),
    ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, "__metadata__": {"a": 1}},
     "__metadata__"),
    (b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, '
     b'"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}', "appears twice"),
])
def test_inconsistent_headers_are_checkpoint_errors(tmp_path, header, why):
    path = write_raw(tmp_path / "bad.safetensors", header, b"\0" * 4)
    with pytest.raises(CheckpointError, match=why):
        mg.load(path)


def test_bytes_after_the_last_tensor_are_refused(tmp_path):
    path = tmp_path / "t.safetensors"
    mg.save({"w": mg.ones(2)}, path)
    with open(path, "ab") as f:
        f.write(b"junk")
    with pytest.raises(CheckpointError, match="longer than its header says"):
        mg.load(path)


# ------------------------------------------------------------------ checkpoint metadata
def small_run(tmp_path, steps=2):
    model = nn.Linear(3, 2)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    sched = optim.lr_scheduler.NoamLR(opt, d_model=3, warmup_steps=4)
    for _ in range(steps):
        opt.zero_grad()
        model(mg.randn(4, 3)).sum().backward()
        opt.step()
    path = tmp_path / "run.safetensors"
    Checkpoint(model, opt, sched).save(path, step=steps, extra={"config": {"d_model": 3}})
    return model, opt, sched, path


def rewrite(path, tensors=None, meta=None):
    """Write the checkpoint again with some tensors or metadata entries replaced."""
    header = sf.read_header(path)
    arrays = sf.read_tensors(path, header)
    arrays.update(tensors or {})
    mg.save(arrays, path, {**header.metadata, **(meta or {})})


@pytest.mark.parametrize("step", ['"ten"', "-1", "2.5", "true", "null"])
def test_bad_step_is_refused(tmp_path, step):
    model, opt, sched, path = small_run(tmp_path)
    rewrite(path, meta={"step": step})
    with pytest.raises(CheckpointError, match="step must be a whole number >= 0"):
        Checkpoint(model, opt, sched).load(path)


def test_optimizer_moment_of_the_wrong_dtype_is_refused_before_anything_changes(tmp_path):
    model, opt, sched, path = small_run(tmp_path)
    name = next(k for k in sf.read_header(path).tensors
                if k.startswith("optim.") and sf.read_header(path).tensors[k].shape == (2, 3))
    rewrite(path, tensors={name: np.zeros((2, 3), np.int32)})
    before = model.weight.numpy().copy()
    with pytest.raises(CheckpointError, match="int32, its parameter is float32"):
        Checkpoint(model, opt, sched).load(path)
    np.testing.assert_array_equal(model.weight.numpy(), before)


@pytest.mark.parametrize("change", [
    lambda s: {**s, "last_epoch": "3"}, lambda s: {**s, "last_epoch": 2.5},
    lambda s: {**s, "base_lrs": [0.1, 0.2, 0.3]}, lambda s: {**s, "factor": float("nan")},
    lambda s: {**s, "d_model": None}, lambda s: {k: v for k, v in s.items() if k != "factor"}])
def test_malformed_scheduler_entry_is_refused(tmp_path, change):
    model, opt, sched, path = small_run(tmp_path)
    meta = sf.read_header(path).metadata
    rewrite(path, meta={"sched": json.dumps(change(json.loads(meta["sched"])))})
    with pytest.raises(CheckpointError, match="scheduler:"):
        Checkpoint(model, opt, sched).load(path)


def test_malformed_optimizer_hyper_parameter_is_refused(tmp_path):
    model, opt, sched, path = small_run(tmp_path)
    optim_meta = json.loads(sf.read_header(path).metadata["optim"])
    optim_meta["param_groups"][0]["lr"] = "fast"
    rewrite(path, meta={"optim": json.dumps(optim_meta)})
    # The optimizer's own argument checks (shared with its constructor) report it first.
    with pytest.raises(CheckpointError, match=r"run\.safetensors.*group 0: Adam: lr .*'fast'"):
        Checkpoint(model, opt, sched).load(path)


def test_validation_helpers_for_values_read_from_files():
    assert check_value("cfg", "d_model", 64, int, 1, 4096) == 64
    for bad in (-64, 2 ** 40, 64.0, True, "64", None):
        with pytest.raises(CheckpointError, match="cfg: d_model must be a whole number"):
            check_value("cfg", "d_model", bad, int, 1, 4096)
    assert check_value("cfg", "dropout", 0, float, 0, 1) == 0.0
    with pytest.raises(CheckpointError, match="finite number"):
        check_value("cfg", "dropout", float("nan"), float, 0, 1)
    spec = {"d_model": (int, 1, 4096), "d_ff": (int, 1, 2 ** 20), "dropout": (float, 0, 1)}
    with pytest.raises(CheckpointError) as e:
        check_fields("f.safetensors config", {"d_model": -64, "d_ff": 2 ** 40}, spec)
    assert all(s in str(e.value) for s in ("f.safetensors config", "d_model", "d_ff",
                                           "dropout is missing"))
    assert check_numbers("h", "losses", [1, 2.5], float, 0) == [1.0, 2.5]
    for bad in ([1, "x"], [1, float("inf")], "1,2", {"a": 1}):
        with pytest.raises(CheckpointError, match="losses"):
            check_numbers("h", "losses", bad, float, 0)
    with pytest.raises(CheckpointError, match="a list of 3 numbers"):
        check_numbers("h", "losses", [1.0], length=3)


# ------------------------------------------------------------------ messages
def test_loading_a_directory_says_so(tmp_path):
    with pytest.raises(CheckpointError, match="is a directory, not a file"):
        mg.load(tmp_path)
    with pytest.raises(CheckpointError, match="is a directory"):
        mg.io.load_checkpoint(tmp_path)


def test_unreadable_file_names_the_path(tmp_path, monkeypatch):
    path = tmp_path / "secret.safetensors"
    mg.save({"w": mg.ones(1)}, path)

    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied", str(path))
    monkeypatch.setattr(sf, "open", denied, raising=False)   # (root may read any mode)
    with pytest.raises(CheckpointError, match="permission denied: cannot read .*secret"):
        mg.load(path)


def test_saving_into_a_missing_folder_names_the_target(tmp_path):
    target = tmp_path / "no_such_folder" / "ckpt.safetensors"
    with pytest.raises(CheckpointWriteError) as e:
        mg.save({"w": mg.ones(1)}, target)
    assert str(target) in str(e.value) and "does not exist" in str(e.value)
    assert ".tmp" not in str(e.value)


# ------------------------------------------------------------------ temporary files
def temps(folder):
    return sorted(f for f in os.listdir(folder) if f.endswith(".tmp"))


def test_stale_temporary_files_of_our_naming_are_removed_and_others_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = [f".ckpt.safetensors.{dead}.0123abcd.tmp", ".ckpt.safetensors.ab_c12xy.tmp"]
    alive = f".ckpt.safetensors.{os.getppid()}.0123abcd.tmp"     # a live process's write
    others = [".other.safetensors.ab_c12xy.tmp", "ckpt.safetensors.notes.tmp", alive]
    for name in stale + others:
        (tmp_path / name).write_bytes(b"half")
    mg.save({"w": mg.ones(1)}, tmp_path / "ckpt.safetensors")
    assert temps(tmp_path) == sorted(others)


def fill_disk(tmp, *a, **k):
    raise OSError(errno.ENOSPC, "No space left on device", tmp)


@pytest.mark.parametrize("fail_at", ["write", "fsync", "replace"])
def test_failed_save_names_the_path_and_reason_and_keeps_the_old_checkpoint(tmp_path,
                                                                             monkeypatch,
                                                                             fail_at):
    path = tmp_path / "ckpt.safetensors"
    mg.save({"w": mg.ones(3)}, path)
    before = path.read_bytes()
    import safetensors.numpy
    target = {"write": (safetensors.numpy, "save_file"), "fsync": (os, "fsync"),
              "replace": (os, "replace")}[fail_at]
    monkeypatch.setattr(*target, fill_disk)
    with pytest.raises(CheckpointWriteError) as e:
        mg.save({"w": mg.zeros(3)}, path)
    monkeypatch.undo()
    assert str(path) in str(e.value) and "No space left on device" in str(e.value)
    assert "previous file is unchanged" in str(e.value) and isinstance(e.value, OSError)
    assert path.read_bytes() == before and temps(tmp_path) == []


def test_save_on_a_really_full_disk(tmp_path):
    """A real ENOSPC from a tiny tmpfs (needs root to mount; skipped otherwise)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root); the monkeypatched test covers it")
    try:
        path = mount / "ckpt.safetensors"
        mg.save({"w": mg.ones(1000)}, path)                       # 4 kB: fits
        before = path.read_bytes()
        with pytest.raises(CheckpointWriteError, match="No space left on device"):
            mg.save({"w": mg.ones(40_000)}, path)                 # 160 kB: does not
        assert path.read_bytes() == before and temps(mount) == []
        np.testing.assert_array_equal(mg.load(path)["w"].numpy(), np.ones(1000, np.float32))
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_signal_between_creating_and_writing_leaves_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.safetensors"
    mg.save({"w": mg.ones(3)}, path)
    before = path.read_bytes()
    real_open = os.open

    def open_then_signal(*a, **k):
        fd = real_open(*a, **k)                   # the temporary file now exists...
        os.kill(os.getpid(), signal.SIGINT)       # ...and Ctrl-C lands before the write
        return fd
    monkeypatch.setattr(os, "open", open_then_signal)
    # A process started in the background by a shell inherits SIGINT ignored; Ctrl-C's
    # KeyboardInterrupt is what this test is about, so make sure it is delivered.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            mg.save({"w": mg.zeros(3)}, path)
    finally:
        signal.signal(signal.SIGINT, previous)
    monkeypatch.undo()
    assert path.read_bytes() == before and temps(tmp_path) == []


def test_killed_save_leaves_a_temp_file_that_the_next_save_removes(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    code = ("import os, minigrad as mg, minigrad.safetensors_format as sf\n"
            "def write(tmp):\n    open(tmp, 'wb').write(b'half'); os.kill(os.getpid(), 9)\n"
            f"sf.atomic_write({str(path)!r}, write)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert proc.returncode == -9 and len(temps(tmp_path)) == 1
    mg.save({"w": mg.ones(2)}, path)
    assert temps(tmp_path) == [] and mg.load(path)["w"].shape == (2,)


def test_save_without_permission_names_the_target(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.safetensors"

    def denied(name, *a, **k):
        raise PermissionError(errno.EACCES, "Permission denied", name)
    monkeypatch.setattr(os, "open", denied)              # (root may write any folder)
    with pytest.raises(CheckpointWriteError) as e:
        mg.save({"w": mg.ones(1)}, path)
    monkeypatch.undo()
    assert str(path) in str(e.value) and "Permission denied" in str(e.value)
    assert not path.exists() and temps(tmp_path) == []

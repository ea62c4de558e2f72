"""Interrupted training loses nothing.

examples/copy_task.py trains in a subprocess, saving its checkpoint after every
step. The test kills it with SIGKILL (no chance to clean up) first in the middle
of a checkpoint write (its temporary file exists, the rename has not happened),
then at random moments, and restarts it with --resume each time. The final
weights, optimizer state, step and loss history must be bitwise equal to those
of one uninterrupted run of the same length (CPU, fixed seed, dropout on, so the
random generator's state has to survive the restarts too).

That holds only if the checkpoint carries the model, the optimizer state, the
schedule, the step and the RNG state, if its write is atomic, and if every batch
is derived from the step number alone. The temporary files that the killed writes
left behind are removed by the next save (issue 20), so none is left at the end.
"""
import glob
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import minigrad as mg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "examples", "copy_task.py")
STEPS = 60
ARGS = ["--steps", str(STEPS), "--batch-size", "8", "--d-model", "16", "--nhead", "2",
        "--layers", "1", "--d-ff", "32", "--dropout", "0.1", "--warmup", "10", "--seed", "3",
        "--log-every", "1000", "--no-progress", "--checkpoint-every", "1"]
TIMEOUT = 120

pytestmark = pytest.mark.slow


def start(out, resume=False):
    args = [sys.executable, SCRIPT, *ARGS, "--out", out]
    if resume:
        args += ["--resume", os.path.join(out, "checkpoint.safetensors")]
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "MPLBACKEND": "Agg"}
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def finish(proc):
    out, _ = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, f"the run failed (exit {proc.returncode}):\n{out}"
    return out


def temp_files(out):
    """Temporary files of an atomic checkpoint write that has not been renamed yet."""
    return glob.glob(os.path.join(out, ".checkpoint.safetensors.*.tmp"))


def kill_during_write(proc, out):
    """SIGKILL the run the moment a checkpoint write is under way (its temporary file
    exists). Returns (caught, stamp): caught is True when the write was cut off half
    done (its temporary file outlived the kill, so the rename never happened), and
    stamp is the modification time the checkpoint had when the write was seen."""
    path = os.path.join(out, "checkpoint.safetensors")
    deadline = time.monotonic() + TIMEOUT
    while proc.poll() is None and time.monotonic() < deadline:
        if temp_files(out):
            stamp = _mtime(path)
            proc.kill()
            proc.wait()
            return bool(temp_files(out)), stamp
    proc.kill()
    proc.wait()
    return False, None


def kill_at_random_step(proc, out, rng):
    """SIGKILL at a random moment of training: after a random number (1 to 8) of this
    run's checkpoint writes, plus a random part of a step (so inside a step's forward,
    backward or update, or inside the next write). False if the run ended first."""
    path = os.path.join(out, "checkpoint.safetensors")
    target, seen, last = int(rng.integers(1, 9)), 0, _mtime(path)
    deadline = time.monotonic() + TIMEOUT
    while proc.poll() is None and time.monotonic() < deadline:
        now = _mtime(path)
        if now != last:
            seen, last = seen + 1, now
            if seen >= target:
                time.sleep(float(rng.uniform(0.0, 0.03)))
                proc.kill()
                proc.wait()
                return True
        time.sleep(0.0005)
    proc.kill()
    proc.wait()
    return False


def _mtime(path):
    try:
        return os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return None


def saved_state(out):
    """The final checkpoint's tensors (model and optimizer) and its metadata."""
    path = os.path.join(out, "checkpoint.safetensors")
    return mg.load(path), mg.io.load_metadata(path)


def test_killed_and_resumed_training_ends_bitwise_equal_to_an_uninterrupted_run(tmp_path):
    reference = str(tmp_path / "uninterrupted")
    finish(start(reference))

    out = str(tmp_path / "interrupted")
    rng = np.random.default_rng(0)
    checkpoint = os.path.join(out, "checkpoint.safetensors")
    steps_at_kill, caught_mid_write = [], False
    for attempt in range(12):
        proc = start(out, resume=os.path.exists(checkpoint))
        if attempt in (0, 2, 3):                   # a random moment
            assert kill_at_random_step(proc, out, rng), "the run ended before the kill"
        elif attempt == 1 or not caught_mid_write:   # inside a checkpoint write
            caught, stamp = kill_during_write(proc, out)
            if caught:                             # the previous checkpoint is untouched
                assert _mtime(checkpoint) == stamp
            caught_mid_write = caught_mid_write or caught
        else:
            finish(proc)
            break
        # whatever the moment of the kill, the checkpoint on disk is whole
        steps_at_kill.append(json.loads(saved_state(out)[1]["step"]))
    else:
        pytest.fail(f"the run never finished; checkpoints at steps {steps_at_kill}")
    assert caught_mid_write, "no kill landed inside a checkpoint write"
    assert steps_at_kill == sorted(steps_at_kill) and 0 < steps_at_kill[-1] < STEPS, steps_at_kill
    # the half-written temporary files of the killed writes were removed by later saves
    assert not temp_files(out), f"stale temporary files left behind: {temp_files(out)}"

    want, want_meta = saved_state(reference)
    got, got_meta = saved_state(out)
    assert sorted(got) == sorted(want)
    for name in want:               # model weights and Adam moments, bit for bit
        assert got[name].dtype == want[name].dtype, name
        assert np.array_equal(got[name].numpy(), want[name].numpy()), f"{name} differs"
    assert got_meta["step"] == want_meta["step"] == str(STEPS)
    assert got_meta["optim"] == want_meta["optim"] and got_meta["sched"] == want_meta["sched"]
    assert got_meta["rng"] == want_meta["rng"]
    want_history = json.loads(want_meta["extra"])["history"]
    got_history = json.loads(got_meta["extra"])["history"]
    assert got_history["losses"] == want_history["losses"]          # every step's loss, exactly
    # each restart that got as far as a new checkpoint left its starting step in the history
    resumed = got_history["resumed_at"]
    assert resumed and resumed == sorted(resumed) and set(resumed) <= set(steps_at_kill)

"""A training example never loses work (issue 20, "Lost work" 1-3), end to end: the
real script in a subprocess, real signals.

1. A second run into a folder that holds a checkpoint is refused (one line naming
   the folder and the choices) unless it resumes from it or asks to overwrite it.
2. SIGINT and SIGTERM save a checkpoint after the current step and say where; the
   run resumed from it ends bitwise equal to an uninterrupted one. Checkpoints are
   also saved periodically by default, so even SIGKILL loses little.
3. A learning rate 100x, 1,000x or 10,000x too high stops the run with the step,
   the loss and a hint, and a non-zero exit status; the diverged model is not saved.
"""
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
TINY = ["--d-model", "16", "--nhead", "2", "--layers", "1", "--d-ff", "32", "--batch-size", "8",
        "--dropout", "0.1", "--warmup", "10", "--seed", "3", "--no-progress"]
TIMEOUT = 180


def command(out, *args):
    return [sys.executable, SCRIPT, *map(str, args), "--out", str(out)]


def run(out, *args):
    """Run the copy task to its end; (exit status, stdout, stderr)."""
    proc = subprocess.run(command(out, *args), capture_output=True, text=True, timeout=TIMEOUT,
                          cwd=ROOT, env={**os.environ, "MPLBACKEND": "Agg"})
    return proc.returncode, proc.stdout, proc.stderr


def start(out, *args):
    """Start the copy task; its stdout and stderr come through one pipe, line by line."""
    return subprocess.Popen(command(out, *args), cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "MPLBACKEND": "Agg"})


def logged_step(line):
    """The step number of a log line ('step    12/100000 | loss ...'), else None."""
    words = line.split()
    if len(words) > 1 and words[0] == "step" and "/" in words[1]:
        return int(words[1].split("/")[0])
    return None


def wait_for_step(proc, step):
    """Read the run's output until it logs step `step`; returns the lines read."""
    lines, deadline = [], time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if logged_step(line) == step:
            return lines
    proc.kill()
    pytest.fail(f"the run never logged step {step}:\n{''.join(lines[-20:])}")


def checkpoint_step(path):
    return json.loads(mg.io.load_metadata(str(path))["step"])


def one_error_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ------------------------------------------------------------------ 1. refuse to overwrite
def test_a_second_run_into_a_folder_with_a_checkpoint_is_refused(tmp_path):
    out = tmp_path / "run"
    ckpt = out / "checkpoint.safetensors"
    proc = start(out, *TINY, "--steps", "100000", "--log-every", "1", "--checkpoint-every", "0")
    wait_for_step(proc, 12)
    proc.send_signal(signal.SIGINT)                      # (item 2 at work: a 12+-step checkpoint)
    proc.communicate(timeout=TIMEOUT)
    step = checkpoint_step(ckpt)
    before = ckpt.read_bytes()

    status, stdout, err = run(out, *TINY, "--steps", "5")          # the mistake of the issue
    line = one_error_line(err)
    assert status == 1 and "error:" in line
    assert str(out) in line and f"step {step}" in line
    assert f"--resume {ckpt}" in line and "--out" in line and "--overwrite" in line
    assert ckpt.read_bytes() == before                  # untouched: not one step was trained
    assert not [line for line in stdout.splitlines() if logged_step(line)]

    # resuming from that checkpoint is allowed, and so is an explicit --overwrite
    status, stdout, err = run(out, *TINY, "--steps", step + 2, "--resume", ckpt,
                              "--checkpoint-every", "0")
    assert status == 0 and f"resumed from {ckpt} at step {step}" in stdout, err
    assert checkpoint_step(ckpt) == step + 2
    status, stdout, err = run(out, *TINY, "--steps", "3", "--overwrite", "--checkpoint-every", "0")
    assert status == 0 and "step 3/3 " in stdout, err
    assert checkpoint_step(ckpt) == 3


def test_resuming_another_runs_checkpoint_into_a_folder_with_one_is_refused(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        proc = start(out, *TINY, "--steps", "100000", "--log-every", "1")
        wait_for_step(proc, 3)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=TIMEOUT)
    before = (b / "checkpoint.safetensors").read_bytes()
    status, _, err = run(b, *TINY, "--steps", "10", "--resume", a / "checkpoint.safetensors")
    assert status == 1 and str(b) in one_error_line(err)
    assert (b / "checkpoint.safetensors").read_bytes() == before


# ------------------------------------------------------------------ 2. signals, periodic saves
@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_saves_a_checkpoint_says_where_and_the_run_resumes_exactly(tmp_path, sig):
    out = tmp_path / "run"
    ckpt = out / "checkpoint.safetensors"
    proc = start(out, *TINY, "--steps", "100000", "--log-every", "1", "--checkpoint-every", "0")
    wait_for_step(proc, 8)
    proc.send_signal(sig)
    rest, _ = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 128 + sig, rest            # 130 for Ctrl-C, 143 for SIGTERM
    stopped = [line for line in rest.splitlines() if line.startswith("stopped by")]
    assert len(stopped) == 1, rest
    assert signal.Signals(sig).name in stopped[0] and f"checkpoint saved to {ckpt}" in stopped[0]
    step = checkpoint_step(ckpt)
    assert f"after step {step}:" in stopped[0] and step >= 8
    logged = [logged_step(line) for line in rest.splitlines() if logged_step(line)]
    assert max(logged, default=8) == step                # the step it saved is the last it ran

    # resumed from that checkpoint, the run ends exactly where an uninterrupted one does
    total = step + 3
    status, _, err = run(out, *TINY, "--steps", total, "--resume", ckpt, "--checkpoint-every", "0")
    assert status == 0, err
    reference = tmp_path / "reference"
    status, _, err = run(reference, *TINY, "--steps", total, "--checkpoint-every", "0")
    assert status == 0, err
    got, want = mg.load(str(ckpt)), mg.load(str(reference / "checkpoint.safetensors"))
    assert sorted(got) == sorted(want)
    for name in want:
        assert np.array_equal(got[name].numpy(), want[name].numpy()), name


@pytest.mark.slow
def test_checkpoints_are_saved_periodically_by_default(tmp_path):
    out = tmp_path / "run"
    proc = start(out, *TINY, "--steps", "100000", "--log-every", "1")    # default interval
    wait_for_step(proc, 105)
    proc.kill()                                          # SIGKILL: no chance to save
    proc.communicate(timeout=TIMEOUT)
    assert checkpoint_step(out / "checkpoint.safetensors") == 100


# ------------------------------------------------------------------ 3. divergence
@pytest.mark.slow
@pytest.mark.parametrize("too_high", [100, 1000, 10000])
def test_a_learning_rate_far_too_high_stops_the_run_with_the_step_loss_and_hint(tmp_path,
                                                                                too_high):
    out = tmp_path / "run"
    status, stdout, err = run(out, "--lr-factor", 0.25 * too_high, "--steps", "400",
                              "--checkpoint-every", "0", "--no-progress")
    line = one_error_line(err)
    assert status == 1, stdout
    assert "training diverged at step" in line and "(loss " in line, line
    assert "--lr-factor" in line and "--warmup" in line                    # the hint
    step = int(line.split("training diverged at step ")[1].split()[0])
    assert step < 200, line                              # stopped early, not after 400 steps
    assert "exact match" not in stdout                   # nothing after training ran
    assert not (out / "checkpoint.safetensors").exists()     # the diverged model is not saved


@pytest.mark.slow
def test_dates_stuck_at_chance_by_a_learning_rate_100x_too_high_is_stopped(tmp_path):
    dates = os.path.join(ROOT, "examples", "dates.py")
    proc = subprocess.run([sys.executable, dates, "--lr-factor", "50", "--steps", "600",
                           "--checkpoint-every", "0", "--no-progress", "--out",
                           str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=TIMEOUT * 2, cwd=ROOT)
    line = one_error_line(proc.stderr)
    assert proc.returncode == 1 and "training diverged at step" in line, proc.stdout
    assert "chance level" in line and "--lr-factor" in line
    assert not (tmp_path / "run" / "checkpoint.safetensors").exists()

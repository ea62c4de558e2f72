"""The benchmark scripts run end to end on tiny settings (their numbers are measured on a
quiet machine by hand; here only that each script works and prints its table)."""
import os
import subprocess
import sys

import pytest

from testutil import require_torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = "d_model=32,nhead=2,layers=1,d_ff=64,batch=2,length=8,vocab=50"


def _run(script, *args):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", script), *args],
                            capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout


@pytest.mark.parametrize("amp", [[], ["--amp"], ["--no-keep-freed-memory"]])
def test_train_step_prints_both_frameworks_and_the_ratio(amp):
    require_torch()
    out = _run("train_step.py", "--config", TINY, "--reps", "2", "--warmup", "1", *amp)
    assert "minigrad" in out and "pytorch" in out and "ratio minigrad/pytorch" in out


def test_gpt_step_prints_both_frameworks_the_ratio_and_the_profiles():
    require_torch()
    out = _run("gpt_step.py", "--config", "n_layer=1,n_head=2,n_embd=16,block_size=8,batch_size=2",
               "--reps", "2", "--warmup", "1", "--profile", "--no-keep-freed-memory")
    assert "minigrad" in out and "pytorch" in out and "ratio minigrad/pytorch" in out
    assert "minigrad profile" in out and "pytorch profile" in out
    out = _run("gpt_step.py", "--config", "n_layer=1,n_head=2,n_embd=16,block_size=8,batch_size=2",
               "--reps", "1", "--warmup", "0", "--alone")
    assert "separate processes" in out


@pytest.mark.slow
def test_decode_and_long_context_run(tmp_path):
    require_torch()
    out = _run("decode.py", "--configs", "small", "--batches", "1", "--tokens", "4",
               "--src-len", "8", "--reps", "1")
    assert "greedy" in out and "beam" in out
    out = _run("long_context.py", "--lengths", "64", "--reps", "1",
               "--plot", str(tmp_path / "lc.png"))
    assert "64" in out and (tmp_path / "lc.png").exists()

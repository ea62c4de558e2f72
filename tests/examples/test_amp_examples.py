"""--amp in the training examples (issue 21): autocast + GradScaler through
examples/support/mixed_precision.py, the scaler's state in the checkpoint, and a resumed
--amp run that is bit for bit the run that never stopped."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import minigrad as mg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples")         # on sys.path through conftest.py

from support import mixed_precision  # noqa: E402

SMALL = ["--d-model", "16", "--d-ff", "32", "--batch-size", "8", "--no-progress"]


def _weights(path):
    return {k: v.numpy() for k, v in mg.io.load(path).items()}


def _extra(path):
    return json.loads(mg.io.load_metadata(path)["extra"])


@pytest.mark.parametrize("script", ["copy_task.py", "dates.py", "translate.py", "shakespeare.py"])
def test_every_training_example_lists_amp_in_its_help(script):
    """benchmarks/gpu_check.sh looks for --amp in copy_task.py --help."""
    args = [sys.executable, os.path.join(EXAMPLES, script)]
    args += ["train", "--help"] if script == "translate.py" else ["--help"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120).stdout
    assert "--amp" in out and "--amp-dtype" in out, out[-500:]


def test_amp_copy_task_saves_the_scaler_and_resumes_bit_for_bit(tmp_path, train_copy_task):
    straight, parted = tmp_path / "straight", tmp_path / "parted"
    growth = {"growth_interval": 2}                   # the scale changes within the run
    original = mixed_precision.GradScaler

    def scaler(*a, **kw):
        return original(*a, **{**kw, **growth})
    mixed_precision.GradScaler = scaler
    try:
        train_copy_task(SMALL + ["--amp", "--steps", "6", "--out", str(straight)])
        train_copy_task(SMALL + ["--amp", "--steps", "3", "--out", str(parted)])
        ckpt = str(parted / "checkpoint.safetensors")
        half_way = _extra(ckpt)["grad_scaler"]
        train_copy_task(SMALL + ["--amp", "--steps", "6", "--resume", ckpt, "--out", str(parted)])
    finally:
        mixed_precision.GradScaler = original
    a = straight / "checkpoint.safetensors"
    b = parted / "checkpoint.safetensors"
    assert half_way["scale"] != _extra(str(a))["grad_scaler"]["scale"] or \
        half_way["_growth_tracker"] != _extra(str(a))["grad_scaler"]["_growth_tracker"]
    assert _extra(str(a))["grad_scaler"] == _extra(str(b))["grad_scaler"]
    assert _extra(str(a))["history"]["losses"] == _extra(str(b))["history"]["losses"]
    wa, wb = _weights(str(a)), _weights(str(b))
    assert wa.keys() == wb.keys()
    for k in wa:                                      # weights and optimizer moments, bitwise
        assert wa[k].dtype == wb[k].dtype and np.array_equal(wa[k], wb[k]), k


def test_amp_off_saves_no_scaler_and_float32_is_unchanged(tmp_path, train_copy_task):
    train_copy_task(SMALL + ["--steps", "2", "--out", str(tmp_path)])
    assert "grad_scaler" not in _extra(str(tmp_path / "checkpoint.safetensors"))


@pytest.mark.skipif(not hasattr(mg, "bfloat16"), reason="bfloat16 needs ml_dtypes")
def test_amp_bfloat16_trains_without_loss_scaling(tmp_path, train_copy_task):
    history = train_copy_task(SMALL + ["--amp", "--amp-dtype", "bfloat16", "--steps", "3",
                                       "--out", str(tmp_path)])
    assert len(history) == 3 and all(np.isfinite(history.losses))
    assert "grad_scaler" not in _extra(str(tmp_path / "checkpoint.safetensors"))


def test_skipped_steps_are_reported_and_not_taken_for_divergence():
    """An overflowing float16 step: the GradScaler skips it, the norm is inf, `skipped` says so."""
    amp = mixed_precision.MixedPrecision(True, "float16", "cpu")
    w = mg.nn.Parameter(mg.ones(3))
    opt = mg.optim.SGD([w], lr=0.1)
    with amp.autocast():
        loss = (w.half() * 2).sum()       # the scaled gradient, 2 * 65536, overflows float16
    amp.backward(loss)
    norm, skipped = amp.step(opt, [w], 1.0)
    assert skipped and not np.isfinite(norm)
    assert (w.numpy() == 1).all() and amp.scaler.get_scale() == 2.0 ** 15

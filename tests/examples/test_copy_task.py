"""examples/copy_task.py end to end: it learns, writes its files, resumes, and
turns bad input into one-line errors."""
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import minigrad as mg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples")         # on sys.path through conftest.py

import copy_task  # noqa: E402
from support import checkpoints, cli, evaluation, plots  # noqa: E402
from support.data import START, data_rng  # noqa: E402


def run_cli(*args, timeout=120):
    """Run the script as a user would; returns (exit status, stdout, stderr)."""
    proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, "copy_task.py"), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    return proc.returncode, proc.stdout, proc.stderr


def run_in_process(capsys, *args):
    """main() through the same error handling as the command line; (status, out, err)."""
    status = cli.run_main(copy_task.main, list(args))
    out, err = capsys.readouterr()
    return status, out, err


def assert_one_line_error(status, err, *words):
    assert status != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert "error:" in lines[0]
    for w in words:
        assert w in lines[0], lines[0]


# ------------------------------------------------------------------ bad input (fast)
def test_unknown_device_is_one_line_error_from_the_command_line(tmp_path):
    status, out, err = run_cli("--device", "tpu", "--out", str(tmp_path / "run"), timeout=60)
    assert_one_line_error(status, err, "unknown device", "'tpu'", "cuda")
    assert not (tmp_path / "run").exists()          # nothing was started


def test_cuda_without_cupy_or_gpu_is_one_line_error(capsys, tmp_path):
    if mg.cuda_is_available():
        pytest.skip("this machine has CuPy and a GPU: --device cuda is valid here")
    status, _, err = run_in_process(capsys, "--device", "cuda", "--out", str(tmp_path))
    assert_one_line_error(status, err, "--device cuda", "CuPy")


@pytest.mark.parametrize("case", ["missing", "folder", "not_safetensors", "not_a_checkpoint"])
def test_unreadable_resume_path_is_one_line_error(capsys, tmp_path, case):
    path = tmp_path / "ckpt.safetensors"
    if case == "folder":
        path = tmp_path
    elif case == "not_safetensors":
        path.write_bytes(b"this is not a checkpoint at all")
    elif case == "not_a_checkpoint":                 # a valid tensor file without run settings
        mg.save({"w": mg.zeros(2)}, str(path))
    status, _, err = run_in_process(capsys, "--resume", str(path), "--out",
                                    str(tmp_path / "run"))
    assert_one_line_error(status, err, "--resume")
    assert {"missing": "no such file", "folder": "is a folder",
            "not_safetensors": "not a safetensors file",
            "not_a_checkpoint": "not a checkpoint"}[case] in err


def test_non_positive_numbers_are_one_line_errors(capsys, tmp_path):
    status, _, err = run_in_process(capsys, "--steps", "0", "--out", str(tmp_path))
    assert_one_line_error(status, err, "--steps", "> 0")
    status, _, err = run_in_process(capsys, "--checkpoint-every", "-1", "--out", str(tmp_path))
    assert_one_line_error(status, err, "--checkpoint-every", ">= 0")


def test_resume_and_overwrite_together_are_one_line_error(capsys, tmp_path):
    status, _, err = run_in_process(capsys, "--resume", str(tmp_path / "c.safetensors"),
                                    "--overwrite", "--out", str(tmp_path))
    assert_one_line_error(status, err, "--resume", "--overwrite")


# ------------------------------------------------------------------ pieces (fast)
def test_sequences_follow_the_annotated_transformer():
    ids = copy_task.random_sequences(np.random.default_rng(0), 500)
    assert ids.shape == (500, copy_task.LENGTH) == (500, 10)
    assert (ids[:, 0] == START).all()
    assert ids[:, 1:].min() == 1 and ids[:, 1:].max() == copy_task.VOCAB - 1 == 10


def test_training_batches_do_not_depend_on_where_a_run_started():
    a = copy_task.random_sequences(data_rng(0, stream=0, index=7), 4)
    b = copy_task.random_sequences(data_rng(0, stream=0, index=7), 4)
    c = copy_task.random_sequences(data_rng(0, stream=1), 4)      # evaluation stream
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_exact_match_counts_a_prediction_that_runs_on_as_wrong():
    target = np.array([[5, 6, 2, 0], [5, 6, 2, 0]])
    predicted = np.array([[5, 6, 2], [5, 6, 7]])          # the second never ends
    exact, token = evaluation.sequence_accuracy(predicted, target)
    assert exact == 0.5 and token == 5 / 6


def test_label_smoothing_floor_is_the_lowest_loss_cross_entropy_gives():
    v, eps = copy_task.VOCAB, 0.1
    target = np.full(v, eps / v)
    target[3] += 1 - eps
    best = mg.tensor(np.log(target)[None].astype(np.float32))        # predicts the target
    loss = mg.cross_entropy(best, mg.tensor([3]), label_smoothing=eps).item()
    assert math.isclose(loss, plots.label_smoothing_floor(v, eps), rel_tol=1e-5)
    worse = mg.tensor(np.log(np.roll(target, 1))[None].astype(np.float32))
    assert mg.cross_entropy(worse, mg.tensor([3]), label_smoothing=eps).item() > loss


def test_cross_attention_rows_are_distributions_over_the_source():
    mg.manual_seed(0)
    model = copy_task.build_model(copy_task.DEFAULTS)
    src = copy_task.random_sequences(np.random.default_rng(1), 1)[0]
    weights = evaluation.cross_attention(model, src, src)
    assert weights.shape == (copy_task.DEFAULTS["nhead"], copy_task.LENGTH - 1, copy_task.LENGTH)
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-5)
    assert model.training                                  # the mode is restored
    # the last decoder layer's by default, and another layer's when asked: they differ
    first = evaluation.cross_attention(model, src, src, layer=0)
    assert first.shape == weights.shape and not np.allclose(first, weights)


def test_periodic_checkpoint_saves_every_n_steps_and_a_finished_run_trains_no_more(
        capsys, monkeypatch, tmp_path, train_copy_task):
    saved = []                                  # the step of every checkpoint written
    save = checkpoints.save_checkpoint
    monkeypatch.setattr(checkpoints, "save_checkpoint",
                        lambda path, *a, **kw: saved.append(len(a[-2])) or save(path, *a, **kw))
    small = ["--d-model", "16", "--d-ff", "32", "--batch-size", "4", "--no-progress",
             "--out", str(tmp_path)]
    history = train_copy_task(small + ["--steps", "5", "--checkpoint-every", "2"])
    checkpoint = os.path.join(str(tmp_path), "checkpoint.safetensors")
    assert len(history) == 5 and saved == [2, 4, 5]          # every 2 steps, and at the end
    assert json.loads(mg.io.load_metadata(checkpoint)["step"]) == 5

    capsys.readouterr()
    history = train_copy_task(small + ["--steps", "2", "--resume", checkpoint])
    assert "nothing to train" in capsys.readouterr().out and len(history) == 5


# ------------------------------------------------------------------ end to end (slow)
def noam(step, d_model, warmup, factor):
    """The rate of the step-th optimizer step (NoamLR: step 1 uses lr_at(max(0, 1)))."""
    s = max(step - 1, 1)
    return factor * d_model ** -0.5 * min(s ** -0.5, s * warmup ** -1.5)


@pytest.mark.slow
def test_reduced_copy_task_learns_writes_its_files_and_resumes(tmp_path):
    # Through the command line, as a user runs it: the script then also picks its
    # BLAS thread count before NumPy loads (in this process NumPy is already loaded).
    out = tmp_path / "run"
    first, total = 150, 250
    status, log, err = run_cli("--steps", str(first), "--out", str(out), "--no-progress")
    assert status == 0, err
    assert f"step {first}/{first} | loss" in log and "grad norm" in log and "tok/s" in log
    ckpt = out / "checkpoint.safetensors"
    first_losses = checkpoints.History.from_json(
        json.loads(mg.io.load_metadata(str(ckpt))["extra"])["history"]).losses
    assert len(first_losses) == first

    status, log, err = run_cli("--resume", str(ckpt), "--steps", str(total), "--out", str(out),
                               "--no-progress", "--log-every", "50")
    assert status == 0, err
    assert f"resumed from {ckpt} at step {first}" in log
    assert f"step {first + 50}/{total}" in log and f"step {total}/{total}" in log
    assert f"step {first}/{total}" not in log              # nothing trained twice

    results = json.loads((out / "results.json").read_text())
    assert results["steps"] == total and results["trained_steps_this_run"] == total - first
    assert results["exact_match"] >= 0.95, results          # measured: 1.0
    assert results["token_accuracy"] >= 0.99, results

    # the checkpoint carries on the step count and the loss curve
    meta = mg.io.load_metadata(str(ckpt))
    assert json.loads(meta["step"]) == total
    history = checkpoints.History.from_json(json.loads(meta["extra"])["history"])
    assert len(history) == total and history.resumed_at == [first]
    assert history.losses[:first] == first_losses
    assert np.mean(history.losses[-20:]) < 0.6 < np.mean(history.losses[:20])
    cfg = copy_task.DEFAULTS                               # the schedule went on, not restarted
    expected = [noam(s, cfg["d_model"], cfg["warmup"], cfg["lr_factor"]) for s in
                range(1, total + 1)]
    assert all(math.isclose(a, b, rel_tol=1e-9) for a, b in zip(history.lrs, expected))

    # every file named in the issue, with the right contents
    for name in ("loss.png", "cross_attention.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    for block in ("attention", "ffn"):
        svg, dot = out / f"{block}.svg", out / f"{block}.dot"
        if svg.exists():
            assert "<svg" in svg.read_text()
        else:                                   # no Graphviz `dot`: DOT text and a note
            assert dot.read_text().startswith("digraph") and "dot" in log
    assert "exact match" in log and "source:" in log and "output:" in log

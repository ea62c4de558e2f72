"""What a training example checks before it trains, and what a failed start leaves behind
(a user's report): the run folder must be writable, a failed run leaves no empty folder,
--seed and float flags are checked, a checkpoint of another example is named as such,
flags that a resumed run ignores are named, and every script has --help."""
import importlib.util
import os
import subprocess

import pytest

import minigrad as mg
from minigrad.training import RunFolderError, check_run_folder

import copy_task  # noqa: E402
import dates  # noqa: E402
import shakespeare  # noqa: E402
from support import checkpoints, cli  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INSIGHTS = os.path.join(ROOT, "examples", "insights")
SMALL = ["--d-model", "16", "--nhead", "2", "--layers", "1", "--d-ff", "16", "--batch-size",
         "4", "--no-progress", "--checkpoint-every", "0"]


def run(capsys, script, *args):
    """script.main through the command line's error handling: (status, stdout, stderr)."""
    status = cli.run_main(script.main, [str(a) for a in args])
    out, err = capsys.readouterr()
    return status, out, err


def one_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def copy_checkpoint(tmp_path, train_copy_task):
    """A 2-step copy-task checkpoint (d_model 16, 2 heads)."""
    out = tmp_path / "copy"
    train_copy_task(["--steps", "2", "--out", str(out), *SMALL])
    return out / "checkpoint.safetensors"


@pytest.fixture
def unwritable(tmp_path):
    """An existing folder nobody may create files in: read-only for a normal user,
    immutable (chattr +i) for root, which permissions do not stop."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    if os.geteuid() == 0:
        made = subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode == 0
        undo = ["chattr", "-i", str(folder)]
    else:
        folder.chmod(0o555)
        made, undo = True, None
    try:
        (folder / "probe").touch()
        os.remove(folder / "probe")
        made = False
    except OSError:
        pass
    if not made:
        pytest.skip("cannot make a folder unwritable here (root without chattr)")
    yield folder
    if undo:
        subprocess.run(undo, check=True)
    else:
        folder.chmod(0o755)


# ------------------------------------------------------------------ a writable run folder
def test_an_unwritable_run_folder_stops_the_run_before_training(capsys, unwritable):
    status, out, err = run(capsys, copy_task, "--out", unwritable, "--steps", "3", *SMALL)
    line = one_line(err)
    assert status == 1 and "--out" in line and str(unwritable) in line
    assert "not writable" in line and ("not permitted" in line or "denied" in line)
    assert "step " not in out and not os.listdir(unwritable)          # nothing was trained


def test_check_run_folder_creates_the_folder_and_checks_that_it_is_writable(tmp_path,
                                                                            unwritable):
    folder = tmp_path / "runs" / "mine"
    path = check_run_folder(folder)                   # the README's snippet
    assert folder.is_dir() and path == os.path.join(str(folder), "checkpoint.safetensors")
    mg.io.save_checkpoint(path, step=1)               # the first save works
    assert os.listdir(folder) == ["checkpoint.safetensors"]       # no probe file left
    with pytest.raises(RunFolderError, match="not writable") as e:
        check_run_folder(unwritable)
    assert str(unwritable) in str(e.value)
    assert check_run_folder(tmp_path / "only", create=False) and not (tmp_path / "only").exists()


# ------------------------------------------------------------------ no empty folders
@pytest.mark.parametrize("flags", [["--nhead", "5"], ["--seed", "-1"]], ids=["nhead", "seed"])
def test_a_run_that_fails_at_the_start_leaves_no_empty_folder(capsys, tmp_path, flags):
    out = tmp_path / "runs" / "new"
    status, _, err = run(capsys, copy_task, "--out", out, "--steps", "2", "--d-model", "16",
                         "--no-progress", *flags)
    assert status == 1 and one_line(err)
    assert not (tmp_path / "runs").exists()
    existing = tmp_path / "mine"                      # a folder the user made is kept
    existing.mkdir()
    assert run(capsys, copy_task, "--out", existing, "--steps", "2", "--d-model", "16",
               *flags)[0] == 1
    assert existing.is_dir()


def test_a_checkpoint_that_does_not_fit_is_one_short_line_and_leaves_no_folder(
        capsys, tmp_path, copy_checkpoint):
    # a copy-task checkpoint written before checkpoints named their script: only loading
    # its weights into the dates model shows that it is not one of dates.py's
    extra = checkpoints.read_checkpoint_extra(str(copy_checkpoint))
    config = extra["config"]
    model, optimizer, scheduler, _, history = checkpoints.make_training(
        config, copy_task.build_model, "cpu")
    old = tmp_path / "old.safetensors"
    checkpoints.save_checkpoint(str(old), model, optimizer, scheduler, history, config)
    out = tmp_path / "runs" / "dates"
    status, _, err = run(capsys, dates, "--resume", old, "--out", out, "--no-progress")
    line = one_line(err)
    assert status == 1 and f"--resume {old}" in line and len(line) < 700, line
    assert "problems in all" in line
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------------ --seed, float flags
@pytest.mark.parametrize("script, flags", [
    (copy_task, []), (dates, []), (shakespeare, []),
    (shakespeare, ["--generate", "none.safetensors"])], ids=["copy", "dates", "gpt", "generate"])
def test_a_negative_seed_is_one_line_error(capsys, tmp_path, script, flags):
    status, _, err = run(capsys, script, "--seed", "-1", "--out", tmp_path / "run", *flags)
    assert status == 1 and "--seed must be an integer >= 0, got -1" in one_line(err)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("script, flag", [(copy_task, "--lr-factor"), (dates, "--lr-factor"),
                                          (copy_task, "--label-smoothing"),
                                          (shakespeare, "--lr"), (shakespeare, "--minutes")])
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_non_finite_float_flags_are_one_line_errors(capsys, tmp_path, script, flag, value):
    status, _, err = run(capsys, script, flag, value, "--out", tmp_path / "run")
    assert status == 1 and f"{flag} must be a finite number, got {value}" in one_line(err)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("flags, message", [
    (["--temperature", "-1"], "--temperature must be >= 0, got -1.0"),
    (["--warmup", "-2"], "--warmup must be >= 0, got -2"),
    (["--sample-length", "-3"], "--sample-length must be >= 0, got -3"),
    (["--dropout", "1.5"], "--dropout must be in [0, 1), got 1.5")],
    ids=["temperature", "warmup", "sample-length", "dropout"])
def test_shakespeare_names_the_wrong_flag_and_its_value(capsys, tmp_path, flags, message):
    status, _, err = run(capsys, shakespeare, *flags, "--out", tmp_path / "run")
    line = one_line(err)
    assert status == 1 and line.endswith(f"error: {message}"), line


# ------------------------------------------------------------------ another example's checkpoint
@pytest.mark.parametrize("script", [dates, shakespeare, "translate"])
def test_a_copy_task_checkpoint_is_named_as_such(capsys, tmp_path, copy_checkpoint, script):
    if script == "translate":
        pytest.importorskip("sentencepiece")
        import translate
        status, _, err = run(capsys, translate, "train", "--resume", copy_checkpoint, "--out",
                             tmp_path / "run")
        name = "translate"
    else:
        status, _, err = run(capsys, script, "--resume", copy_checkpoint, "--out",
                             tmp_path / "run")
        name = script.__name__
    assert status == 1 and one_line(err).endswith(
        f"--resume {copy_checkpoint}: not a checkpoint of examples/{name}.py (it was written "
        "by examples/copy_task.py)")
    assert not (tmp_path / "run").exists()


def test_another_examples_checkpoint_given_to_the_copy_task(capsys, tmp_path):
    gpt = tmp_path / "gpt.safetensors"
    mg.io.save_checkpoint(str(gpt), step=0, extra={"config": {"n_layer": 1, "n_embd": 16},
                                                   "script": "examples/shakespeare.py"})
    status, _, err = run(capsys, copy_task, "--resume", gpt, "--out", tmp_path / "run")
    assert status == 1 and one_line(err).endswith(
        f"--resume {gpt}: not a checkpoint of examples/copy_task.py (it was written by "
        "examples/shakespeare.py)")
    older = tmp_path / "older.safetensors"              # written before scripts were named
    mg.io.save_checkpoint(str(older), step=0, extra={"config": {"n_layer": 1, "n_embd": 16}})
    status, _, err = run(capsys, copy_task, "--resume", older, "--out", tmp_path / "run")
    line = one_line(err)
    assert status == 1 and "not a checkpoint of examples/copy_task.py" in line
    assert "d_model" in line and len(line) < 300
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------ flags a resume ignores
def test_resume_names_the_flags_whose_values_its_checkpoint_replaces(capsys, tmp_path,
                                                                     copy_checkpoint):
    status, out, err = run(capsys, copy_task, "--resume", copy_checkpoint, "--out",
                           copy_checkpoint.parent, "--steps", "3", "--d-model", "128",
                           "--nhead", "8", "--layers", "1", "--seed", "0", "--no-progress",
                           "--checkpoint-every", "0")
    assert status == 0, err
    notes = [line for line in out.splitlines() if line.startswith("note:")]
    assert len(notes) == 1, out
    assert "--d-model 128 (saved: 16)" in notes[0] and "--nhead 8 (saved: 2)" in notes[0]
    assert "--layers" not in notes[0] and "--seed" not in notes[0]    # the same as saved
    assert "checkpoint's saved settings are used" in notes[0]
    # without model flags there is nothing to say
    status, out, _ = run(capsys, copy_task, "--resume", copy_checkpoint, "--out",
                         copy_checkpoint.parent, "--steps", "4", "--no-progress")
    assert status == 0 and "note:" not in out


def test_flags_given_on_the_command_line_are_told_from_defaults():
    args = copy_task.parse_args(["--d-model", "64", "--no-progress", "--lr-factor=0.5"])
    assert args.given == {"d_model", "no_progress", "lr_factor"}     # 64 is the default too
    assert args.d_model == 64 and args.nhead == 4


# ------------------------------------------------------------------ --help
def _insight(name):
    spec = importlib.util.spec_from_file_location(f"help_{name}",
                                                  os.path.join(INSIGHTS, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", sorted(n[:-3] for n in os.listdir(INSIGHTS)
                                        if n.endswith(".py") and not n.startswith("_")))
def test_insight_scripts_answer_help_without_running(capsys, name, monkeypatch):
    monkeypatch.syspath_prepend(INSIGHTS)
    module = _insight(name)
    monkeypatch.setattr(module, "run", lambda *a, **k: pytest.fail("--help ran the experiment"))
    with pytest.raises(SystemExit) as e:
        module.main(["--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and out.startswith("usage:")
    assert module.__doc__.splitlines()[0] in out
    with pytest.raises(SystemExit) as e:
        module.main(["--bogus"])
    assert e.value.code == 2 and "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_max_new_tokens_has_help_with_its_default(capsys):
    with pytest.raises(SystemExit):
        shakespeare.parse_args(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "--max-new-tokens MAX_NEW_TOKENS tokens to write after the prompt (default 500)" in out

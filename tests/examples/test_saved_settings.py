"""Settings read from a checkpoint are checked before a model is built from them
(issue 20: a config with d_model -64 or d_ff 2**40 must not reach the model)."""
import pytest

import copy_task
from support import checkpoints
from support.cli import ExampleError


def _checkpoint_with(tmp_path, train_copy_task, **changes):
    """A real 2-step copy-task checkpoint whose saved settings were then changed."""
    run = tmp_path / "run"
    train_copy_task(["--steps", "2", "--batch-size", "4", "--d-model", "16", "--nhead", "2",
                     "--d-ff", "16", "--layers", "1", "--out", str(run), "--no-progress"])
    path = run / "checkpoint.safetensors"
    extra = checkpoints.read_checkpoint_extra(str(path))
    extra["config"].update(changes)
    return path, extra["config"]


@pytest.mark.parametrize("changes, message", [
    ({"d_model": -64}, "d_model must be"),
    ({"d_ff": 2 ** 40}, "d_ff must be"),
    ({"d_model": 8192, "d_ff": 1 << 20, "layers": 64}, "parameters"),
    ({"nhead": 2.5}, "nhead must be"),
    ({"dropout": float("nan")}, "dropout must be"),
    ({"norm": "middle"}, "norm must be"),
    ({"batch_size": "64"}, "batch_size must be"),
])
def test_bad_saved_settings_are_one_error_before_any_model(tmp_path, train_copy_task,
                                                           changes, message):
    path, saved = _checkpoint_with(tmp_path, train_copy_task, **changes)
    with pytest.raises(ExampleError, match=message) as info:
        checkpoints.check_saved_config(str(path), saved)
    assert str(path) in str(info.value)


def test_good_saved_settings_pass_and_resume_uses_them(tmp_path, train_copy_task):
    path, saved = _checkpoint_with(tmp_path, train_copy_task)
    assert checkpoints.check_saved_config(str(path), saved) is saved
    args = copy_task.parse_args(["--resume", str(path), "--d-model", "32"])
    assert checkpoints.run_config(args, copy_task.DEFAULTS)["d_model"] == 16


@pytest.mark.parametrize("history, message", [
    (None, "no loss history"),
    ({"losses": [1.0, "x"], "lrs": [0.1, 0.1]}, r"losses\[1\] must be a finite number"),
    ({"losses": [1.0, 2.0], "lrs": [0.1]}, "lrs must be a list of 2"),
    ({"losses": [1.0, 2.0], "lrs": [0.1, 0.1], "resumed_at": [7]}, r"resumed_at\[0\] must be"),
])
def test_a_broken_history_is_one_error(tmp_path, train_copy_task, history, message):
    import minigrad as mg
    path, config = _checkpoint_with(tmp_path, train_copy_task)
    model, optimizer, scheduler, _, _ = checkpoints.make_training(config, copy_task.build_model,
                                                                  "cpu")
    extra = {"config": config} if history is None else {"config": config, "history": history}
    mg.io.Checkpoint(model, optimizer, scheduler).save(str(path), step=2, extra=extra)
    with pytest.raises(ExampleError, match=message) as info:
        checkpoints.load_checkpoint(str(path), model, optimizer, scheduler)
    assert str(path) in str(info.value)

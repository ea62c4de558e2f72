"""minigrad.training: the run-folder check, graceful SIGINT/SIGTERM handling and the
divergence monitor, each on its own (tests/examples/test_lost_work.py drives them
end to end through the examples)."""
import math
import os
import signal

import numpy as np
import pytest

import minigrad as mg
from minigrad.errors import MinigradError
from minigrad.training import (DivergenceError, DivergenceMonitor, RunFolderError,
                               check_run_folder, graceful_interrupt)


# ------------------------------------------------------------------ check_run_folder
def test_a_new_or_empty_folder_is_free(tmp_path):
    assert check_run_folder(tmp_path / "other", create=False) == \
        os.path.join(str(tmp_path / "other"), "checkpoint.safetensors")
    assert not (tmp_path / "other").exists()             # create=False: only checks
    assert check_run_folder(tmp_path / "new") == os.path.join(str(tmp_path / "new"),
                                                              "checkpoint.safetensors")
    assert (tmp_path / "new").is_dir()                   # made, so the first save works
    assert list((tmp_path / "new").iterdir()) == []      # (its write probe is gone)
    assert check_run_folder(tmp_path) == str(tmp_path / "checkpoint.safetensors")


def test_a_folder_with_a_checkpoint_is_refused_unless_resumed_or_overwritten(tmp_path):
    ckpt = tmp_path / "checkpoint.safetensors"
    mg.io.save_checkpoint(str(ckpt), step=120)
    with pytest.raises(RunFolderError) as e:
        check_run_folder(tmp_path)
    message = str(e.value)
    assert isinstance(e.value, MinigradError) and "\n" not in message
    assert str(tmp_path) in message and "(step 120)" in message
    assert "resume" in message and "overwrite" in message
    with pytest.raises(RunFolderError, match="use --resume or --fresh"):
        check_run_folder(tmp_path, choices="use --resume or --fresh")
    assert check_run_folder(tmp_path, resume=str(ckpt)) == str(ckpt)
    # the same file through another path is the same checkpoint
    assert check_run_folder(tmp_path, resume=os.path.join(str(tmp_path), ".", ckpt.name))
    assert check_run_folder(tmp_path, overwrite=True) == str(ckpt)
    other = tmp_path / "other.safetensors"
    mg.io.save_checkpoint(str(other), step=3)
    with pytest.raises(RunFolderError):                   # resuming a different checkpoint
        check_run_folder(tmp_path, resume=str(other))


def test_an_unreadable_checkpoint_is_still_protected(tmp_path):
    (tmp_path / "checkpoint.safetensors").write_bytes(b"half a file")
    with pytest.raises(RunFolderError, match="already holds a checkpoint that"):
        check_run_folder(tmp_path)


# ------------------------------------------------------------------ graceful_interrupt
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_the_first_signal_sets_a_flag_and_the_second_stops(sig):
    before = signal.getsignal(sig)
    with graceful_interrupt() as interrupt:
        assert not interrupt.requested and interrupt.exit_code == 0
        os.kill(os.getpid(), sig)
        assert interrupt.requested and interrupt.signal == sig
        assert interrupt.exit_code == 128 + sig and interrupt.signal_name == sig.name
        with pytest.raises(KeyboardInterrupt if sig == signal.SIGINT else SystemExit):
            os.kill(os.getpid(), sig)
    assert signal.getsignal(sig) is before                # the old handler is back


def test_handlers_are_restored_when_the_block_raises():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(ValueError), graceful_interrupt():
        raise ValueError("boom")
    assert signal.getsignal(signal.SIGTERM) is before


# ------------------------------------------------------------------ DivergenceMonitor
def feed(monitor, losses, grads=None):
    """Check every step; returns the DivergenceError raised, or None."""
    grads = [1.0] * len(losses) if grads is None else grads
    try:
        for step, (loss, grad) in enumerate(zip(losses, grads), 1):
            monitor.check(step, loss, grad)
    except DivergenceError as e:
        return e
    return None


def converging(steps, start=2.9, floor=0.5, seed=0, noise=0.05):
    """A healthy loss curve: exponential decay to a floor, with noise and a few spikes."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)
    loss = floor + (start - floor) * np.exp(-t / 60) + noise * rng.standard_normal(steps)
    loss[rng.integers(steps // 2, steps, 5)] *= 2.0          # single-step spikes
    return np.abs(loss)


@pytest.mark.parametrize("seed", range(5))
def test_healthy_training_is_never_stopped(seed):
    rng = np.random.default_rng(seed)
    grads = np.exp(rng.normal(-1, 1.0, 600))              # grad norms over two decades
    monitor = DivergenceMonitor(chance_loss=math.log(10))
    assert feed(monitor, converging(600, seed=seed), grads) is None


def test_slow_learning_at_a_small_learning_rate_is_not_divergence():
    steps = np.arange(1000)
    slow = 2.4 - 0.4 * steps / 1000                       # well above chance, but improving
    assert feed(DivergenceMonitor(chance_loss=math.log(10)), slow) is None


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_non_finite_loss_or_gradient_norm_stops_at_once(bad):
    e = feed(DivergenceMonitor(), [2.0, 1.9, bad])
    assert e.step == 3 and "loss is not finite" in str(e)
    e = feed(DivergenceMonitor(), [2.0, 1.9, 1.8], [1.0, 1.0, bad])
    assert e.step == 3 and "gradient norm is not finite" in str(e)


def test_a_loss_that_climbs_far_above_its_best_stops_with_step_loss_and_hint():
    losses = list(converging(50, noise=0.0)) + [40.0] * 30
    e = feed(DivergenceMonitor(hint="try a smaller --lr"), losses)
    assert e is not None and 50 < e.step <= 70 and e.loss == 40.0
    message = str(e)
    assert message.startswith(f"training diverged at step {e.step} (loss 40")
    assert "far above its best" in message and message.endswith("try a smaller --lr")


def test_an_exploding_gradient_norm_stops():
    grads = [1.0] * 50 + [1e6] * 30
    e = feed(DivergenceMonitor(), [2.0] * 80, grads)
    assert e is not None and 50 < e.step <= 70 and "gradient norm" in e.reason


def test_a_loss_stuck_at_chance_stops_only_when_chance_is_known():
    rng = np.random.default_rng(0)
    stuck = list(converging(20, start=2.6, floor=2.25)) + \
        list(2.33 + 0.03 * rng.standard_normal(300))
    e = feed(DivergenceMonitor(chance_loss=math.log(10)), stuck)
    assert e is not None and e.step < 200 and "chance level" in str(e)
    assert feed(DivergenceMonitor(), stuck) is None


@pytest.mark.parametrize("kwargs", [dict(loss_ratio=1.0), dict(grad_ratio="big"),
                                    dict(patience=0), dict(smoothing=2.5),
                                    dict(chance_loss=float("nan")), dict(chance_loss=-1.0)])
def test_bad_settings_are_clear_errors(kwargs):
    with pytest.raises(ValueError, match="DivergenceMonitor"):
        DivergenceMonitor(**kwargs)

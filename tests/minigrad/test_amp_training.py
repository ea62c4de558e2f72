"""Mixed precision end to end on the CPU (NumPy float16): autocast + GradScaler train the
Annotated Transformer's copy task to 100% exact match, and a checkpoint that holds the
scaler's state resumes exactly (the same losses as a run without the interruption)."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.amp import GradScaler
from minigrad.io import load_checkpoint, save_checkpoint
from minigrad.models import Seq2SeqTransformer

V, L, START = 11, 10, 1


def _copy_batch(rng, n):
    """Random sequences of tokens 1..10 that begin with the start symbol; source = target."""
    x = rng.integers(1, V, (n, L))
    x[:, 0] = START
    return x


def _setup(dropout=0.0, **scaler_settings):
    mg.manual_seed(0)
    model = Seq2SeqTransformer(V, V, d_model=64, nhead=4, num_encoder_layers=1,
                               num_decoder_layers=1, dim_feedforward=128, dropout=dropout)
    opt = mg.optim.Adam(model.parameters(), lr=1e-2, betas=(0.9, 0.98), eps=1e-9)
    schedule = mg.optim.LambdaLR(opt, lambda step: min((step + 1) / 30, (30 / (step + 1)) ** 0.5))
    return model, opt, schedule, GradScaler("cpu", **scaler_settings)


def _train_step(model, opt, schedule, scaler, x):
    with mg.autocast("cpu", dtype=mg.float16):
        logits = model(x, x[:, :-1])                 # teacher forcing: predict x[:, 1:]
        loss = mg.cross_entropy(logits.reshape(-1, V), mg.tensor(x[:, 1:].reshape(-1)))
    assert logits.dtype == np.float16 and loss.dtype == np.float32
    opt.zero_grad()
    scaler.scale(loss).backward()
    scaler.unscale_(opt)
    mg.optim.clip_grad_norm_(model.parameters(), 1.0)
    scaler.step(opt)
    scaler.update()
    schedule.step()
    return loss.item()


@pytest.mark.slow
def test_autocast_and_grad_scaler_learn_the_copy_task():
    model, opt, schedule, scaler = _setup(growth_interval=50)
    rng = np.random.default_rng(0)
    recent, scales = [], set()
    for step in range(400):
        recent = (recent + [_train_step(model, opt, schedule, scaler, _copy_batch(rng, 256))])[-10:]
        scales.add(scaler.get_scale())
        if len(recent) == 10 and max(recent) < 0.002:     # learned: stop early
            break
    assert all(p.dtype == np.float32 for p in model.parameters())    # master weights
    fresh = _copy_batch(np.random.default_rng(12345), 200)
    with mg.autocast("cpu", dtype=mg.float16):
        out = model.greedy_decode(fresh, max_len=L, start_symbol=START)
    exact = (out == fresh).all(axis=1).mean()
    assert exact == 1.0, f"exact match {exact:.3f} after {step + 1} steps (loss {recent[-1]:.4f})"
    assert len(scales) > 1               # the scale moved: the loop ran the dynamic scaling


def test_checkpoint_with_scaler_state_resumes_exactly(tmp_path):
    # a large first scale and a short growth interval: the run skips steps and changes
    # the scale, so a resumed run that lost the scaler's state would diverge
    settings = dict(init_scale=2.0 ** 24, growth_interval=2)
    batches = [_copy_batch(np.random.default_rng(i), 32) for i in range(8)]

    model, opt, schedule, scaler = _setup(dropout=0.1, **settings)
    straight = [_train_step(model, opt, schedule, scaler, x) for x in batches]
    straight_scales = scaler.state_dict()

    model, opt, schedule, scaler = _setup(dropout=0.1, **settings)
    first = [_train_step(model, opt, schedule, scaler, x) for x in batches[:4]]
    path = tmp_path / "amp.safetensors"
    save_checkpoint(path, model, opt, schedule, step=4, extra={"scaler": scaler.state_dict()})
    mg.manual_seed(99)                        # the process goes on doing other things

    model, opt, schedule, scaler = _setup(dropout=0.1)        # a fresh process's objects
    info = load_checkpoint(path, model, opt, schedule)
    scaler.load_state_dict(info["extra"]["scaler"])
    resumed = first + [_train_step(model, opt, schedule, scaler, x) for x in batches[4:]]
    assert resumed == straight
    assert scaler.state_dict() == straight_scales
    assert straight_scales["scale"] != 2.0 ** 24          # the scale did move

"""safetensors files and checkpoints: round trips, PyTorch interchange, bad input, atomic saves."""
import json
import os
import pickle
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
import minigrad.optim as optim
from minigrad.io import Checkpoint, CheckpointError, load_metadata, load_model
from testutil import require_torch


class MLP(nn.Module):
    def __init__(self, d_in=4, d_hidden=16, classes=3, p=0.2):
        super().__init__()
        self.fc1 = nn.Linear(d_in, d_hidden)
        self.drop = nn.Dropout(p)
        self.fc2 = nn.Linear(d_hidden, classes)

    def forward(self, x):
        return self.fc2(self.drop(self.fc1(x).relu()))


def _torch_mlp(torch):
    return torch.nn.ModuleDict({"fc1": torch.nn.Linear(4, 16), "fc2": torch.nn.Linear(16, 3)})


# ------------------------------------------------------------------ plain files
def test_save_load_round_trip_keeps_dtypes_shapes_and_metadata(tmp_path):
    path = tmp_path / "t.safetensors"
    tensors = {"f32": mg.randn(3, 4), "f64": mg.randn(2, dtype=mg.float64),
               "f16": mg.randn(5).astype(mg.float16), "i64": mg.arange(6).reshape(2, 3),
               "mask": mg.tensor([True, False]), "scalar": mg.tensor(2.5),
               "view": mg.randn(4, 5).transpose(0, 1)}              # not contiguous
    mg.save(tensors, path, metadata={"note": "hello"})
    back = mg.load(path)
    assert set(back) == set(tensors)
    for k, v in tensors.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape, k
        np.testing.assert_array_equal(back[k].numpy(), v.numpy())
        assert isinstance(back[k], mg.Tensor) and not back[k].requires_grad
    back["f32"].data[0, 0] = 1.0                                     # loaded arrays are writable
    assert load_metadata(path) == {"note": "hello"}
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]  # no temp file left


def test_save_a_module_directly_and_reject_bad_metadata(tmp_path):
    model = MLP()
    mg.save(model, tmp_path / "m.safetensors")
    assert set(mg.load(tmp_path / "m.safetensors")) == set(model.state_dict())
    with pytest.raises(CheckpointError, match="metadata must map strings to strings"):
        mg.save({"a": mg.zeros(1)}, tmp_path / "x.safetensors", metadata={"step": 3})


@pytest.mark.torch
def test_minigrad_file_loads_into_torch(tmp_path):
    torch = require_torch()
    from safetensors.torch import load_file
    model = MLP().eval()
    mg.save(model.state_dict(), tmp_path / "m.safetensors")
    ref = _torch_mlp(torch)
    ref.load_state_dict(load_file(str(tmp_path / "m.safetensors")))
    x = mg.randn(5, 4)
    with torch.no_grad():
        yt = ref["fc2"](torch.relu(ref["fc1"](torch.tensor(x.numpy()))))
    np.testing.assert_allclose(model(x).numpy(), yt.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.torch
def test_checkpoint_model_part_loads_into_torch(tmp_path):
    torch = require_torch()
    from safetensors.torch import load_file
    model = MLP()
    opt = optim.Adam(model.parameters())
    Checkpoint(model, opt).save(tmp_path / "c.safetensors", step=3)
    state = load_file(str(tmp_path / "c.safetensors"))
    ref = _torch_mlp(torch)
    ref.load_state_dict({k[len("model."):]: v for k, v in state.items() if k.startswith("model.")})
    np.testing.assert_array_equal(ref["fc1"].weight.detach().numpy(), model.fc1.weight.numpy())


@pytest.mark.torch
def test_torch_file_loads_into_minigrad(tmp_path):
    torch = require_torch()
    from safetensors.torch import save_file
    ref = _torch_mlp(torch)
    save_file(ref.state_dict(), str(tmp_path / "t.safetensors"))
    model = MLP().eval()
    assert load_model(model, tmp_path / "t.safetensors") == ([], [])
    x = mg.randn(5, 4)
    with torch.no_grad():
        yt = ref["fc2"](torch.relu(ref["fc1"](torch.tensor(x.numpy()))))
    np.testing.assert_allclose(model(x).numpy(), yt.numpy(), rtol=1e-6, atol=1e-6)
    other = MLP()
    other.load_state_dict(mg.load(tmp_path / "t.safetensors"))     # the plain route works too
    np.testing.assert_array_equal(other.fc2.bias.numpy(), ref["fc2"].bias.detach().numpy())


# ------------------------------------------------------------------ checkpoints
def _train(model, opt, sched, data, steps):
    x, y = data
    losses = []
    for _ in range(steps):
        loss = mg.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        optim.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
    return losses


def _setup():
    model = MLP()
    opt = optim.AdamW([{"params": [model.fc1.weight, model.fc1.bias], "lr": 1.0},
                       {"params": model.fc2.parameters(), "weight_decay": 0.0}],
                      betas=(0.9, 0.98), eps=1e-9, amsgrad=True)
    sched = optim.NoamLR(opt, d_model=16, warmup_steps=4)
    return model, opt, sched


def test_checkpoint_resume_continues_with_identical_losses(tmp_path):
    path = tmp_path / "run.safetensors"
    data = (mg.randn(32, 4), mg.randint(0, 3, (32,)))
    model, opt, sched = _setup()
    _train(model, opt, sched, data, 5)
    Checkpoint(model, opt, sched).save(path, step=5, extra={"config": {"d": 16}})
    expected = _train(model, opt, sched, data, 5)         # dropout draws from the generator

    mg.manual_seed(123)                                   # a different start and RNG position
    model2, opt2, sched2 = _setup()
    info = Checkpoint(model2, opt2, sched2).load(path)
    assert info["step"] == 5 and info["extra"] == {"config": {"d": 16}}
    assert opt2.param_groups[1]["weight_decay"] == 0.0 and opt2.param_groups[0]["betas"] == (0.9, 0.98)
    resumed = _train(model2, opt2, sched2, data, 5)
    assert resumed == expected
    for (n, p), (_, q) in zip(model.named_parameters(), model2.named_parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=n)
    assert sched2.get_last_lr() == sched.get_last_lr()


def test_checkpoint_load_reports_all_problems_and_changes_nothing(tmp_path):
    path = tmp_path / "run.safetensors"
    model, opt, sched = _setup()
    _train(model, opt, sched, (mg.randn(8, 4), mg.randint(0, 3, (8,))), 1)
    Checkpoint(model, opt, sched).save(path, step=1)
    bigger = MLP(d_hidden=8)                              # fc1 and fc2 change shape
    opt_b = optim.AdamW(bigger.parameters())
    before = [p.numpy().copy() for p in bigger.parameters()]
    with pytest.raises(CheckpointError) as e:
        Checkpoint(bigger, opt_b, optim.LambdaLR(opt_b, lambda s: 1.0)).load(path)
    msg = str(e.value)
    assert "model: shape mismatch for fc1.weight: checkpoint (16, 4), model (8, 4)" in msg
    assert "optimizer: AdamW.load_state_dict: checkpoint has 2 parameter groups" in msg
    assert "scheduler: checkpoint holds NoamLR state, got a LambdaLR" in msg
    for a, p in zip(before, bigger.parameters()):
        np.testing.assert_array_equal(a, p.numpy())
    with pytest.raises(CheckpointError, match="not a minigrad checkpoint"):
        Checkpoint(model).load(_plain_file(tmp_path))


def test_flatten_round_trips_nested_state():
    from minigrad.io import flatten, unflatten
    state = {"state": {0: {"step": 3, "m": mg.ones(2)}}, "groups": [{"betas": (0.9, 0.99)}],
             "name": None, "nan": float("inf")}
    tensors = {}
    skeleton = json.loads(json.dumps(flatten(state, "optim", tensors)))
    assert set(tensors) == {"optim.state.0.m"}
    back = unflatten(skeleton, tensors)
    assert back["state"][0]["step"] == 3 and back["groups"][0]["betas"] == (0.9, 0.99)
    assert back["state"][0]["m"] is tensors["optim.state.0.m"] and back["nan"] == float("inf")


# ------------------------------------------------------------------ bad input
def _plain_file(tmp_path):
    path = tmp_path / "plain.safetensors"
    mg.save(MLP().state_dict(), path)
    return path


def test_wrong_shape_missing_and_extra_keys_in_one_error(tmp_path):
    state = dict(MLP().state_dict())
    del state["fc2.bias"]
    state["fc1.weight"] = mg.zeros(16, 5)
    state["fc3.weight"] = mg.zeros(2, 2)
    state["fc1.bias"] = mg.zeros(16, dtype=mg.float64)
    mg.save(state, tmp_path / "bad.safetensors")
    with pytest.raises(CheckpointError) as e:
        load_model(MLP(), tmp_path / "bad.safetensors")
    msg = str(e.value)
    assert "missing keys ['fc2.bias']" in msg and "unexpected keys ['fc3.weight']" in msg
    assert "shape mismatch for fc1.weight: checkpoint (16, 5), model (16, 4)" in msg
    assert "dtype mismatch for fc1.bias: checkpoint float64, model float32" in msg


@pytest.mark.parametrize("keep", [4, 8, 40, -1])
def test_truncated_file(tmp_path, keep):
    good = _plain_file(tmp_path).read_bytes()
    path = tmp_path / "cut.safetensors"
    path.write_bytes(good[:keep] if keep > 0 else good[:-10])
    with pytest.raises(CheckpointError, match="truncated|not a safetensors file"):
        mg.load(path)


@pytest.mark.parametrize("content", [b"", b"hello, this is plain text and not tensors at all",
                                     b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}"],
                         ids=["empty", "text", "bad_json"])
def test_not_safetensors(tmp_path, content):
    path = tmp_path / "x.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        mg.load(path)
    with pytest.raises(CheckpointError):
        mg.load(tmp_path / "missing.safetensors")


class _Exploit:
    """Unpickling this runs code: it writes a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_malicious_pickle_is_refused_and_never_run(tmp_path, protocol):
    marker = tmp_path / "marker"
    path = tmp_path / "evil.safetensors"
    path.write_bytes(pickle.dumps({"w": _Exploit(marker)}, protocol=protocol))
    for loader in (mg.load, lambda p: load_model(MLP(), p), lambda p: Checkpoint(MLP()).load(p)):
        with pytest.raises(CheckpointError, match="not a safetensors file"):
            loader(path)
    assert not marker.exists()


@pytest.mark.torch
def test_torch_save_zip_is_refused(tmp_path):
    torch = require_torch()
    path = tmp_path / "model.pt"
    torch.save({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="never unpickles"):
        mg.load(path)


_BIG_SAVE = """
import sys, numpy as np, minigrad as mg
big = {"w%d" % i: np.full((1024, 1024), i, np.float32) for i in range(64)}   # 256 MiB
print("ready", flush=True)
mg.save(big, sys.argv[1])
print("done", flush=True)
"""


def test_save_killed_midway_leaves_the_earlier_checkpoint_intact(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    mg.save({"w": mg.arange(10)}, path)
    before = path.read_bytes()
    child = subprocess.Popen([sys.executable, "-c", _BIG_SAVE, str(path)], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60
        while not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]:   # the save began
            assert child.poll() is None and time.monotonic() < deadline, "save never started"
            time.sleep(0.001)
        time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL            # killed, not finished
    assert path.read_bytes() == before
    np.testing.assert_array_equal(mg.load(path)["w"].numpy(), np.arange(10))
    for f in os.listdir(tmp_path):                         # the partial write, if any, is aside
        if f.endswith(".tmp"):
            with pytest.raises(CheckpointError):
                mg.load(tmp_path / f)

"""minigrad.save / minigrad.load: nested structures round trip as torch.save/torch.load's do,
through safetensors (never pickle); old flat files still load; broken files are CheckpointErrors."""
import collections
import json
import math
import os

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
from minigrad.io import CheckpointError, load_metadata
from testutil import require_torch


def _model_and_optimizer():
    mg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = mg.optim.AdamW(model.parameters(), lr=1e-2)
    sched = mg.optim.lr_scheduler.StepLR(opt, 2)
    for _ in range(3):
        opt.zero_grad()
        (model(mg.randn(5, 3)) ** 2).mean().backward()
        opt.step(), sched.step()
    return model, opt, sched


def test_training_checkpoint_round_trip_resumes_exactly(tmp_path):
    model, opt, sched = _model_and_optimizer()
    path = tmp_path / "ckpt.safetensors"
    mg.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
             "scheduler": sched.state_dict(), "step": 10, "losses": [0.5, 0.25],
             "config": {"d": 4, "name": "mlp", "tied": None, "flags": (True, False)}}, path)
    ckpt = mg.load(path)
    assert ckpt["step"] == 10 and ckpt["losses"] == [0.5, 0.25]
    assert ckpt["config"] == {"d": 4, "name": "mlp", "tied": None, "flags": (True, False)}
    model2 = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt2 = mg.optim.AdamW(model2.parameters(), lr=1e-2)
    sched2 = mg.optim.lr_scheduler.StepLR(opt2, 2)
    model2.load_state_dict(ckpt["model"])
    opt2.load_state_dict(ckpt["optimizer"])
    sched2.load_state_dict(ckpt["scheduler"])
    x = mg.randn(5, 3)
    for m, o, s in ((model, opt, sched), (model2, opt2, sched2)):
        o.zero_grad()
        (m(x) ** 2).mean().backward()
        o.step(), s.step()
    for (k, a), b in zip(model.state_dict().items(), model2.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
    assert sched2.get_last_lr() == sched.get_last_lr()


def test_types_keys_sharing_and_requires_grad_come_back(tmp_path):
    w = mg.randn(2, 2, requires_grad=True)
    obj = collections.OrderedDict([("a", [w, w, mg.arange(3)]), ((1, "x"), "tuple key"),
                                   (3, "int key"), (2.5, None), ("nan", math.nan),
                                   ("nested", {"deep": [{"t": mg.zeros(0)}, ()]})])
    mg.save(obj, tmp_path / "o.safetensors")
    back = mg.load(tmp_path / "o.safetensors")
    assert isinstance(back, collections.OrderedDict) and list(back) == list(obj)
    assert back["a"][0] is back["a"][1] and back["a"][0].requires_grad
    assert not back["a"][2].requires_grad and back["a"][2].dtype == mg.int64
    assert back[(1, "x")] == "tuple key" and back[3] == "int key" and back[2.5] is None
    assert math.isnan(back["nan"]) and back["nested"]["deep"][0]["t"].shape == (0,)
    assert back["nested"]["deep"][1] == ()


def test_state_dict_stays_a_plain_safetensors_file(tmp_path):
    model, _, _ = _model_and_optimizer()
    path = tmp_path / "m.safetensors"
    mg.save(model.state_dict(), path)
    assert load_metadata(path) == {}                     # no structure: the old flat file
    back = mg.load(path)
    assert set(back) == set(model.state_dict())         # (in name order: safetensors sorts)
    mg.io.save(model.state_dict(), tmp_path / "old.safetensors")      # the old writer
    assert set(mg.load(tmp_path / "old.safetensors")) == set(model.state_dict())


@pytest.mark.torch
def test_torch_reads_the_tensors_by_their_dotted_paths(tmp_path):
    require_torch()
    from safetensors.torch import load_file
    model, opt, _ = _model_and_optimizer()
    mg.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, tmp_path / "c.safetensors")
    names = set(load_file(str(tmp_path / "c.safetensors")))
    assert {"model.0.weight", "model.2.bias", "optimizer.state.0.exp_avg"} <= names


@pytest.mark.parametrize("obj,match", [
    ({"f": lambda: 1}, "'f' of type function"),
    ({"s": {1, 2}}, "of type set"),
    ({frozenset(): 1}, "dict key"),
    ([b"bytes"], "of type bytes"),
])
def test_what_cannot_be_stored_is_named(tmp_path, obj, match):
    with pytest.raises(CheckpointError, match=match):
        mg.save(obj, tmp_path / "x.safetensors")
    assert not os.listdir(tmp_path)


def test_broken_structure_metadata_is_a_checkpoint_error(tmp_path):
    path = str(tmp_path / "x.safetensors")
    for skeleton in ['{"D": [["a", {"T": "missing"}]]}', "[1, 2", '{"Q": 1}', '{"D": [[{"L": []}, 1]]}',
                     "[" * 100000 + "]" * 100000]:
        mg.io.save({"t": mg.zeros(1)}, path, {"minigrad.format": "object-1",
                                              "minigrad.object": skeleton})
        with pytest.raises(CheckpointError, match="x.safetensors"):
            mg.load(path)
    mg.io.save({"t": mg.zeros(1)}, path, {"minigrad.format": "object-9", "minigrad.object": "1"})
    with pytest.raises(CheckpointError, match="object-9"):
        mg.load(path)
    with pytest.raises(CheckpointError, match="reserved"):
        mg.save({"a": mg.zeros(1)}, path, metadata={"minigrad.object": "1"})
    with pytest.raises(CheckpointError, match="map_location"):
        mg.load(path, map_location={"cuda:0": "cpu"})
    with open(path, "wb") as f:
        f.write(json.dumps({"pickle": True}).encode())
    with pytest.raises(CheckpointError):
        mg.load(path)


def test_map_location_cpu_and_module_saved_as_its_state_dict(tmp_path):
    model, _, _ = _model_and_optimizer()
    mg.save(model, tmp_path / "m.safetensors")
    back = mg.load(tmp_path / "m.safetensors", map_location="cpu")
    assert set(back) == set(model.state_dict()) and back["0.weight"].device == "cpu"


def test_save_and_load_through_file_objects_as_torch():
    """torch.save(obj, io.BytesIO()) and torch.load of it (a model sent over a socket,
    kept in memory): the same bytes as a file, checked the same way on the way back."""
    import io
    buffer = io.BytesIO()
    model = mg.nn.Linear(3, 2)
    mg.save({"model": model.state_dict(), "step": 7, "names": ["a", "b"]}, buffer)
    buffer.seek(0)
    back = mg.load(buffer)
    assert back["step"] == 7 and back["names"] == ["a", "b"]
    np.testing.assert_array_equal(back["model"]["weight"].numpy(), model.weight.numpy())
    with pytest.raises(CheckpointError, match=r"load: <_io.BytesIO object .* is not a safetensors"):
        mg.load(io.BytesIO(b"\x00" * 7 + b"garbage"))
    with pytest.raises(CheckpointError, match="open the file in binary mode"):
        mg.load(io.StringIO("text"))
    with pytest.raises(CheckpointError, match="expected a file path or a binary file object"):
        mg.save({}, 42)

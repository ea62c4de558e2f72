"""Modules, optimizers and checkpoints on "cuda": the same numbers as on the CPU.

Skipped (with the reason) where CuPy or an NVIDIA GPU is missing.
"""
import numpy as np
import pytest

import minigrad as mg
from minigrad.models import Seq2SeqTransformer
from minigrad.optim import Adam

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not mg.cuda_is_available(), reason="needs CuPy and an NVIDIA GPU")]


def _model(device):
    mg.manual_seed(0)
    model = Seq2SeqTransformer(13, 13, d_model=32, nhead=4, num_encoder_layers=2,
                               num_decoder_layers=2, dim_feedforward=64, dropout=0.0)
    return model.to(device)


def _steps(device, n=3):
    model = _model(device)
    opt = Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    src = mg.tensor(rng.integers(1, 13, (4, 7)), device=device)
    tgt = mg.tensor(rng.integers(1, 13, (4, 6)), device=device)
    losses = []
    for _ in range(n):
        logits = model(src, tgt[:, :-1])
        loss = mg.cross_entropy(logits.reshape(-1, 13), tgt[:, 1:].reshape(-1),
                                label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return model, opt, losses


def test_transformer_training_steps_match_cpu():
    cpu_model, _, cpu_losses = _steps("cpu")
    gpu_model, gpu_opt, gpu_losses = _steps("cuda")
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-4)
    for (name, a), (_, b) in zip(cpu_model.state_dict().items(), gpu_model.state_dict().items()):
        assert b.device == "cuda:0", name
        a, b = a.numpy(), b.numpy()
        if name.endswith("in_proj_bias"):
            # The key bias adds q.b_k to every score of a query, which its softmax
            # ignores: its gradient is 0 up to rounding, and Adam turns that noise into
            # steps of about lr in either direction. So it may differ by 2 lr a step.
            d = len(a) // 3
            np.testing.assert_allclose(b[d:2 * d], a[d:2 * d], atol=2 * 1e-3 * len(gpu_losses),
                                       err_msg=name)
            a, b = np.delete(a, np.s_[d:2 * d]), np.delete(b, np.s_[d:2 * d])
        np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-5, err_msg=name)
    for state in gpu_opt.state.values():
        for value in state.values():
            if hasattr(value, "shape"):                       # optimizer state lives on the GPU
                assert value.device.startswith("cuda") and not isinstance(value.array, np.ndarray)


def test_checkpoint_loads_onto_the_gpu(tmp_path):
    model = _model("cuda")
    path = tmp_path / "model.safetensors"
    mg.save(model.state_dict(), path)
    tensors = mg.load(path, device="cuda")
    assert all(t.device == "cuda:0" for t in tensors.values())
    fresh = _model("cpu").to("cuda")
    fresh.load_state_dict(tensors)
    for (name, a), (_, b) in zip(model.state_dict().items(), fresh.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


def test_greedy_decoding_on_the_gpu_matches_cpu():
    src = np.random.default_rng(1).integers(1, 13, (3, 6))
    out = {}
    for device in ("cpu", "cuda"):
        model = _model(device).eval()
        with mg.no_grad():
            ys = model.greedy_decode(mg.tensor(src, device=device), max_len=8, start_symbol=1)
        out[device] = ys.numpy() if isinstance(ys, mg.Tensor) else np.asarray(ys)
    np.testing.assert_array_equal(out["cuda"], out["cpu"])

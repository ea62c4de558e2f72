"""minigrad's Transformer against torch.nn.Transformer, with the same weights:
forward outputs, every parameter gradient, then 10 Adam steps."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.models import Transformer, from_torch, generate_square_subsequent_mask, to_torch
from minigrad.models.convert import minigrad_name_to_torch
from testutil import require_torch

pytestmark = pytest.mark.torch


@pytest.fixture(autouse=True)
def _torch_single_thread():
    """Tiny models: torch's thread pool only fights the other processes for the cores."""
    torch = require_torch()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

D, H, FF = 48, 3, 64        # d_model not a multiple of 64, 3 heads of 16
S, T, B = 7, 5, 3           # source and target of different lengths


def _pair(torch, norm_first, activation, batch_first, layers=(2, 2)):
    model = Transformer(D, H, layers[0], layers[1], FF, dropout=0.0, activation=activation,
                        batch_first=batch_first, norm_first=norm_first)
    ref = torch.nn.Transformer(D, H, layers[0], layers[1], FF, dropout=0.0, activation=activation,
                               batch_first=batch_first, norm_first=norm_first)
    model.load_state_dict(from_torch(ref.state_dict()))
    return model, ref


def _inputs(batch_first, rng):
    src = rng.standard_normal((B, S, D) if batch_first else (S, B, D)).astype(np.float32)
    tgt = rng.standard_normal((B, T, D) if batch_first else (T, B, D)).astype(np.float32)
    src_pad = np.zeros((B, S), bool)
    src_pad[1, -3:] = True                      # sentence 1 has 3 padded source positions
    tgt_pad = np.zeros((B, T), bool)
    tgt_pad[2, -2:] = True
    return src, tgt, src_pad, tgt_pad


def _loss_weights(rng, shape):
    return rng.standard_normal(shape).astype(np.float32)


def _run(model, ref, torch, batch_first, rng, mask_kind):
    src, tgt, src_pad, tgt_pad = _inputs(batch_first, rng)
    w = _loss_weights(rng, tgt.shape)
    causal = generate_square_subsequent_mask(T, dtype=mg.bool_ if mask_kind == "bool" else None)
    causal_ref = torch.nn.Transformer.generate_square_subsequent_mask(T)
    if mask_kind == "bool":
        causal_ref = causal_ref.isinf()
    out = model(mg.tensor(src), mg.tensor(tgt), tgt_mask=causal, src_key_padding_mask=src_pad,
                tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=src_pad)
    out_ref = ref(torch.tensor(src), torch.tensor(tgt), tgt_mask=causal_ref,
                  src_key_padding_mask=torch.tensor(src_pad),
                  tgt_key_padding_mask=torch.tensor(tgt_pad),
                  memory_key_padding_mask=torch.tensor(src_pad))
    loss = (out * mg.tensor(w)).sum()
    loss_ref = (out_ref * torch.tensor(w)).sum()
    return out, out_ref, loss, loss_ref


def _assert_grads_close(model, ref):
    """Every parameter's gradient within 1e-4 of torch's, relative to its largest entry."""
    ref_params = dict(ref.named_parameters())
    assert len(ref_params) == len(list(model.named_parameters()))
    for name, p in model.named_parameters():
        g_ref = ref_params[minigrad_name_to_torch(name)].grad.numpy()
        assert p.grad is not None, f"no gradient for {name}"
        g = p.grad.numpy()
        scale = max(np.abs(g_ref).max(), 1e-6)
        err = np.abs(g - g_ref).max() / scale
        assert err < 1e-4, f"{name}: gradient differs by {err:.2e} (relative to max |grad|)"


@pytest.mark.parametrize("norm_first,activation,batch_first,mask_kind", [
    (False, "relu", False, "float"),
    (False, "gelu", True, "bool"),
    (True, "relu", True, "float"),
    (True, "gelu", False, "bool"),
])
def test_forward_and_gradients_match_torch(norm_first, activation, batch_first, mask_kind):
    torch = require_torch()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model, ref = _pair(torch, norm_first, activation, batch_first)
    out, out_ref, loss, loss_ref = _run(model, ref, torch, batch_first, rng, mask_kind)
    np.testing.assert_allclose(out.numpy(), out_ref.detach().numpy(), rtol=1e-5, atol=1e-5)
    loss.backward()
    loss_ref.backward()
    _assert_grads_close(model, ref)


@pytest.mark.parametrize("norm_first", [False, True])
def test_ten_adam_steps_match_torch(norm_first):
    torch = require_torch()
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    model, ref = _pair(torch, norm_first, "relu", True)
    opt = mg.optim.Adam(model.parameters(), lr=1e-3)
    opt_ref = torch.optim.Adam(ref.parameters(), lr=1e-3)
    target = rng.standard_normal((B, T, D)).astype(np.float32)
    start = {k: v.numpy().copy() for k, v in ref.state_dict().items()}
    for step in range(10):
        out, out_ref, loss, loss_ref = _run(model, ref, torch, True, rng, "float")
        loss = ((out - mg.tensor(target)) ** 2).mean()          # regression to a fixed target
        loss_ref = ((out_ref - torch.tensor(target)) ** 2).mean()
        assert abs(loss.item() - loss_ref.item()) <= 1e-4 * max(1.0, abs(loss_ref.item())), \
            f"step {step}: loss {loss.item()} vs torch {loss_ref.item()}"
        opt.zero_grad()
        opt_ref.zero_grad()
        loss.backward()
        loss_ref.backward()
        opt.step()
        opt_ref.step()
    # The weights moved alike too: each update within 5% of the largest update of its tensor.
    # (Adam moves a weight by about lr whatever its gradient's size, so where the gradient is
    # near zero, float rounding decides the step; the key bias is the extreme case: softmax
    # ignores a constant added to a row of scores, so its true gradient is 0. It is left out.)
    for name, value in to_torch(model.state_dict()).items():
        moved = ref.state_dict()[name].numpy() - start[name]
        ours = value - start[name]
        if name.endswith("in_proj_bias"):
            moved, ours = np.delete(moved, np.s_[D:2 * D]), np.delete(ours, np.s_[D:2 * D])
        assert np.abs(ours - moved).max() <= 0.05 * np.abs(moved).max(), name


def test_state_dict_round_trip_names_and_shapes():
    torch = require_torch()
    ref = torch.nn.Transformer(D, H, 2, 1, FF, dropout=0.0)
    model = Transformer(D, H, 2, 1, FF, dropout=0.0)
    converted = to_torch(model.state_dict(), tensors=True)
    assert set(converted) == set(ref.state_dict())
    for k, v in converted.items():
        assert tuple(v.shape) == tuple(ref.state_dict()[k].shape), k
    ref.load_state_dict(converted)                       # strict: every name known to torch
    back = from_torch(ref.state_dict())
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(back[k], v.numpy())


def test_unbatched_input_matches_torch():
    torch = require_torch()
    torch.manual_seed(0)
    model, ref = _pair(torch, False, "relu", False, layers=(1, 1))
    rng = np.random.default_rng(2)
    src = rng.standard_normal((S, D)).astype(np.float32)
    tgt = rng.standard_normal((T, D)).astype(np.float32)
    out = model(mg.tensor(src), mg.tensor(tgt), tgt_mask=generate_square_subsequent_mask(T))
    out_ref = ref(torch.tensor(src), torch.tensor(tgt),
                  tgt_mask=torch.nn.Transformer.generate_square_subsequent_mask(T))
    np.testing.assert_allclose(out.numpy(), out_ref.detach().numpy(), rtol=1e-5, atol=1e-5)


def test_generate_square_subsequent_mask_matches_torch():
    torch = require_torch()
    mask = generate_square_subsequent_mask(6)
    np.testing.assert_array_equal(mask.numpy(),
                                  torch.nn.Transformer.generate_square_subsequent_mask(6).numpy())
    assert mask.dtype == np.float32
    np.testing.assert_array_equal(generate_square_subsequent_mask(6, dtype=mg.bool_).numpy(),
                                  np.isinf(mask.numpy()))


def test_bias_false_builds_torchs_model_and_torch_state_dicts_load_as_they_are():
    """bias=False drops every bias (the feed-forward's too), and a torch state dict loads
    without convert.from_torch: the layers rename linear1/linear2 themselves; torch's
    attribute names reach the feed-forward's parts."""
    torch = require_torch()
    for bias in (True, False):
        ref = torch.nn.Transformer(D, H, 1, 1, FF, dropout=0.0, bias=bias, batch_first=True)
        model = Transformer(D, H, 1, 1, FF, dropout=0.0, bias=bias, batch_first=True)
        assert sum(p.numel() for p in model.parameters()) == \
            sum(p.numel() for p in ref.parameters())
        keys = model.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
        assert keys.missing_keys == [] and keys.unexpected_keys == []
        rng = np.random.default_rng(3)
        src, tgt = rng.standard_normal((2, S, D)), rng.standard_normal((2, T, D))
        out = model(mg.tensor(src, dtype=mg.float32), mg.tensor(tgt, dtype=mg.float32))
        expected = ref(torch.tensor(src, dtype=torch.float32), torch.tensor(tgt, dtype=torch.float32))
        np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), atol=2e-5)
    layer = model.encoder.layers[0]
    assert layer.linear1 is layer.feed_forward.linear1 and layer.linear2.bias is None
    assert layer.dropout is layer.feed_forward.dropout


@pytest.mark.parametrize("batch_first, nhead", [(True, 2), (False, 2), (True, 3)])
@pytest.mark.parametrize("grad", [False, True])
def test_encoder_in_evaluation_gives_torchs_zeros_at_padded_positions(batch_first, nhead, grad):
    """torch's TransformerEncoder runs a nested-tensor path in evaluation (batch_first, an
    even head count, a bool padding mask, nothing needing a gradient) whose output is 0 at
    the padded positions before the final norm; minigrad gives the same numbers whether
    torch takes that path or not (and so does nn.Transformer, whose encoder is one)."""
    torch = require_torch()
    rng = np.random.default_rng(0)
    src = rng.standard_normal((3, 5, 6 * nhead)).astype(np.float32)
    tgt = rng.standard_normal((3, 4, 6 * nhead)).astype(np.float32)
    pad = np.zeros((3, 5), bool)
    pad[1, 3:], pad[2, 1:] = True, True
    if not batch_first:
        src, tgt = src.transpose(1, 0, 2), tgt.transpose(1, 0, 2)
    ref = torch.nn.Transformer(6 * nhead, nhead, 2, 1, 32, dropout=0.0,
                               batch_first=batch_first).eval()
    model = Transformer(6 * nhead, nhead, 2, 1, 32, dropout=0.0, batch_first=batch_first).eval()
    model.load_state_dict({k: v.detach().numpy() for k, v in ref.state_dict().items()})
    with torch.set_grad_enabled(grad), mg.set_grad_enabled(grad):
        memory = ref.encoder(torch.tensor(src), src_key_padding_mask=torch.tensor(pad))
        ours = model.encoder(mg.tensor(src), src_key_padding_mask=mg.tensor(pad))
        out = ref(torch.tensor(src), torch.tensor(tgt), src_key_padding_mask=torch.tensor(pad))
        ours_out = model(mg.tensor(src), mg.tensor(tgt), src_key_padding_mask=mg.tensor(pad))
    np.testing.assert_allclose(ours.detach().numpy(), memory.detach().numpy(), atol=2e-5)
    np.testing.assert_allclose(ours_out.detach().numpy(), out.detach().numpy(), atol=2e-5)


def test_assigning_torchs_sublayer_names_replaces_the_feed_forward_parts():
    """A torch-style subclass sets self.dropout / self.activation / self.linear1: those are
    the feed-forward network's parts here, so that is what changes (no second copy)."""
    import minigrad.nn as nn
    layer = nn.TransformerEncoderLayer(8, 2, 16)
    drop, act, lin = nn.Dropout(0.3), nn.GELU(), nn.Linear(8, 16)
    layer.dropout, layer.activation, layer.linear1 = drop, act, lin
    assert layer.feed_forward.dropout is drop and layer.feed_forward.activation is act
    assert layer.feed_forward.linear1 is lin and layer.linear1 is lin
    names = [n for n, _ in layer.named_parameters()]
    assert "feed_forward.linear1.weight" in names and "linear1.weight" not in names

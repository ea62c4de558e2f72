"""MultiheadAttention and PositionalEncoding: bad settings get clear errors, and their
parameters and buffers follow minigrad.set_default_dtype (issue 20)."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.errors import MinigradError, ShapeError


@pytest.mark.parametrize("args, error, words", [
    ((16, 2.0), MinigradError, ["num_heads", "int", "2.0"]),
    ((16.0, 2), MinigradError, ["embed_dim", "int", "16.0"]),
    ((16, True), MinigradError, ["num_heads", "int", "True"]),
    ((16, "2"), MinigradError, ["num_heads", "int", "'2'"]),
    ((16, -2), ShapeError, ["num_heads", "positive", "-2"]),
    ((0, 2), ShapeError, ["embed_dim", "positive", "0"]),
    ((-16, 2), ShapeError, ["embed_dim", "positive", "-16"]),
    ((16, 3), ShapeError, ["num_heads=3", "does not divide", "embed_dim=16"]),
])
def test_bad_heads_and_dims_are_refused(args, error, words):
    with pytest.raises(error) as info:
        nn.MultiheadAttention(*args)
    assert "MultiheadAttention" in str(info.value)
    for w in words:
        assert w in str(info.value)


@pytest.mark.parametrize("dropout", [-0.1, 1.5, float("nan"), "0.1", None])
def test_bad_dropout_is_refused(dropout):
    with pytest.raises(MinigradError, match="MultiheadAttention: dropout must be a probability"):
        nn.MultiheadAttention(16, 2, dropout=dropout)


def test_numpy_ints_are_accepted():
    m = nn.MultiheadAttention(np.int64(16), np.int32(4))
    assert (m.embed_dim, m.num_heads, m.head_dim) == (16, 4, 4)


@pytest.mark.parametrize("args", [(0,), (8, 0.1, 0), (8, 0.1, 2.5), (8.0,)])
def test_positional_encoding_settings_are_checked(args):
    with pytest.raises(MinigradError, match="PositionalEncoding: (d_model|max_len) must be a positive int"):
        nn.PositionalEncoding(*args)


def test_parameters_and_buffers_follow_the_default_dtype():
    mg.set_default_dtype(mg.float64)
    attn = nn.MultiheadAttention(16, 2, batch_first=True)
    pe = nn.PositionalEncoding(16, dropout=0.0, max_len=20)
    for name, p in attn.named_parameters():
        assert p.dtype == mg.float64, name
    assert pe.pe.dtype == mg.float64
    x = mg.randn(2, 5, 16)
    assert x.dtype == mg.float64
    out, weights = attn(x, x, x)
    assert out.dtype == weights.dtype == mg.float64
    assert pe(x).dtype == mg.float64
    # the float64 table is the float64 formula (not a float32 table cast up)
    pos, i = 7, 3
    assert abs(pe.pe.numpy()[pos, 2 * i] - np.sin(pos / 10000 ** (2 * i / 16))) < 1e-15
    mg.set_default_dtype(mg.float32)
    assert nn.MultiheadAttention(16, 2).in_proj_weight.dtype == mg.float32
    assert nn.PositionalEncoding(16).pe.dtype == mg.float32


def test_explicit_dtype_wins_over_the_default():
    attn = nn.MultiheadAttention(8, 2, dtype=mg.float64)
    assert {p.dtype for p in attn.parameters()} == {mg.float64}
    assert nn.PositionalEncoding(8, dtype="float64").pe.dtype == mg.float64


def test_float64_module_matches_torch():
    torch = pytest.importorskip("torch")
    mg.set_default_dtype(mg.float64)
    m = nn.MultiheadAttention(12, 3, batch_first=True)
    ref = torch.nn.MultiheadAttention(12, 3, batch_first=True, dtype=torch.float64)
    ref.load_state_dict({k: torch.tensor(v.numpy()) for k, v in m.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 4, 12))
    pad = np.array([[False, False, True, True], [False] * 4])
    out, w = m(mg.tensor(x), mg.tensor(x), mg.tensor(x), key_padding_mask=pad)
    t_out, t_w = ref(*[torch.tensor(x)] * 3, key_padding_mask=torch.tensor(pad))
    np.testing.assert_allclose(out.numpy(), t_out.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w.numpy(), t_w.detach().numpy(), rtol=1e-10, atol=1e-12)

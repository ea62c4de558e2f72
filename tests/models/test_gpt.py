"""minigrad.models.GPT on its own: config, GPT-2 init, the loss, input errors, and the
decoding protocol (the key/value cache gives the logits of full recomputation, also
after beam-style row reordering). Parity with Hugging Face is in test_gpt_hf.py."""
import dataclasses
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad.errors import DTypeError, IndexOutOfRangeError, MinigradError, ShapeError
from minigrad.models import GPT, GPTConfig

V, P = 50, 32


def _model(**kw):
    cfg = dict(vocab_size=V, n_positions=P, n_embd=32, n_layer=2, n_head=4)
    cfg.update(kw)
    return GPT(GPTConfig(**cfg))


def _logits(model, idx):
    with mg.no_grad():
        return model(idx).numpy()


def _log_softmax(x):
    z = x - x.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def test_config_names_and_errors():
    c = GPTConfig(block_size=128, n_embd=64, n_head=8)
    assert c.n_positions == 128 and c.block_size == 128 and c.inner_dim == 256
    c.block_size = 64
    assert c.n_positions == 64
    assert GPTConfig(n_inner=10).inner_dim == 10
    with pytest.raises(ShapeError, match="n_head=5 does not divide n_embd=32"):
        GPTConfig(n_embd=32, n_head=5)
    with pytest.raises(MinigradError, match="activation_function"):
        GPTConfig(activation_function="swish")
    with pytest.raises(MinigradError, match="dropout"):
        GPTConfig(dropout=1.0)
    with pytest.raises(MinigradError, match="disagree"):
        GPTConfig(n_positions=16, block_size=32)
    assert dataclasses.replace(c, n_positions=16).block_size == 16
    assert GPT(GPTConfig(block_size=16, n_embd=8, n_head=2, n_layer=1, vocab_size=5),
               n_layer=2).config == GPTConfig(block_size=16, n_embd=8, n_head=2, n_layer=2,
                                              vocab_size=5)
    assert "block_size" not in dataclasses.asdict(c)


def test_gpt2_init_and_tied_head():
    model = _model(n_embd=64, n_layer=4, vocab_size=500)
    assert model.lm_head.weight is model.transformer["wte"].weight
    names = dict(model.named_parameters())
    assert "lm_head.weight" not in names                   # one parameter, counted once
    resid = 0.02 / math.sqrt(2 * 4)
    for name, p in names.items():
        x = p.numpy()
        if name.endswith(("attn.out_proj.weight", "mlp.c_proj.weight")):
            assert abs(x.std() - resid) < 0.15 * resid, name
        elif x.ndim == 2:
            assert abs(x.std() - 0.02) < 0.1 * 0.02 and abs(x.mean()) < 0.002, name
        elif ".ln_" in name and name.endswith("weight"):
            np.testing.assert_array_equal(x, 1, err_msg=name)
        else:
            np.testing.assert_array_equal(x, 0, err_msg=name)
    no_bias = _model(bias=False)
    assert not any(n.endswith("bias") for n, _ in no_bias.named_parameters())


def test_loss_is_mean_cross_entropy_over_kept_targets():
    rng = np.random.default_rng(0)
    model = _model()
    idx = rng.integers(0, V, (3, 9))
    targets = rng.integers(0, V, (3, 9))
    targets[0, :4] = -100                                    # ignored positions
    logits, loss = model(idx, targets)
    logp = _log_softmax(logits.numpy().astype(np.float64))
    keep = targets != -100
    want = -np.take_along_axis(logp, np.where(keep, targets, 0)[..., None], -1)[..., 0][keep].mean()
    assert logits.shape == (3, 9, V) and logits.dtype == np.float32
    np.testing.assert_allclose(loss.item(), want, rtol=1e-5)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_bad_inputs_raise_clear_errors():
    model = _model()
    with pytest.raises(IndexOutOfRangeError, match="token id 50 is out of range for vocab_size=50"):
        model(np.array([[1, 50]]))
    with pytest.raises(ShapeError, match="n_positions=32"):
        model(np.zeros((1, P + 1), dtype=np.int64))
    with pytest.raises(DTypeError, match="integer token ids"):
        model(np.zeros((1, 3), dtype=np.float32))
    with pytest.raises(ShapeError, match=r"\(batch, length\)"):
        model(np.zeros(3, dtype=np.int64))
    with pytest.raises(ShapeError, match="targets"):
        model(np.zeros((1, 3), dtype=np.int64), np.zeros((1, 4), dtype=np.int64))


def test_dropout_only_in_training():
    model = _model(dropout=0.5)
    idx = np.random.default_rng(1).integers(0, V, (2, 8))
    model.train()
    assert not np.allclose(_logits(model, idx), _logits(model, idx))
    model.eval()
    np.testing.assert_array_equal(_logits(model, idx), _logits(model, idx))


@pytest.mark.parametrize("chunks", [[1] * 12, [5, 1, 1, 1, 1, 1, 1, 1], [4, 3, 5], [12]])
def test_cached_decoding_equals_full_recomputation(chunks):
    rng = np.random.default_rng(2)
    model = _model().eval()
    idx = rng.integers(0, V, (3, sum(chunks)))
    full = _logits(model, idx)
    state = model.start_decoding(idx)
    assert state.batch_size == 3 and state.length == 0
    got, start = [], 0
    with mg.no_grad():
        for n in chunks:
            got.append(model.decode_step(state, idx[:, start:start + n]).numpy())
            start += n
            assert state.length == start
    np.testing.assert_allclose(np.concatenate(got, axis=1), full, rtol=1e-5, atol=1e-5)


def test_reorder_decoding_state_follows_the_rows():
    rng = np.random.default_rng(3)
    model = _model().eval()
    idx = rng.integers(0, V, (3, 10))
    rows = np.array([2, 0, 0, 1, 2])                       # drop none, repeat, reorder (beams)
    with mg.no_grad():
        state = model.start_decoding(3)
        model.decode_step(state, idx[:, :6])
        state = model.reorder_decoding_state(state, rows)
        assert state.batch_size == 5
        rest = model.decode_step(state, idx[rows, 6:]).numpy()
    np.testing.assert_allclose(rest, _logits(model, idx[rows])[:, 6:], rtol=1e-5, atol=1e-5)
    with pytest.raises(IndexOutOfRangeError):
        model.reorder_decoding_state(state, np.array([5]))
    with pytest.raises(ShapeError, match="batch size"):
        model.decode_step(state, idx[:2, :1])


def test_decoding_stops_at_the_position_table():
    model = _model().eval()
    state = model.start_decoding(1)
    with mg.no_grad():
        model.decode_step(state, np.zeros((1, P), dtype=np.int64))
        with pytest.raises(ShapeError, match="past n_positions=32"):
            model.decode_step(state, np.zeros((1, 1), dtype=np.int64))


def test_gradients_match_finite_differences_float64():
    model = _model(n_embd=8, n_head=2, n_layer=2, vocab_size=7, n_positions=6).to(dtype=mg.float64)
    idx = np.random.default_rng(4).integers(0, 7, (2, 5))
    params = [model.transformer["h"][1].attn.in_proj_weight, model.transformer["wte"].weight,
              model.transformer["h"][0].mlp.c_fc.weight, model.transformer["ln_f"].bias]

    def loss(*_):
        return model(idx, idx)[1]
    assert mg.gradcheck(loss, params, atol=1e-6)


def test_learns_a_repeating_sequence():
    mg.manual_seed(0)
    model = _model(n_layer=1)
    seq = np.tile(np.arange(7), 5)[None, :P + 1]
    opt = mg.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(60):
        _, loss = model(seq[:, :-1], seq[:, 1:])
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1, loss.item()


def test_return_attention_gives_causal_per_head_weights():
    model = _model().eval()
    idx = np.random.default_rng(5).integers(0, V, (2, 7))
    with mg.no_grad():
        logits, attentions = model(idx, return_attention=True)
        _, loss, again = model(idx, idx, return_attention=True)
    np.testing.assert_array_equal(logits.numpy(), _logits(model, idx))
    assert sorted(attentions) == sorted(again) == ["transformer.h.0.attn", "transformer.h.1.attn"]
    w = attentions["transformer.h.1.attn"].numpy()
    assert w.shape == (2, 4, 7, 7)
    np.testing.assert_allclose(w.sum(-1), 1, rtol=1e-5)
    assert (np.triu(w, k=1) == 0).all()                    # no query sees a later key

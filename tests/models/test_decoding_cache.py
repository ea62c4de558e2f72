"""Cached decoding equals full recomputation for every decoder on Seq2SeqTransformer, and the
protocol's pieces behave as documented (prompt, reorder, no duplicated encoder work)."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.models import Seq2SeqTransformer

START, END, V = 1, 2, 12


@pytest.fixture(scope="module")
def model():
    mg.manual_seed(1)
    m = Seq2SeqTransformer(V, V, d_model=32, nhead=4, num_encoder_layers=1, num_decoder_layers=2,
                           dim_feedforward=48)
    with mg.no_grad():
        m.generator.weight.data *= 2.0
        m.generator.bias.data[END] += 1.0                 # sentences of varied lengths
    return m


def _src(b=6):
    src = np.random.default_rng(0).integers(3, V, (b, 7))
    src[2, -3:] = 0
    return src


@pytest.mark.parametrize("decoder,kwargs", [
    ("greedy_decode", dict(return_logits=True)),
    ("greedy_decode", dict(prompt=np.array([[1, 5, 7]] * 6))),
    ("sample", dict(generator=3, top_p=0.9, return_logits=True)),
    ("beam_search", dict(style="gnmt")),
    ("beam_search", dict(style="hf", early_stopping=True)),
    ("beam_search", dict(style="hf", early_stopping="never", bad_words_ids=[[3], [4, 4]]))])
def test_cached_decoding_equals_full_recomputation(model, decoder, kwargs):
    kwargs = dict(kwargs, max_len=12, start_symbol=START, end_symbol=END)
    cached = getattr(model, decoder)(_src(), **kwargs)
    full = getattr(model, decoder)(_src(), use_cache=False, **kwargs)
    if decoder == "beam_search" or kwargs.get("return_logits"):
        np.testing.assert_array_equal(cached[0], full[0])
        np.testing.assert_allclose(cached[1], full[1], rtol=1e-5, atol=1e-5)
    else:
        np.testing.assert_array_equal(cached, full)
    ids = cached[0] if isinstance(cached, tuple) else cached
    if "prompt" in kwargs:
        np.testing.assert_array_equal(ids[:, :3], kwargs["prompt"])


def test_protocol_steps_equal_teacher_forcing(model):
    """start_decoding + decode_step over a prompt and then token by token, with a reorder in
    between, give the logits of forward() on the same rows."""
    model.eval()
    src, tgt = _src(), np.random.default_rng(1).integers(3, V, (6, 5))
    with mg.no_grad():
        full = model(mg.tensor(src), mg.tensor(tgt)).numpy()
        state = model.start_decoding(mg.tensor(src))
        assert (state.batch_size, state.vocab_size, state.pad_symbol) == (6, V, 0)
        first = model.decode_step(state, mg.tensor(tgt[:, :3])).numpy()
        rows = np.array([5, 0, 0, 3])
        model.reorder_decoding_state(state, rows)
        rest = [model.decode_step(state, mg.tensor(tgt[rows, i:i + 1])).numpy()
                for i in range(3, 5)]
    np.testing.assert_allclose(first, full[:, :3], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.concatenate(rest, 1), full[rows, 3:], rtol=1e-5, atol=1e-5)
    model.train()

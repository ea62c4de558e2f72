"""Greedy and beam search against transformers' generate, on a tiny random Marian model.

The transformers model itself is wrapped as a decoding-protocol model (its own
encoder, decoder and key/value cache, logits handed over as minigrad tensors), so
the test compares the search algorithms alone: same logits in, the same output ids
and sequence scores must come out."""
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import minigrad as mg
from minigrad.models.decoding import DecodingState, beam_search, greedy_decode

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytestmark = pytest.mark.torch

V, PAD, EOS = 24, 23, 0


@dataclass
class _State(DecodingState):
    memory: Any = None
    mask: Any = None
    cache: Any = None


class HFProtocol:
    """A transformers encoder-decoder seen through minigrad's decoding protocol."""

    def __init__(self, hf):
        self.hf = hf

    def start_decoding(self, src, src_padding_mask=None):
        from transformers.cache_utils import DynamicCache, EncoderDecoderCache
        ids = torch.from_numpy(np.asarray(src))
        mask = (ids != PAD).long()
        with torch.no_grad():
            memory = self.hf.get_encoder()(input_ids=ids, attention_mask=mask).last_hidden_state
        return _State(batch_size=len(ids), vocab_size=V, pad_symbol=PAD, memory=memory, mask=mask,
                      cache=EncoderDecoderCache(DynamicCache(), DynamicCache()))

    def decode_step(self, state, tokens):
        with torch.no_grad():
            out = self.hf(encoder_outputs=(state.memory,), attention_mask=state.mask,
                          decoder_input_ids=torch.from_numpy(tokens.numpy()),
                          cache=state.cache, use_cache=True)
        return mg.tensor(out.logits.numpy())

    def reorder_decoding_state(self, state, rows):
        idx = torch.from_numpy(np.asarray(rows))
        state.memory, state.mask = state.memory[idx], state.mask[idx]
        state.cache.reorder_cache(idx)
        state.batch_size = len(rows)
        return state


def _marian(seed, init_std, eos_bias):
    cfg = transformers.MarianConfig(
        vocab_size=V, d_model=16, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32,
        max_position_embeddings=64, pad_token_id=PAD, eos_token_id=EOS, decoder_start_token_id=PAD,
        forced_eos_token_id=EOS, init_std=init_std, tie_word_embeddings=False)
    torch.manual_seed(seed)
    model = transformers.MarianMTModel(cfg).eval()
    with torch.no_grad():
        model.final_logits_bias[0, EOS] += eos_bias          # sentences of varied lengths
    return model


def _src(seed, b=5, n=7):
    rng = np.random.default_rng(seed)
    src = rng.integers(1, PAD, (b, n))
    src[1, -2:] = PAD
    src[3, -3:] = PAD
    return src


MODELS = [(0, 0.3, 2.0), (0, 0.5, 2.0)]            # (seed, init_std, eos bias): varied lengths


@pytest.mark.parametrize("seed,init_std,eos_bias", MODELS)
@pytest.mark.parametrize("num_beams,length_penalty,early_stopping,max_length", [
    (4, 1.0, False, 12)] + [pytest.param(*case, marks=pytest.mark.slow) for case in [
        (3, 0.6, True, 10), (4, 2.0, "never", 9), (5, -0.5, False, 11), (2, 0.0, "never", 8)]])
def test_beam_search_equals_transformers_generate(seed, init_std, eos_bias, num_beams,
                                                  length_penalty, early_stopping, max_length):
    hf = _marian(seed, init_std, eos_bias)
    src = _src(seed)
    settings = dict(num_beams=num_beams, max_length=max_length, length_penalty=length_penalty,
                    early_stopping=early_stopping, bad_words_ids=[[PAD]])
    with torch.no_grad():
        ref = hf.generate(torch.from_numpy(src), attention_mask=torch.from_numpy(src != PAD).long(),
                          do_sample=False, return_dict_in_generate=True, output_scores=True,
                          **settings)
    ids, scores = beam_search(HFProtocol(hf), src, num_beams, max_length, PAD, EOS, length_penalty,
                              style="hf", early_stopping=early_stopping, bad_words_ids=[[PAD]],
                              forced_eos_token_id=EOS)
    np.testing.assert_array_equal(ids, ref.sequences.numpy())
    np.testing.assert_allclose(scores, ref.sequences_scores.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("seed,init_std,eos_bias", MODELS)
def test_greedy_equals_transformers_generate(seed, init_std, eos_bias):
    hf = _marian(seed, init_std, eos_bias)
    src = _src(seed)
    with torch.no_grad():
        ref = hf.generate(torch.from_numpy(src), attention_mask=torch.from_numpy(src != PAD).long(),
                          do_sample=False, num_beams=1, max_length=12, bad_words_ids=[[PAD]])
    ids = greedy_decode(HFProtocol(hf), src, 12, PAD, EOS, bad_words_ids=[[PAD]],
                        forced_eos_token_id=EOS)
    np.testing.assert_array_equal(ids, ref.numpy())


def test_the_cases_really_differ():
    """The parity cases above are not all trivially alike: lengths and beams differ."""
    hf = _marian(*MODELS[0])
    src = _src(0)
    model = HFProtocol(hf)
    greedy = greedy_decode(model, src, 12, PAD, EOS, bad_words_ids=[[PAD]], forced_eos_token_id=EOS)
    beam, _ = beam_search(model, src, 4, 12, PAD, EOS, 1.0, style="hf", bad_words_ids=[[PAD]],
                          forced_eos_token_id=EOS)
    lengths = {int(np.argmax(row == EOS)) for row in beam if EOS in row}
    assert len(lengths) > 1, beam
    assert not np.array_equal(greedy[:, :beam.shape[1]], beam[:, :greedy.shape[1]])


@pytest.mark.parametrize("renormalize", [False, True])
def test_min_length_and_longer_bad_words_as_transformers(renormalize):
    """min_length keeps the end symbol out; a two-token bad word bans its second token after
    its first (transformers' MinLength and NoBadWords processors); renormalize_logits takes
    the log-softmax again after them (LogitNormalization)."""
    hf = _marian(0, 0.5, 3.0)                                # ends early without min_length
    src = _src(0)
    bad = [[PAD], [9, 9], [16, 16]]
    settings = dict(max_length=10, bad_words_ids=bad, min_length=5,
                    renormalize_logits=renormalize)
    with torch.no_grad():
        mask = torch.from_numpy(src != PAD).long()
        ref_greedy = hf.generate(torch.from_numpy(src), attention_mask=mask, num_beams=1,
                                 do_sample=False, **settings)
        ref_beam = hf.generate(torch.from_numpy(src), attention_mask=mask, num_beams=3,
                               do_sample=False, return_dict_in_generate=True,
                               output_scores=True, **settings)
    model = HFProtocol(hf)
    options = dict(bad_words_ids=bad, min_length=5, forced_eos_token_id=EOS,
                   renormalize_logits=renormalize)
    greedy = greedy_decode(model, src, 10, PAD, EOS, **options)
    beam, scores = beam_search(model, src, 3, 10, PAD, EOS, 1.0, style="hf", **options)
    np.testing.assert_array_equal(greedy, ref_greedy.numpy())
    np.testing.assert_array_equal(beam, ref_beam.sequences.numpy())
    np.testing.assert_allclose(scores, ref_beam.sequences_scores.numpy(), rtol=1e-5, atol=1e-6)
    assert np.all(greedy[:, 1:5] != EOS)
    for row in greedy:                                       # no 9 after 9, no 16 after 16
        assert not np.any((row[1:] == row[:-1]) & np.isin(row[1:], [9, 16]))


@pytest.mark.parametrize("top_k,top_p,temperature", [(5, None, 1.0), (None, 0.7, 0.8),
                                                     (3, 0.9, 1.3), (1, None, 1.0),
                                                     (None, 0.05, 1.0)])
def test_warpers_equal_transformers(top_k, top_p, temperature):
    from transformers.generation.logits_process import (TemperatureLogitsWarper,
                                                        TopKLogitsWarper, TopPLogitsWarper)
    from minigrad.models.decoding.processors import warp
    rng = np.random.default_rng(0)
    logits = (rng.normal(size=(16, 30)) * 3).astype(np.float32)
    logits[0, :4] = logits[0, 4]                              # ties at the k-th value
    ref = torch.from_numpy(logits.copy())
    ids = torch.zeros((16, 1), dtype=torch.long)
    ref = TemperatureLogitsWarper(temperature)(ids, ref)
    if top_k:
        ref = TopKLogitsWarper(top_k)(ids, ref)
    if top_p is not None:
        ref = TopPLogitsWarper(top_p)(ids, ref)
    got = warp(logits.copy(), temperature, top_k, top_p)
    np.testing.assert_array_equal(np.isinf(got), np.isinf(ref.numpy()))
    np.testing.assert_allclose(got[np.isfinite(got)], ref.numpy()[np.isfinite(got)], rtol=1e-6)

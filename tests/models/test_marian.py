"""MarianMT against transformers' MarianMTModel, both reading the same tiny random folder."""
import json
import os

import numpy as np
import pytest

import minigrad as mg
from minigrad.io import CheckpointError
from minigrad.models import MarianMT
from minigrad.models.marian import marian_sinusoids

from marian_fixtures import TINY, make_marian_folder, source_batch

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _torch_single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


VARIANTS = {
    "opus-mt": dict(activation_function="swish", scale_embedding=True),
    "relu-separate-vocabs": dict(activation_function="relu", share_encoder_decoder_embeddings=False,
                                 decoder_vocab_size=45),
    "shared-untied": dict(activation_function="swish", tie_word_embeddings=False),
    "gelu-untied-odd-width": dict(activation_function="gelu", d_model=21,
                                  encoder_attention_heads=3, decoder_attention_heads=7,
                                  share_encoder_decoder_embeddings=False,
                                  tie_word_embeddings=False, scale_embedding=True),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_logits_match_transformers(tmp_path, variant):
    ref = make_marian_folder(tmp_path, **VARIANTS[variant])
    model = MarianMT.from_pretrained(tmp_path)
    rng = np.random.default_rng(1)
    src, mask = source_batch(ref.config.vocab_size, TINY["pad_token_id"], rng)
    tgt = rng.integers(0, ref.config.decoder_vocab_size, size=(3, 6)).astype(np.int64)
    tgt[:, 0] = ref.config.decoder_start_token_id
    with torch.no_grad():
        want = ref(input_ids=torch.tensor(src), attention_mask=torch.tensor(mask),
                   decoder_input_ids=torch.tensor(tgt)).logits.numpy()
    with mg.no_grad():
        got = model(src, tgt, attention_mask=mask).numpy()
        default_mask = model(src, tgt).numpy()          # the mask derived from the pad token
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)
    np.testing.assert_array_equal(default_mask, got)


def test_attention_weights_match_transformers(tmp_path):
    make_marian_folder(tmp_path)
    ref = transformers.MarianMTModel.from_pretrained(tmp_path, attn_implementation="eager").eval()
    model = MarianMT.from_pretrained(tmp_path)
    rng = np.random.default_rng(3)
    src, mask = source_batch(TINY["vocab_size"], TINY["pad_token_id"], rng)
    tgt = rng.integers(0, TINY["vocab_size"], size=(3, 5)).astype(np.int64)
    with torch.no_grad():
        out = ref(input_ids=torch.tensor(src), attention_mask=torch.tensor(mask),
                  decoder_input_ids=torch.tensor(tgt), output_attentions=True)
    with mg.no_grad():
        logits, attentions = model(src, tgt, attention_mask=mask, return_attention=True)
    np.testing.assert_allclose(logits.numpy(), out.logits.numpy(), atol=1e-5, rtol=1e-5)
    for i in range(2):
        for ours, theirs in ((f"encoder.layers.{i}.self_attn", out.encoder_attentions[i]),
                             (f"decoder.layers.{i}.self_attn", out.decoder_attentions[i]),
                             (f"decoder.layers.{i}.multihead_attn", out.cross_attentions[i])):
            np.testing.assert_allclose(attentions[ours].numpy(), theirs.numpy(), atol=1e-5,
                                       err_msg=ours)
    assert len(attentions) == 6


@pytest.mark.parametrize("variant", ["opus-mt", "shared-untied", "relu-separate-vocabs"])
def test_save_pretrained_round_trips_through_transformers(tmp_path, variant):
    """minigrad -> a Hugging Face folder -> transformers: the same logits, no missing or
    unexpected weights, the same generation settings."""
    ref = make_marian_folder(tmp_path / "hf", generation=dict(num_beams=3, max_length=9),
                             **VARIANTS[variant])
    model = MarianMT.from_pretrained(tmp_path / "hf")
    model.save_pretrained(tmp_path / "mg")
    back, info = transformers.MarianMTModel.from_pretrained(tmp_path / "mg",
                                                            output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    assert (back.generation_config.num_beams, back.generation_config.max_length) == (3, 9)
    rng = np.random.default_rng(4)
    src, mask = source_batch(TINY["vocab_size"], TINY["pad_token_id"], rng)
    tgt = rng.integers(0, TINY["vocab_size"], size=(3, 4)).astype(np.int64)
    with torch.no_grad():
        inputs = dict(input_ids=torch.tensor(src), attention_mask=torch.tensor(mask),
                      decoder_input_ids=torch.tensor(tgt))
        np.testing.assert_array_equal(back.eval()(**inputs).logits.numpy(),
                                      ref(**inputs).logits.numpy())
    again = MarianMT.from_pretrained(tmp_path / "mg")
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(again.state_dict()[name].numpy(), value.numpy(), name)


def test_positions_are_marian_layout():
    from transformers.models.marian.modeling_marian import MarianSinusoidalPositionalEmbedding
    for n, dim in ((50, 16), (9, 21), (3, 1)):
        want = MarianSinusoidalPositionalEmbedding(n, dim).create_weight().numpy()
        np.testing.assert_array_equal(marian_sinusoids(n, dim), want)


def test_decoding_protocol_matches_teacher_forcing(tmp_path):
    """A prompt of several tokens, then one token per step, with a beam-style reorder
    in between: the logits equal those of the whole sequence at once."""
    make_marian_folder(tmp_path)
    model = MarianMT.from_pretrained(tmp_path)
    rng = np.random.default_rng(2)
    src, mask = source_batch(TINY["vocab_size"], TINY["pad_token_id"], rng)
    tgt = rng.integers(0, TINY["vocab_size"], size=(3, 7)).astype(np.int64)
    rows = np.array([2, 0, 0, 1])
    with mg.no_grad():
        full = model(src[rows], tgt[rows], attention_mask=mask[rows]).numpy()
        state = model.start_decoding(src, attention_mask=mask)
        parts = [model.decode_step(state, mg.tensor(tgt[:, :3])).numpy()[rows]]
        state = model.reorder_decoding_state(state, rows)
        assert state.batch_size == 4 and state.cache.length == 3
        for t in range(3, 7):
            parts.append(model.decode_step(state, mg.tensor(tgt[rows, t:t + 1])).numpy())
    np.testing.assert_allclose(np.concatenate(parts, axis=1), full, atol=1e-5, rtol=1e-5)


def test_generation_settings_come_from_the_folder(tmp_path):
    make_marian_folder(tmp_path, generation=dict(num_beams=4, max_length=12,
                                                 bad_words_ids=[[TINY["pad_token_id"]]]))
    model = MarianMT.from_pretrained(tmp_path)
    g = model.generation_config
    assert (g["num_beams"], g["max_length"], g["bad_words_ids"]) == (4, 12, [[39]])
    assert g["forced_eos_token_id"] == 0 and g["decoder_start_token_id"] == 39
    assert not model.training


def test_pickle_only_folder_is_refused_with_a_conversion_hint(tmp_path):
    make_marian_folder(tmp_path)
    os.remove(tmp_path / "model.safetensors")
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(CheckpointError, match="safe_serialization=True"):
        MarianMT.from_pretrained(tmp_path)


def test_bad_folders_get_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no config.json"):
        MarianMT.from_pretrained(tmp_path)
    make_marian_folder(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "d_model": 32}))
    with pytest.raises(CheckpointError, match="do not fit config.json"):
        MarianMT.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**config, "encoder_layers": "6"}))
    with pytest.raises(mg.errors.MinigradError, match="encoder_layers must be a positive"):
        MarianMT.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**config, "model_type": "bart"}))
    with pytest.raises(mg.errors.MinigradError, match="model_type 'bart'"):
        MarianMT.from_pretrained(tmp_path)


def test_bad_inputs_get_clear_errors(tmp_path):
    make_marian_folder(tmp_path)
    model = MarianMT.from_pretrained(tmp_path)
    src = np.array([[5, 6, 0]])
    with pytest.raises(mg.errors.IndexOutOfRangeError, match="input_ids"):
        model(np.array([[5, 40]]), src)
    with pytest.raises(mg.errors.ShapeError, match="attention_mask"):
        model(src, src, attention_mask=np.ones((1, 2)))
    with pytest.raises(mg.errors.DTypeError, match="decoder_input_ids"):
        model(src, src.astype(np.float32))
    with pytest.raises(mg.errors.ShapeError, match="max_position_embeddings"):
        model(src, np.zeros((1, 65), np.int64))


# ---------------------------------------------------------------- generation
OPUS_GENERATION = dict(bad_words_ids=[[TINY["pad_token_id"]]], forced_eos_token_id=0,
                       renormalize_logits=True, max_length=12)


def _generation_case(folder, seed, vocab, eos_margin, **generation):
    """(transformers' model, ours, source ids, attention mask) for one folder.

    Random models settle into repeating one token, so the end symbol's and the pad's
    final_logits_bias are set from the first step's logits: the end symbol
    `eos_margin` below the best other token (hypotheses then end at many different
    lengths), the pad 1 above it (its ban by bad_words_ids, and the renormalization
    after that ban, change the beam scores)."""
    pad = vocab - 1
    src, mask = source_batch(vocab, pad, np.random.default_rng(seed), batch=4, length=6)
    ids = dict(vocab_size=vocab, pad_token_id=pad, decoder_start_token_id=pad)
    make_marian_folder(folder, seed=seed, scale=0.3, activation_function="swish",
                       scale_embedding=True, generation={**OPUS_GENERATION,
                                                         "bad_words_ids": [[pad]], **generation},
                       **ids)
    ref = transformers.MarianMTModel.from_pretrained(folder).eval()
    with torch.no_grad():
        logits = ref(input_ids=torch.tensor(src), attention_mask=torch.tensor(mask),
                     decoder_input_ids=torch.full((len(src), 1), pad)).logits[:, -1]
        best = logits[:, 1:pad].max(-1).values
        ref.final_logits_bias[0, 0] += (best - logits[:, 0]).median() + eos_margin
        ref.final_logits_bias[0, pad] += (best - logits[:, pad]).median() + 1.0
    ref.save_pretrained(folder, safe_serialization=True)
    return ref, MarianMT.from_pretrained(folder), src, mask


def _reference_generate(ref, src, mask, **settings):
    with torch.no_grad():
        return ref.generate(input_ids=torch.tensor(src), attention_mask=torch.tensor(mask),
                            **settings).numpy()


@pytest.mark.parametrize("seed,vocab,eos_margin", [(0, 200, -1.0), (5, 200, -0.5), (2, 40, 0.0),
                                                   (6, 200, 0.5)])
def test_greedy_matches_generate(tmp_path, seed, vocab, eos_margin):
    ref, model, src, mask = _generation_case(tmp_path, seed, vocab, eos_margin)
    want = _reference_generate(ref, src, mask, num_beams=1, do_sample=False)
    np.testing.assert_array_equal(model.generate(src, mask, num_beams=1), want)


@pytest.mark.parametrize("seed,vocab,eos_margin,length_penalty,early_stopping", [
    (0, 200, -1.0, 1.0, False), (5, 200, -0.5, 1.0, False), (2, 200, 0.0, 0.6, False),
    (3, 200, -1.5, 2.0, "never"), (4, 200, -2.0, 1.0, True), (5, 200, -0.5, 0.0, False),
    (6, 200, 0.5, 1.0, False), (2, 40, 0.0, 1.0, False), (2, 40, 0.0, 2.0, "never"),
    (8, 40, 0.5, 0.6, True)])
def test_beam_search_matches_generate(tmp_path, seed, vocab, eos_margin, length_penalty,
                                      early_stopping):
    """opus-mt's settings from the folder: num_beams=4, the pad as bad word, forced
    eos at max_length, renormalize_logits."""
    ref, model, src, mask = _generation_case(tmp_path, seed, vocab, eos_margin, num_beams=4,
                                             length_penalty=length_penalty,
                                             early_stopping=early_stopping)
    assert model.generation_config["num_beams"] == 4
    np.testing.assert_array_equal(model.generate(src, mask), _reference_generate(ref, src, mask))


def test_generation_cases_exercise_the_search(tmp_path):
    """The cases above are not degenerate: outputs end at different lengths, beam
    search disagrees with greedy search, and renormalize_logits changes a result
    (both ways equal to transformers)."""
    ref, model, src, mask = _generation_case(tmp_path, 2, 40, 0.0, num_beams=4)
    beam, greedy = model.generate(src, mask), model.generate(src, mask, num_beams=1)
    assert len(set((beam != 39).sum(axis=1))) >= 3
    assert beam.shape != greedy.shape or (beam != greedy).any()
    plain = model.generate(src, mask, renormalize_logits=False)
    assert plain.shape != beam.shape or (plain != beam).any()
    banning_eos_too = dict(bad_words_ids=[[39], [0]])       # a lone end symbol is never banned
    np.testing.assert_array_equal(model.generate(src, mask, **banning_eos_too),
                                  _reference_generate(ref, src, mask, **banning_eos_too))
    np.testing.assert_array_equal(plain, _reference_generate(ref, src, mask,
                                                             renormalize_logits=False))


def test_generate_settings_are_checked(tmp_path):
    make_marian_folder(tmp_path)
    model = MarianMT.from_pretrained(tmp_path)
    src, mask = source_batch(40, 39, np.random.default_rng(0), batch=1)
    with pytest.raises(mg.errors.MinigradError, match="num_beam"):
        model.generate(src, mask, num_beam=4)
    with pytest.raises(mg.errors.MinigradError, match="do_sample"):
        model.generate(src, mask, do_sample=True)
    with pytest.raises(mg.errors.MinigradError, match="renormalize_logits"):
        model.generate(src, mask, renormalize_logits="yes")


@pytest.mark.parametrize("num_beams", [1, 4])
def test_renormalized_multi_token_bad_words_and_min_length_match_generate(tmp_path, num_beams):
    """renormalize_logits (opus-mt's setting) after bans of several-token words and of the
    end symbol before min_length: the log-softmax is taken again, as transformers does."""
    ref, model, src, mask = _generation_case(tmp_path, 2, 40, 0.0, num_beams=num_beams)
    first = model.generate(src, mask, num_beams=1, max_length=4)[:, 1:3]
    bad = [[39], [int(first[0, 0]), int(first[0, 1])], [int(first[1, 0]), 7, 8]]
    settings = dict(bad_words_ids=bad, min_length=6)
    got = model.generate(src, mask, **settings)
    np.testing.assert_array_equal(got, _reference_generate(ref, src, mask, **settings))
    ends = [int(np.argmax(row == 0)) for row in got if 0 in row[1:]]
    assert ends and min(ends) >= 6
    plain = dict(settings, renormalize_logits=False)
    np.testing.assert_array_equal(model.generate(src, mask, **plain),
                                  _reference_generate(ref, src, mask, **plain))

"""MarianMT against transformers' MarianMTModel, both reading the same tiny random folder."""
import json
import os

import numpy as np
import pytest

import minigrad as mg
from minigrad.io import CheckpointError
from minigrad.models import MarianMT
from minigrad.models.marian import marian_sinusoids

transformers = pytest.importorskip("transformers")
torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _torch_single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TINY = dict(vocab_size=40, d_model=16, encoder_layers=2, decoder_layers=2,
            encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=32,
            decoder_ffn_dim=24, max_position_embeddings=64, pad_token_id=39,
            decoder_start_token_id=39, eos_token_id=0, forced_eos_token_id=0)


def make_marian_folder(folder, seed=0, generation=None, **overrides):
    """Save a MarianMTModel with every weight random (layer norms and final_logits_bias
    included, so that none of them can be silently skipped) as safetensors; returns
    the transformers model, in eval mode."""
    from transformers import MarianConfig, MarianMTModel

    torch.manual_seed(seed)
    config = MarianConfig(**{**TINY, **overrides})
    model = MarianMTModel(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "embed_positions" in name:             # fixed sinusoids, not saved
                continue
            p.copy_(torch.randn_like(p) * (0.1 if "norm" in name else 0.5)
                    + (1.0 if "norm" in name and name.endswith("weight") else 0.0))
        model.final_logits_bias.copy_(torch.randn_like(model.final_logits_bias) * 0.5)
    if generation:
        for key, value in generation.items():
            setattr(model.generation_config, key, value)
    model.save_pretrained(folder, safe_serialization=True)
    return model.eval()


def source_batch(vocab_size, pad, rng, batch=3, length=7):
    """Token ids (B, S) with eos (0) at each sentence's end and padding after it."""
    ids = rng.integers(1, pad, size=(batch, length)).astype(np.int64)
    lengths = [length] + [int(x) for x in rng.integers(2, length, size=batch - 1)]
    for i, n in enumerate(lengths):
        ids[i, n - 1] = 0
        ids[i, n:] = pad
    return ids, (ids != pad).astype(np.int64)


VARIANTS = {
    "opus-mt": dict(activation_function="swish", scale_embedding=True),
    "relu-separate-vocabs": dict(activation_function="relu", share_encoder_decoder_embeddings=False,
                                 decoder_vocab_size=45),
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
        assert state.batch_size == 4 and state.length == 3
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

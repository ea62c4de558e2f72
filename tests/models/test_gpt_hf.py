"""GPT against Hugging Face's GPT2LMHeadModel built offline from a small random config:
same logits, same loss gradients for every parameter, same greedy continuation, and
Hugging Face folders (config.json + model.safetensors) round trip in both directions."""
import json
import os

import numpy as np
import pytest

import minigrad as mg
from minigrad.io import CheckpointError
from minigrad.models import GPT, greedy_decode
from minigrad.models.gpt_hf import hf_to_minigrad_name
from minigrad.models.hf import read_hf_folder, write_hf_folder

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

pytestmark = pytest.mark.torch
V = 100


def _hf_model(seed=0, **kw):
    torch.manual_seed(seed)
    cfg = dict(n_embd=32, n_layer=2, n_head=4, vocab_size=V, n_positions=64,
               bos_token_id=None, eos_token_id=None)
    cfg.update(kw)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(**cfg)).eval()
    with torch.no_grad():                  # HF zeroes biases and sets layer norms to 1/0: make
        for p in model.parameters():       # them random so a swapped or missed tensor shows
            if p.ndim == 1:
                p.add_(torch.randn_like(p) * 0.1)
    return model


@pytest.fixture
def pair(tmp_path):
    """(HF model, minigrad model loaded from the folder HF saved)."""
    hf = _hf_model()
    hf.save_pretrained(tmp_path / "hf")
    return hf, GPT.from_pretrained(tmp_path / "hf").eval()


def _hf_logits(hf, idx):
    with torch.no_grad():
        return hf(torch.as_tensor(idx)).logits.numpy()


def _ids(seed, b=3, t=20):
    return np.random.default_rng(seed).integers(0, V, (b, t))


def _assert_same_logits(a, b, seed):
    """Two minigrad GPTs with the same weights give bit-identical logits."""
    idx = _ids(seed)
    with mg.no_grad():
        np.testing.assert_array_equal(a(idx).numpy(), b(idx).numpy())


def test_same_logits_and_attention_weights(pair):
    hf, model = pair
    idx = _ids(0)
    with mg.no_grad():
        ours, attentions = model(idx, return_attention=True)
    with torch.no_grad():
        out = hf(torch.as_tensor(idx), output_attentions=True)
    np.testing.assert_allclose(ours.numpy(), out.logits.numpy(), rtol=1e-5, atol=1e-5)
    for i, want in enumerate(out.attentions):
        np.testing.assert_allclose(attentions[f"transformer.h.{i}.attn"].numpy(), want.numpy(),
                                   rtol=1e-5, atol=1e-6)


def test_same_loss_gradients_for_every_parameter(pair):
    hf, model = pair
    idx = _ids(1)
    out = hf(torch.as_tensor(idx), labels=torch.as_tensor(idx))    # HF shifts the labels
    out.loss.backward()
    targets = np.concatenate([idx[:, 1:], np.full((idx.shape[0], 1), -100)], axis=1)
    _, loss = model(idx, targets)
    loss.backward()
    np.testing.assert_allclose(loss.item(), out.loss.item(), rtol=1e-5)
    ours = dict(model.named_parameters())
    checked = set()
    for hf_name, p in hf.named_parameters():
        name = hf_to_minigrad_name(hf_name)
        grad = p.grad.numpy()
        if grad.ndim == 2 and ".h." in name:                      # Conv1D stores (in, out)
            grad = grad.T
        np.testing.assert_allclose(ours[name].grad.numpy(), grad, rtol=1e-4, atol=1e-4,
                                   err_msg=name)
        checked.add(name)
    assert checked == set(ours)


def _hf_generate(hf, prompt, **kw):
    with torch.no_grad():
        return hf.generate(torch.as_tensor(prompt), attention_mask=torch.ones(prompt.shape),
                           do_sample=False, pad_token_id=0, **kw)


def _protocol_greedy(model, prompt, n_new):
    """Greedy continuation through the three protocol methods alone, no decoder."""
    with mg.no_grad():
        state = model.start_decoding(prompt)
        logits = model.decode_step(state, prompt).numpy()
        out = [prompt]
        for _ in range(n_new):
            token = logits[:, -1].argmax(-1)[:, None].astype(np.int64)
            out.append(token)
            logits = model.decode_step(state, token).numpy()
    return np.concatenate(out, axis=1)


def test_same_greedy_continuation(pair):
    hf, model = pair
    prompt = _ids(2, b=2, t=5)
    want = _hf_generate(hf, prompt, max_new_tokens=30, min_new_tokens=30).numpy()
    np.testing.assert_array_equal(_protocol_greedy(model, prompt, 30), want)
    np.testing.assert_array_equal(model.generate(prompt, 30, do_sample=False), want)
    np.testing.assert_array_equal(model.generate(prompt, 30, temperature=0), want)
    np.testing.assert_array_equal(
        greedy_decode(model, prompt, prompt=prompt, max_new_tokens=30, use_cache=False), want)


def test_same_beam_search_as_transformers(pair):
    hf, model = pair
    prompt = _ids(3, b=3, t=4)
    end = int(_protocol_greedy(model, prompt, 3)[0, -1])      # an end symbol that does occur
    out = _hf_generate(hf, prompt, max_new_tokens=12, num_beams=3, eos_token_id=end,
                       length_penalty=1.0, output_scores=True, return_dict_in_generate=True)
    ids, scores = model.beam_search(prompt, beam_size=3, max_new_tokens=12, style="hf",
                                    end_symbol=end, length_penalty=1.0, pad_symbol=0)
    want = out.sequences.numpy()
    assert (want[:, 4:] == end).any()
    np.testing.assert_array_equal(ids, want)
    np.testing.assert_allclose(scores, out.sequences_scores.numpy(), rtol=1e-4, atol=1e-5)


def test_save_pretrained_loads_in_transformers(tmp_path):
    model = GPT(vocab_size=V, n_positions=64, n_embd=32, n_layer=3, n_head=4, dropout=0.1).eval()
    model.save_pretrained(tmp_path / "ours")
    assert sorted(os.listdir(tmp_path / "ours")) == ["config.json", "model.safetensors"]
    hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "ours").eval()
    assert hf.config.n_layer == 3 and hf.config.resid_pdrop == 0.1
    idx = _ids(3)
    with mg.no_grad():
        np.testing.assert_allclose(_hf_logits(hf, idx), model(idx).numpy(), rtol=1e-5, atol=1e-5)


def test_round_trip_both_ways(pair, tmp_path):
    hf, model = pair
    model.save_pretrained(tmp_path / "again")
    _, before = read_hf_folder(tmp_path / "hf")
    _, after = read_hf_folder(tmp_path / "again")
    assert set(after) == set(before) - {"lm_head.weight"}
    for name, array in after.items():
        np.testing.assert_array_equal(array, before[name], err_msg=name)
    back = GPT.from_pretrained(tmp_path / "again").eval()
    _assert_same_logits(back, model, seed=4)


def test_keys_without_prefix_and_mask_buffers(pair, tmp_path):
    """Files saved from GPT2Model (the Hub's `gpt2`) lack 'transformer.' and may hold the
    causal-mask buffers attn.bias / attn.masked_bias."""
    hf, model = pair
    config, tensors = read_hf_folder(tmp_path / "hf")
    tensors = {k[len("transformer."):] if k.startswith("transformer.") else k: v
               for k, v in tensors.items()}
    tensors["h.0.attn.bias"] = np.tril(np.ones((1, 1, 64, 64), dtype=np.float32))
    tensors["h.0.attn.masked_bias"] = np.array(-1e4, dtype=np.float32)
    write_hf_folder(tmp_path / "base", config, tensors)
    loaded = GPT.from_pretrained(tmp_path / "base").eval()
    _assert_same_logits(loaded, model, seed=5)


def test_sharded_folder(pair, tmp_path):
    hf, model = pair
    hf.save_pretrained(tmp_path / "sharded", max_shard_size="20KB")
    assert "model.safetensors.index.json" in os.listdir(tmp_path / "sharded")
    loaded = GPT.from_pretrained(tmp_path / "sharded").eval()
    _assert_same_logits(loaded, model, seed=6)


def test_folder_errors(pair, tmp_path):
    hf, _ = pair
    with pytest.raises(CheckpointError, match="no such folder"):
        GPT.from_pretrained(tmp_path / "missing")
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text(json.dumps(hf.config.to_dict()))
    torch.save(hf.state_dict(), pickled / "pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"pytorch_model\.bin.*never loads"):
        GPT.from_pretrained(pickled)
    (pickled / "pytorch_model.bin").unlink()
    with pytest.raises(CheckpointError, match="no model.safetensors"):
        GPT.from_pretrained(pickled)
    config, tensors = read_hf_folder(tmp_path / "hf")
    write_hf_folder(tmp_path / "bert", dict(config, model_type="bert"), tensors)
    with pytest.raises(CheckpointError, match="model_type='bert'"):
        GPT.from_pretrained(tmp_path / "bert")
    write_hf_folder(tmp_path / "untied", dict(config, tie_word_embeddings=False), tensors)
    with pytest.raises(CheckpointError, match="tie_word_embeddings"):
        GPT.from_pretrained(tmp_path / "untied")
    del tensors["transformer.h.1.mlp.c_fc.bias"]
    write_hf_folder(tmp_path / "short", config, tensors)
    with pytest.raises(CheckpointError, match=r"do not fit.*missing keys.*h\.1\.mlp\.c_fc\.bias"):
        GPT.from_pretrained(tmp_path / "short")
    with pytest.raises(mg.MinigradError, match="bias=False"):
        GPT(vocab_size=V, n_positions=8, n_embd=8, n_layer=1, n_head=2,
            bias=False).save_pretrained(tmp_path / "nobias")


def test_dropout_from_config_and_override(tmp_path):
    hf = _hf_model(resid_pdrop=0.2, embd_pdrop=0.2, attn_pdrop=0.2)
    hf.save_pretrained(tmp_path / "d")
    assert GPT.from_pretrained(tmp_path / "d").config.dropout == 0.2
    assert GPT.from_pretrained(tmp_path / "d", dropout=0.0).config.dropout == 0.0

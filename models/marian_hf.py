"""Hugging Face Marian folders -> minigrad's MarianMT, and generation as `generate` runs it.

A folder saved by `MarianMTModel.save_pretrained(folder, safe_serialization=True)`
(or downloaded from the Hub, e.g. Helsinki-NLP/opus-mt-ko-en) holds:

    config.json             the architecture (and, in older folders, generation settings)
    generation_config.json  num_beams, max_length, bad_words_ids, ... (newer folders)
    model.safetensors       the weights, read without running any code from the file
    source.spm, target.spm, vocab.json   the tokenizer (models/marian_tokenizer.py)

Only safetensors weights are read: a `pytorch_model.bin` is a pickle, and loading
a pickle can run arbitrary code, so it gets an error that says how to convert it.
Position tables that a file may hold (`embed_positions.weight`) are not read: they
are the fixed sinusoids, which MarianMT computes the same way.
"""
import dataclasses
import os

import numpy as np

from minigrad.errors import MinigradError, ShapeError
from minigrad.io import CheckpointError

from .hf import read_hf_folder, read_json, write_hf_folder, write_json
from .marian import MarianConfig, MarianMT

# generate's settings that a Marian folder may set (Hugging Face's GenerationConfig names)
GENERATION_KEYS = ("num_beams", "max_length", "max_new_tokens", "min_length", "length_penalty",
                   "early_stopping", "bad_words_ids", "renormalize_logits", "forced_eos_token_id",
                   "eos_token_id", "pad_token_id", "decoder_start_token_id", "do_sample")


def read_marian_folder(folder):
    """(MarianConfig, generation settings dict, weights {name: numpy array}) of a folder,
    validated (models/hf.py reads config.json and the safetensors weights)."""
    who = "MarianMT.from_pretrained"
    raw, weights = read_hf_folder(folder, who)
    config = MarianConfig.from_dict(raw)
    generation = {k: raw[k] for k in GENERATION_KEYS if raw.get(k) is not None}
    gen_path = os.path.join(os.fspath(folder), "generation_config.json")
    if os.path.isfile(gen_path):
        generation.update({k: v for k, v in read_json(gen_path, who).items()
                           if k in GENERATION_KEYS and v is not None})
    return config, generation, weights


def _first(weights, names, what):
    for name in names:
        if name in weights:
            return weights[name]
    raise CheckpointError(f"MarianMT.from_pretrained: model.safetensors has no {what} "
                          f"(looked for {', '.join(names)})")


def layer_names(config):
    """[(Hugging Face name, MarianMT name, part)] for every weight of the layers.

    part i (0, 1, 2) is the i-th third of nn.MultiheadAttention's packed in_proj
    (q_proj, k_proj, v_proj stacked); None is the whole tensor. fc1 / fc2 are the
    feed-forward's linear1 / linear2; the layer norms after self-attention,
    cross-attention and feed-forward are norm1, norm2 (norm3).
    """
    names = []

    def attention(hf, ours):
        for kind in ("weight", "bias"):
            names.extend((f"{hf}.{p}_proj.{kind}", f"{ours}.in_proj_{kind}", i)
                         for i, p in enumerate("qkv"))
            names.append((f"{hf}.out_proj.{kind}", f"{ours}.out_proj.{kind}", None))

    def whole(hf, ours):
        names.extend((f"{hf}.{kind}", f"{ours}.{kind}", None) for kind in ("weight", "bias"))

    for side, n in (("encoder", config.encoder_layers), ("decoder", config.decoder_layers)):
        norms = ["self_attn_layer_norm", "final_layer_norm"] if side == "encoder" else \
            ["self_attn_layer_norm", "encoder_attn_layer_norm", "final_layer_norm"]
        for i in range(n):
            hf, ours = f"model.{side}.layers.{i}", f"{side}.layers.{i}"
            attention(f"{hf}.self_attn", f"{ours}.self_attn")
            if side == "decoder":
                attention(f"{hf}.encoder_attn", f"{ours}.multihead_attn")
            whole(f"{hf}.fc1", f"{ours}.feed_forward.linear1")
            whole(f"{hf}.fc2", f"{ours}.feed_forward.linear2")
            for j, norm in enumerate(norms, start=1):
                whole(f"{hf}.{norm}", f"{ours}.norm{j}")
    return names


def hf_to_minigrad(weights, config):
    """Hugging Face MarianMTModel tensors ({name: numpy array}) -> MarianMT's state_dict.

    Tied embeddings are stored once (model.shared.weight, or one of its aliases);
    a missing final_logits_bias is zero, as transformers fills it.
    """
    w = weights
    out, parts = {}, {}
    for hf, ours, part in layer_names(config):
        value = _first(w, [hf], hf)
        if part is None:
            out[ours] = value
        else:
            parts.setdefault(ours, []).append(value)
    out.update({name: np.concatenate(stack) for name, stack in parts.items()})

    share, tie = config.share_encoder_decoder_embeddings, config.tie_word_embeddings
    if share and tie:                   # one matrix, saved under one of its names
        src = tgt = _first(w, ["model.shared.weight", "model.encoder.embed_tokens.weight",
                               "model.decoder.embed_tokens.weight", "lm_head.weight"],
                           "shared embedding")
    else:                               # each side's own, else the shared one
        src = _first(w, ["model.encoder.embed_tokens.weight", "model.shared.weight"],
                     "encoder embedding")
        tgt = _first(w, ["model.decoder.embed_tokens.weight"] + ["model.shared.weight"] * share
                     + ["lm_head.weight"] * tie, "decoder embedding")
    out["src_embed.weight"], out["tgt_embed.weight"] = src, tgt
    out["lm_head.weight"] = tgt if tie else \
        _first(w, ["lm_head.weight"], "lm_head.weight (tie_word_embeddings is false)")
    bias = w.get("final_logits_bias")                 # (1, V)
    out["lm_head.bias"] = np.zeros(config.target_vocab_size, np.float32) if bias is None \
        else bias.reshape(-1)
    return out


def load_marian(folder, device=None):
    """A MarianMT with the folder's weights and generation settings, in eval mode."""
    config, generation, weights = read_marian_folder(folder)
    model = MarianMT(config)
    model.generation_config.update(generation)
    state = hf_to_minigrad(weights, config)
    try:
        model.load_state_dict(state)
    except ShapeError as e:
        raise CheckpointError(f"MarianMT.from_pretrained: {os.fspath(folder)!r}: the weights do "
                              f"not fit config.json: {e}") from None
    if device is not None:
        model.to(device)
    return model.eval()


def generate(model, input_ids, attention_mask=None, **settings):
    """Translate as transformers' `model.generate(input_ids, attention_mask=...)` does.

    Settings (Hugging Face's names) default to model.generation_config: num_beams
    (1: greedy search, else beam search with transformers' ranking and stopping,
    decoding.beam_search(style="hf")), max_length (start token included) or
    max_new_tokens, min_length, length_penalty (beam scores are sum log P /
    generated_length ** length_penalty), early_stopping, bad_words_ids,
    forced_eos_token_id (the last position must be eos), renormalize_logits (the
    log-softmax taken again after those constraints; opus-mt sets it), eos_token_id,
    pad_token_id, decoder_start_token_id.

    Returns ids (B, L) int64: decoder_start_token_id, the translation, eos, then
    pad_token_id after a sentence's end. Raises MinigradError on an unknown or
    unsupported setting, DecodingError on a bad value.
    """
    from .decoding import beam_search, greedy_decode

    unknown = sorted(set(settings) - set(GENERATION_KEYS))
    if unknown:
        raise MinigradError(f"MarianMT.generate: unknown settings {unknown}; expected some of "
                            f"{list(GENERATION_KEYS)}")
    g = {**model.generation_config, **settings}
    if g.get("do_sample"):
        raise MinigradError("MarianMT.generate: do_sample=True is not supported here; call "
                            "minigrad.models.decoding.sample(model, (input_ids, attention_mask), "
                            "...) for sampling")
    common = dict(max_len=None if g.get("max_new_tokens") else g.get("max_length"),
                  start_symbol=g["decoder_start_token_id"], end_symbol=g.get("eos_token_id"),
                  max_new_tokens=g.get("max_new_tokens"), pad_symbol=g.get("pad_token_id"),
                  bad_words_ids=g.get("bad_words_ids"), min_length=g.get("min_length") or 0,
                  forced_eos_token_id=g.get("forced_eos_token_id"),
                  renormalize_logits=g.get("renormalize_logits") or False)
    src = (input_ids, attention_mask)
    if g.get("num_beams", 1) == 1:
        return greedy_decode(model, src, **common)
    ids, _ = beam_search(model, src, beam_size=g["num_beams"],
                         length_penalty=g.get("length_penalty", 1.0), style="hf",
                         early_stopping=g.get("early_stopping", False), **common)
    return ids


def save_marian(model, folder):
    """Write `model` as a Hugging Face Marian folder that transformers reads back:
    config.json, generation_config.json and model.safetensors, each written atomically
    (a temporary file, then a rename)."""
    c = model.config
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    tensors = {hf: state[ours] if part is None else np.split(state[ours], 3)[part]
               for hf, ours, part in layer_names(c)}
    if c.share_encoder_decoder_embeddings and c.tie_word_embeddings:
        tensors["model.shared.weight"] = state["tgt_embed.weight"]
    else:
        tensors["model.encoder.embed_tokens.weight"] = state["src_embed.weight"]
        tensors["model.decoder.embed_tokens.weight"] = state["tgt_embed.weight"]
        if c.share_encoder_decoder_embeddings:
            tensors["model.shared.weight"] = state["src_embed.weight"]
        if not c.tie_word_embeddings:
            tensors["lm_head.weight"] = state["lm_head.weight"]
    tensors["final_logits_bias"] = state["lm_head.bias"].reshape(1, -1)
    config = {"model_type": "marian", "architectures": ["MarianMTModel"],
              "is_encoder_decoder": True, **dataclasses.asdict(c)}
    generation = {k: v for k, v in model.generation_config.items() if v is not None}
    write_hf_folder(folder, config, tensors)
    write_json(os.path.join(folder, "generation_config.json"), generation)

"""Marian translation models (the ~1,000 opus-mt checkpoints) on minigrad.

Marian (Junczys-Dowmunt et al., 2018) is the paper's encoder-decoder Transformer
with a few choices of its own, all mirrored here from Hugging Face's
`modeling_marian.py` so that a checkpoint gives the same logits:

    ids -> Embedding * embed_scale + sinusoids -> N x EncoderLayer (post-norm) -> memory
    ids -> Embedding * embed_scale + sinusoids -> N x DecoderLayer (post-norm)
        -> x W_emb^T + final_logits_bias -> logits

- positions: sine waves in the first half of the features and cosine waves in the
  second half (not interleaved as in the paper's table, nn.PositionalEncoding);
- embed_scale = sqrt(d_model) when `scale_embedding` (opus-mt: yes), else 1;
- no final layer norm after either stack; the activation is configured (`swish` =
  SiLU for opus-mt, `relu`, `gelu`);
- one vocabulary shared by source and target embeddings and tied to the output
  projection (`share_encoder_decoder_embeddings` and `tie_word_embeddings`; as in
  transformers 5, tie_word_embeddings=False unties all three), plus a learned
  (usually zero) `final_logits_bias`, kept here as the output Linear's bias;
- decoding starts from the pad token (`decoder_start_token_id`).

The layers are minigrad's own EncoderLayer / DecoderLayer (models/transformer.py);
`models/marian_hf.py` reads a Hugging Face folder into this class.
"""
import math
from dataclasses import dataclass, fields

import numpy as np

import minigrad as mg
from minigrad.dtype import kind_of
from minigrad.errors import DTypeError, MinigradError, ShapeError
from minigrad.nn import Dropout, Embedding, Linear, Module, init
from minigrad.tensor import Tensor

from ._checks import token_ids
from .decoding import EncoderDecoderState
from .transformer import Decoder, DecoderCache, DecoderLayer, Encoder, EncoderLayer


@dataclass
class MarianConfig:
    """The architecture part of a Hugging Face `MarianConfig` (same names and defaults).

    Generation settings (num_beams, max_length, ...) live in `MarianMT.generation_config`.
    """
    vocab_size: int = 58101
    decoder_vocab_size: int = None          # None: vocab_size
    d_model: int = 1024
    encoder_layers: int = 12
    decoder_layers: int = 12
    encoder_attention_heads: int = 16
    decoder_attention_heads: int = 16
    encoder_ffn_dim: int = 4096
    decoder_ffn_dim: int = 4096
    max_position_embeddings: int = 1024
    activation_function: str = "gelu"
    dropout: float = 0.1
    attention_dropout: float = 0.0
    activation_dropout: float = 0.0
    scale_embedding: bool = False
    pad_token_id: int = 58100
    eos_token_id: int = 0
    decoder_start_token_id: int = 58100
    share_encoder_decoder_embeddings: bool = True
    tie_word_embeddings: bool = True

    def __post_init__(self):
        if self.decoder_vocab_size is None:
            self.decoder_vocab_size = self.vocab_size

    @classmethod
    def from_dict(cls, d):
        """From a parsed config.json; keys that do not shape the network are ignored."""
        if not isinstance(d, dict):
            raise MinigradError(f"MarianConfig: config.json must hold a JSON object, got "
                                f"{type(d).__name__}")
        if d.get("model_type", "marian") != "marian":
            raise MinigradError(f"MarianConfig: config.json has model_type {d['model_type']!r}, "
                                "expected 'marian'")
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in d.items() if k in names and v is not None}
        for k in _SIZES:
            v = values.get(k)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or
                                  v < (0 if k.endswith("_id") else 1)):
                raise MinigradError(f"MarianConfig: {k} must be a "
                                    f"{'non-negative' if k.endswith('_id') else 'positive'} "
                                    f"integer, got {v!r}")
        return cls(**values)

    @property
    def target_vocab_size(self):
        """The output vocabulary: one shared vocabulary, or the decoder's own."""
        return self.vocab_size if self.share_encoder_decoder_embeddings else self.decoder_vocab_size


_SIZES = ("vocab_size", "decoder_vocab_size", "d_model", "encoder_layers", "decoder_layers",
          "encoder_attention_heads", "decoder_attention_heads", "encoder_ffn_dim",
          "decoder_ffn_dim", "max_position_embeddings", "pad_token_id", "decoder_start_token_id")


def silu(x):
    """SiLU / swish: x * sigmoid(x) (Elfwing et al., 2017; torch.nn.functional.silu)."""
    return x * mg.sigmoid(x)


# Hugging Face's ACT2FN names -> minigrad functions
ACTIVATIONS = {
    "relu": mg.relu,
    "gelu": mg.gelu,                                         # exact (erf) form
    "gelu_new": lambda x: mg.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: mg.gelu(x, approximate="tanh"),
    "swish": silu,
    "silu": silu,
    "tanh": mg.tanh,
    "sigmoid": mg.sigmoid,
}


def marian_sinusoids(num_positions, dim, dtype=np.float32):
    """The (num_positions, dim) position table of Marian: sin in the first half, cos in the second.

    angle(pos, j) = pos / 10000^(2 * (j // 2) / dim); columns [0, ceil(dim/2)) hold
    sin of the even-j angles, the rest cos of the odd-j angles (Hugging Face's
    MarianSinusoidalPositionalEmbedding; computed in float64, then cast).
    """
    pos = np.arange(num_positions, dtype=np.float64)[:, None]
    j = np.arange(dim)
    angle = pos / np.power(10000.0, 2 * (j // 2) / dim)
    half = (dim + 1) // 2
    out = np.empty((num_positions, dim), dtype=np.float64)
    out[:, :half] = np.sin(angle[:, 0::2])
    out[:, half:] = np.cos(angle[:, 1::2])
    return out.astype(dtype)


MarianDecodingState = EncoderDecoderState          # memory, memory_mask, cache


class MarianMT(Module):
    """A Marian encoder-decoder translation model (Hugging Face's MarianMTModel).

    Build it from a `MarianConfig`, or with `MarianMT.from_pretrained(folder)` from a
    Hugging Face folder. Token ids are int64 (B, S) / (B, T) arrays or Tensors;
    `attention_mask` is Hugging Face's: (B, S), 1 / True where a source token is real.
    Implements the decoding protocol (start_decoding, decode_step,
    reorder_decoding_state) that models/decoding/ drives, and `generate`.
    """

    def __init__(self, config):
        super().__init__()
        c = self.config = config
        if c.activation_function not in ACTIVATIONS:
            raise MinigradError(f"MarianMT: activation_function {c.activation_function!r} is not "
                                f"supported; expected one of {sorted(ACTIVATIONS)}")
        d, act = c.d_model, ACTIVATIONS[c.activation_function]
        self.embed_scale = math.sqrt(d) if c.scale_embedding else 1.0
        self.src_embed = Embedding(c.vocab_size, d, padding_idx=c.pad_token_id)
        self.tgt_embed = Embedding(c.target_vocab_size, d, padding_idx=c.pad_token_id)
        self.register_buffer("positions", Tensor(marian_sinusoids(c.max_position_embeddings, d)),
                             persistent=False)
        self.dropout = Dropout(c.dropout)
        self.encoder = Encoder([self._marian_layer(EncoderLayer(
            d, c.encoder_attention_heads, c.encoder_ffn_dim, c.dropout, act, batch_first=True))
            for _ in range(c.encoder_layers)])
        self.decoder = Decoder([self._marian_layer(DecoderLayer(
            d, c.decoder_attention_heads, c.decoder_ffn_dim, c.dropout, act, batch_first=True))
            for _ in range(c.decoder_layers)])
        self.lm_head = Linear(d, c.target_vocab_size)     # its bias is final_logits_bias
        init.zeros_(self.lm_head.bias)
        if c.tie_word_embeddings:       # transformers (v5) ties nothing when this is false
            if c.share_encoder_decoder_embeddings:
                self.src_embed.weight = self.tgt_embed.weight
            self.lm_head.weight = self.tgt_embed.weight
        self.generation_config = default_generation_config(c)

    def _marian_layer(self, layer):
        """Marian's three dropout rates: after each sublayer (`dropout`), on the
        attention weights (`attention_dropout`) and after the activation (`activation_dropout`)."""
        c = self.config
        for name in ("self_attn", "multihead_attn"):
            if hasattr(layer, name):
                getattr(layer, name).dropout = float(c.attention_dropout)
        layer.feed_forward.dropout = Dropout(c.activation_dropout)
        return layer

    @classmethod
    def from_pretrained(cls, folder, device=None):
        """Load a Hugging Face Marian folder (config.json, model.safetensors, and
        generation_config.json when present); see models/marian_hf.py."""
        from .marian_hf import load_marian
        return load_marian(folder, device=device)

    def save_pretrained(self, folder):
        """Write a Hugging Face Marian folder (config.json, generation_config.json,
        model.safetensors) that transformers' MarianMTModel.from_pretrained reads."""
        from .marian_hf import save_marian
        save_marian(self, folder)

    # ------------------------------------------------------------ the three stages
    def embed(self, ids, embedding, start=0):
        """ids (B, T) -> embedding * embed_scale + positions[start:start + T], then dropout."""
        t = ids.shape[1]
        if start + t > self.positions.shape[0]:
            raise ShapeError(f"MarianMT: positions {start}..{start + t - 1} exceed "
                             f"max_position_embeddings={self.positions.shape[0]}")
        x = embedding(ids)
        if self.embed_scale != 1.0:
            x = x * self.embed_scale
        pe = self.positions.array[start:start + t].astype(x.dtype, copy=False)
        return self.dropout(x + Tensor._make(pe, False, None))

    def encode(self, input_ids, attention_mask=None, attentions=None):
        """(B, S) ids -> memory (B, S, d_model), and the source padding mask (B, S), True at
        padding. `attentions`: a dict to receive the layers' weights (Encoder.forward)."""
        ids = self._check_ids(input_ids, "input_ids", self.config.vocab_size)
        padding = self._padding_mask(ids, attention_mask, "attention_mask")
        memory = self.encoder(self.embed(ids, self.src_embed), src_key_padding_mask=padding,
                              attentions=attentions)
        return memory, padding

    def decode(self, decoder_input_ids, memory, memory_padding_mask=None,
               tgt_padding_mask=None, cache=None, attentions=None):
        """Target ids (B, T) -> logits (B, T, target vocab), causal over the target.

        With `cache` (a DecoderCache) the ids are only the new positions; earlier
        ones are read from the cache. `attentions`: see Decoder.forward.
        """
        ids = self._check_ids(decoder_input_ids, "decoder_input_ids",
                              self.config.target_vocab_size)
        x = self.embed(ids, self.tgt_embed, 0 if cache is None else cache.length)
        x = self.decoder(x, memory, tgt_key_padding_mask=tgt_padding_mask,
                         memory_key_padding_mask=memory_padding_mask,
                         tgt_is_causal=ids.shape[1] > 1 or cache is None, cache=cache,
                         attentions=attentions)
        return self.lm_head(x)

    def forward(self, input_ids, decoder_input_ids, attention_mask=None,
                decoder_attention_mask=None, return_attention=False):
        """Teacher forcing: logits (B, T, target vocab) for the token after each decoder input.

        attention_mask / decoder_attention_mask: (B, S) / (B, T), 1 where a token is
        real. When attention_mask is None it is `input_ids != pad_token_id`, as
        Hugging Face's generate builds it (its forward would attend to padding).
        With return_attention=True returns (logits, attentions): a dict from module
        path ("encoder.layers.0.self_attn", "decoder.layers.1.multihead_attn" (the
        cross-attention), ...) to per-head weights (B, nhead, T, S).
        """
        encoder, decoder = ({}, {}) if return_attention else (None, None)
        memory, padding = self.encode(input_ids, attention_mask, attentions=encoder)
        ids = self._check_ids(decoder_input_ids, "decoder_input_ids",
                              self.config.target_vocab_size)
        if ids.shape[0] != memory.shape[0]:
            raise ShapeError(f"MarianMT: input_ids {tuple(memory.shape[:2])} and "
                             f"decoder_input_ids {tuple(ids.shape)} have different batch sizes")
        tgt_padding = None
        if decoder_attention_mask is not None:
            tgt_padding = self._padding_mask(ids, decoder_attention_mask, "decoder_attention_mask")
        logits = self.decode(ids, memory, padding, tgt_padding, attentions=decoder)
        if not return_attention:
            return logits
        attentions = {f"encoder.{name}": w for name, w in encoder.items()}
        attentions.update({f"decoder.{name}": w for name, w in decoder.items()})
        return logits, attentions

    # ------------------------------------------------------------ the decoding protocol
    def start_decoding(self, input_ids, attention_mask=None, src_padding_mask=None):
        """Encode the source once; empty key/value caches for every decoder layer.

        The source mask is Hugging Face's attention_mask (1 = real token), or the
        decoders' src_padding_mask (True = padding); by default `ids == pad`.
        """
        if src_padding_mask is not None:
            if attention_mask is not None:
                raise MinigradError("MarianMT.start_decoding: give attention_mask or "
                                    "src_padding_mask, not both")
            m = src_padding_mask
            attention_mask = ~(m.array if isinstance(m, Tensor) else np.asarray(m)).astype(bool)
        memory, padding = self.encode(input_ids, attention_mask)
        c = self.config
        return MarianDecodingState(
            batch_size=memory.shape[0], vocab_size=c.target_vocab_size,
            max_positions=c.max_position_embeddings, pad_symbol=c.pad_token_id,
            device=memory.device, memory=memory, memory_mask=padding,
            cache=DecoderCache(c.decoder_layers))

    def decode_step(self, state, tokens):
        """tokens (B, n) new target ids -> logits (B, n, V); appends them to the caches."""
        return self.decode(tokens, state.memory, state.memory_mask, cache=state.cache)

    def reorder_decoding_state(self, state, rows):
        """Keep, repeat or reorder batch rows (beam expansion and reordering)."""
        return state.reorder(rows)

    # ------------------------------------------------------------ generation
    def generate(self, input_ids, attention_mask=None, **settings):
        """Translate: output ids (B, L) int64, starting with decoder_start_token_id.

        Settings default to `self.generation_config` (from the folder's
        generation_config.json) and may be overridden by keyword, with Hugging
        Face's names; see models/marian_hf.py's `generate`.
        """
        from .marian_hf import generate
        return generate(self, input_ids, attention_mask, **settings)

    # ------------------------------------------------------------ helpers
    def _padding_mask(self, ids, attention_mask, arg):
        """(B, L) bool, True at padding: from Hugging Face's attention_mask (1 = real token),
        or from the pad token."""
        if attention_mask is None:
            return Tensor._make(ids.array == self.config.pad_token_id, False, None)
        m = attention_mask.array if isinstance(attention_mask, Tensor) else np.asarray(attention_mask)
        if tuple(m.shape) != tuple(ids.shape):
            raise ShapeError(f"MarianMT: {arg} has shape {tuple(m.shape)}, expected the ids' "
                             f"shape {tuple(ids.shape)}")
        if m.dtype != np.bool_ and kind_of(m.dtype) not in "iuf":
            raise DTypeError(f"MarianMT: {arg} must be bool or 0/1 numbers, got dtype {m.dtype}")
        return Tensor._make(ids.xp.asarray(m) == 0, False, None)

    def _check_ids(self, ids, arg, vocab):
        name = "vocab_size" if vocab == self.config.vocab_size else "decoder_vocab_size"
        return token_ids(ids, "MarianMT", arg, vocab, vocab_name=name,
                         device=self.tgt_embed.weight.device)


def default_generation_config(config):
    """Hugging Face's generate defaults for a Marian config (no generation_config.json)."""
    return {"num_beams": 1, "max_length": 20, "min_length": 0, "length_penalty": 1.0,
            "early_stopping": False, "bad_words_ids": None, "renormalize_logits": False,
            "forced_eos_token_id": None, "eos_token_id": config.eos_token_id,
            "pad_token_id": config.pad_token_id,
            "decoder_start_token_id": config.decoder_start_token_id}

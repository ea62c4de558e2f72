"""A decoder-only Transformer language model with GPT-2's architecture.

    idx (B, T) -> wte(idx) + wpe(0..T-1) -> dropout
               -> n_layer x Block:  x = x + attn(ln_1(x))    causal self-attention
                                    x = x + mlp(ln_2(x))     GELU(tanh) feed-forward
               -> ln_f -> lm_head (tied to wte) -> logits (B, T, vocab_size)

It is the masked decoder self-attention of "Attention Is All You Need" on its own,
with the two changes GPT-2 made (Radford et al., 2019, section 2.3): layer norm moved
to the input of each sub-block (pre-norm) plus one after the last block, and a
residual-projection init scaled by 1/sqrt(2 n_layer). Module names follow nanoGPT
and Hugging Face's GPT2LMHeadModel (transformer.wte, transformer.h.0.ln_1, ...);
the attention is `nn.MultiheadAttention`, whose packed (3E, E) `in_proj_weight` is
exactly GPT-2's `c_attn` stored (out, in) instead of Conv1D's (in, out).

Generation goes through the decoding protocol (models/decoding/):
`start_decoding`, `decode_step`, `reorder_decoding_state`, with one growing
key/value cache per layer. Hugging Face folders load and save in
models/gpt_hf.py (`GPT.from_pretrained`, `GPT.save_pretrained`).
"""
import dataclasses
import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from minigrad.errors import IndexOutOfRangeError, MinigradError, ShapeError
from minigrad.nn import (GELU, Dropout, Embedding, KeyValueCache, LayerNorm, Linear, Module,
                         ModuleDict, ModuleList, MultiheadAttention, functional as F, init)
from minigrad.tensor import Tensor

from . import decoding
from ._checks import token_ids
from .decoding import DecodingState


@dataclass
class GPTConfig:
    """GPT-2's hyper-parameters, under Hugging Face's GPT2Config names.

    vocab_size: tokens in the vocabulary. n_positions (alias block_size, nanoGPT's
    name): the longest sequence, the rows of the learned position table. n_embd:
    the model width d_model. n_layer: blocks. n_head: attention heads (n_embd /
    n_head dims each). n_inner: the feed-forward width (None: 4 * n_embd).
    dropout: one probability for the embedding, attention-weight and residual
    dropouts (GPT-2's embd_pdrop, attn_pdrop, resid_pdrop). bias: biases in the
    linear layers and layer norms (GPT-2: True; nanoGPT allows False).
    layer_norm_epsilon: eps of every layer norm. activation_function: 'gelu_new'
    (GELU, tanh form, GPT-2's) or 'gelu' (exact erf form).
    """
    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: Optional[int] = None
    dropout: float = 0.0
    bias: bool = True
    layer_norm_epsilon: float = 1e-5
    activation_function: str = "gelu_new"

    def __post_init__(self):
        for name in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head"):
            if int(getattr(self, name)) <= 0:
                raise MinigradError(f"GPTConfig: {name} must be positive, got {getattr(self, name)}")
        if self.n_embd % self.n_head:
            raise ShapeError(f"GPTConfig: n_head={self.n_head} does not divide n_embd={self.n_embd}")
        if not 0.0 <= self.dropout < 1.0:
            raise MinigradError(f"GPTConfig: dropout must be in [0, 1), got {self.dropout}")
        if self.activation_function not in _GELU_FORMS:
            raise MinigradError(f"GPTConfig: activation_function must be one of "
                                f"{sorted(_GELU_FORMS)}, got {self.activation_function!r}")

    @property
    def inner_dim(self):
        """The feed-forward width: n_inner, or 4 * n_embd when n_inner is None."""
        return self.n_inner if self.n_inner is not None else 4 * self.n_embd

    def to_dict(self):
        return dataclasses.asdict(self)


def _init_with_block_size(init):
    """GPTConfig(block_size=...) as nanoGPT spells n_positions; not a field of its own, so
    dataclasses.replace and asdict see one setting."""
    def __init__(self, *args, block_size=None, **kwargs):
        if block_size is not None:
            if kwargs.get("n_positions", block_size) != block_size:
                raise MinigradError(f"GPTConfig: block_size={block_size} and n_positions="
                                    f"{kwargs['n_positions']} disagree (they are one setting)")
            kwargs["n_positions"] = block_size
        init(self, *args, **kwargs)
    __init__.__doc__ = init.__doc__
    return __init__


GPTConfig.__init__ = _init_with_block_size(GPTConfig.__init__)
# nanoGPT's name for n_positions, readable (and settable) on a config
GPTConfig.block_size = property(lambda self: self.n_positions,
                                lambda self, value: setattr(self, "n_positions", int(value)))

# Hugging Face's activation names -> nn.GELU's `approximate`
_GELU_FORMS = {"gelu_new": "tanh", "gelu_pytorch_tanh": "tanh", "gelu_fast": "tanh",
               "gelu": "none"}


class MLP(Module):
    """c_fc -> GELU -> c_proj -> dropout: the position-wise feed-forward of a block."""

    def __init__(self, config):
        super().__init__()
        self.c_fc = Linear(config.n_embd, config.inner_dim, bias=config.bias)
        self.gelu = GELU(approximate=_GELU_FORMS[config.activation_function])
        self.c_proj = Linear(config.inner_dim, config.n_embd, bias=config.bias)
        self.dropout = Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(Module):
    """One pre-norm Transformer block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, config):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon, bias=config.bias)
        self.attn = MultiheadAttention(config.n_embd, config.n_head, dropout=config.dropout,
                                       bias=config.bias, batch_first=True)
        self.resid_dropout = Dropout(config.dropout)
        self.ln_2 = LayerNorm(config.n_embd, eps=config.layer_norm_epsilon, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, cache=None, attentions=None):
        """x (B, T, n_embd) -> (B, T, n_embd). With a KeyValueCache, x holds only the new
        positions; they attend to the cached ones and to each other, causally.
        `attentions`: a dict to receive the per-head weights (B, n_head, T, S) as "attn"."""
        h = self.ln_1(x)
        a, weights = self.attn(h, h, h, need_weights=attentions is not None,
                               average_attn_weights=False, is_causal=True, cache=cache)
        if attentions is not None:
            attentions["attn"] = weights
        x = x + self.resid_dropout(a)
        return x + self.mlp(self.ln_2(x))


@dataclass
class GPTDecodingState(DecodingState):
    """What `GPT.decode_step` carries between calls: one growing key/value cache per
    block (`caches`), besides the fields every decoder reads (batch_size, vocab_size,
    max_positions = n_positions, device)."""
    caches: list = None

    @property
    def length(self):
        """Positions decoded so far (the position index of the next token)."""
        return len(self.caches[0]) if self.caches else 0


class GPT(Module):
    """GPT-2: a stack of causal pre-norm blocks over token and position embeddings.

    forward(idx (B, T) int ids, targets (B, T) int ids or None) returns the logits
    (B, T, vocab_size) float32 for the token after each position; with targets it
    returns (logits, loss), the mean cross-entropy in nats over the targets that are
    not -100 (PyTorch's ignore_index). return_attention=True adds a last element, a
    dict from module path ("transformer.h.0.attn", ...) to that layer's per-head
    attention weights (B, n_head, T, T) (rows: queries; before dropout). Raises IndexOutOfRangeError for ids outside the
    vocabulary, ShapeError for T > n_positions. Counterparts: nanoGPT's GPT and
    Hugging Face's GPT2LMHeadModel (same module names, same numbers given the same
    weights).
    """

    def __init__(self, config=None, **kwargs):
        super().__init__()
        if config is None:
            config = GPTConfig(**kwargs)
        elif kwargs:
            config = dataclasses.replace(config, **kwargs)
        self.config = config
        self.transformer = ModuleDict(dict(
            wte=Embedding(config.vocab_size, config.n_embd),
            wpe=Embedding(config.n_positions, config.n_embd),
            drop=Dropout(config.dropout),
            h=ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=LayerNorm(config.n_embd, eps=config.layer_norm_epsilon, bias=config.bias),
        ))
        self.lm_head = Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer["wte"].weight       # weight tying
        self._init_weights()

    def _init_weights(self):
        """GPT-2's init: every matrix and embedding N(0, 0.02^2), biases 0, layer norms 1/0,
        and the projections that write into the residual stream (attn.out_proj, the
        c_proj of the MLP) N(0, (0.02 / sqrt(2 n_layer))^2), so the sum of 2 n_layer
        residual branches keeps its scale."""
        std, residual_std = 0.02, 0.02 / math.sqrt(2 * self.config.n_layer)
        for name, p in self.named_parameters():
            if name.endswith(("out_proj.weight", "c_proj.weight")):
                init.normal_(p, 0.0, residual_std)
            elif p.ndim >= 2:
                init.normal_(p, 0.0, std)
            elif ".ln_" in name or name.startswith("transformer.ln_f"):
                init.ones_(p) if name.endswith("weight") else init.zeros_(p)
            else:
                init.zeros_(p)

    # ------------------------------------------------------------ forward
    def forward(self, idx, targets=None, return_attention=False):
        idx = self._check_ids(idx, "idx")
        attentions = {} if return_attention else None
        logits = self._logits(idx, start=0, caches=None, attentions=attentions)
        if targets is None:
            return (logits, attentions) if return_attention else logits
        targets = self._check_ids(targets, "targets", allow_ignore=True)
        if targets.shape != idx.shape:
            raise ShapeError(f"GPT: targets of shape {tuple(targets.shape)} must match idx "
                             f"{tuple(idx.shape)}")
        v = self.config.vocab_size
        loss = F.cross_entropy(logits.reshape(-1, v), targets.reshape(-1), ignore_index=-100)
        return (logits, loss, attentions) if return_attention else (logits, loss)

    def _logits(self, idx, start, caches, attentions=None):
        """Run the stack on positions start .. start+T-1 of idx (B, T)."""
        t = idx.shape[1]
        if start + t > self.config.n_positions:
            raise ShapeError(f"GPT: positions {start}..{start + t - 1} go past n_positions="
                             f"{self.config.n_positions} (the learned position table)")
        tr = self.transformer
        pos = Tensor(np.arange(start, start + t, dtype=np.int64), device=idx.device)
        x = tr["drop"](tr["wte"](idx) + tr["wpe"](pos))
        for i, block in enumerate(tr["h"]):
            layer = None if attentions is None else {}
            x = block(x, cache=None if caches is None else caches[i], attentions=layer)
            if layer:
                attentions[f"transformer.h.{i}.attn"] = layer["attn"]
        return self.lm_head(tr["ln_f"](x))

    # ------------------------------------------------------------ decoding protocol
    def start_decoding(self, prompt_or_batch_size=1):
        """A fresh decoding state with empty key/value caches.

        prompt_or_batch_size: the batch size (int), or the prompt ids (B, T) whose
        batch size to take (the prompt itself is fed by the first decode_step).
        """
        b = prompt_or_batch_size
        if not isinstance(b, (int, np.integer)):
            b = np.shape(b.array if isinstance(b, Tensor) else b)[0]
        if int(b) < 0:
            raise ShapeError(f"GPT.start_decoding: batch size must be >= 0, got {b}")
        c = self.config
        return GPTDecodingState(batch_size=int(b), vocab_size=c.vocab_size,
                                max_positions=c.n_positions,
                                device=self.transformer["wte"].weight.device,
                                caches=[KeyValueCache(static=False) for _ in range(c.n_layer)])

    def decode_step(self, state, tokens):
        """tokens (B, n) int64 ids of the next n positions -> logits (B, n, vocab_size).

        The positions continue from those already in `state` (0 on the first call,
        which may feed a whole prompt); their keys and values join the caches.
        """
        tokens = self._check_ids(tokens, "decode_step tokens")
        if tokens.shape[0] != state.batch_size:
            raise ShapeError(f"GPT.decode_step: tokens {tuple(tokens.shape)} have batch size "
                             f"{tokens.shape[0]}, the decoding state has {state.batch_size}")
        return self._logits(tokens, start=state.length, caches=state.caches)

    def reorder_decoding_state(self, state, rows):
        """Keep, repeat or reorder the batch rows `rows` (int64 (B',)) of every cache."""
        rows = np.asarray(rows.numpy() if isinstance(rows, Tensor) else rows)
        if rows.ndim != 1 or rows.dtype.kind not in "iu":
            raise ShapeError(f"GPT.reorder_decoding_state: rows must be 1-d integers, got "
                             f"shape {rows.shape}, dtype {rows.dtype}")
        if rows.size and (rows.min() < -state.batch_size or rows.max() >= state.batch_size):
            raise IndexOutOfRangeError(f"GPT.reorder_decoding_state: rows {rows.min()}.."
                                       f"{rows.max()} out of range for batch size "
                                       f"{state.batch_size}")
        for cache in state.caches:
            cache.reorder(rows)
        state.batch_size = len(rows)
        return state

    # ------------------------------------------------------------ generation
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None,
                 do_sample=True, end_symbol=None, generator=None, use_cache=True, **options):
        """Continue the prompts idx (B, T) by up to max_new_tokens tokens (nanoGPT's generate,
        through models.decoding): sampled with temperature, top_k and top_p, or greedy with
        do_sample=False or temperature=0. end_symbol: a token id or a list of them (stop
        tokens); generator: a seed or numpy Generator (default minigrad's, see
        manual_seed). Other options (bad_words_ids, min_length, pad_symbol, ...) as
        decoding.sample. Returns int64 ids (B, T + new), the prompt first; raises
        DecodingError when T + max_new_tokens exceeds n_positions.
        """
        common = dict(prompt=idx, max_new_tokens=max_new_tokens, end_symbol=end_symbol,
                      use_cache=use_cache, **options)
        if not do_sample or temperature == 0:
            return decoding.greedy_decode(self, idx, **common)
        return decoding.sample(self, idx, temperature=temperature, top_k=top_k, top_p=top_p,
                               generator=generator, **common)

    def beam_search(self, idx, beam_size=4, max_new_tokens=20, **options):
        """The best continuation of the prompts idx (B, T) by beam search (decoding.beam_search:
        style='gnmt' or 'hf', length_penalty, end_symbol, ...). -> (ids, scores)."""
        options.setdefault("end_symbol", None)
        return decoding.beam_search(self, idx, beam_size, prompt=idx,
                                    max_new_tokens=max_new_tokens, max_len=None, **options)

    # ------------------------------------------------------------ Hugging Face folders
    @classmethod
    def from_pretrained(cls, folder, dropout=None):
        """Load a Hugging Face GPT-2 folder (config.json + model.safetensors); see gpt_hf."""
        from .gpt_hf import load_gpt2
        return load_gpt2(cls, folder, dropout)

    def save_pretrained(self, folder):
        """Write a folder that transformers.GPT2LMHeadModel.from_pretrained loads."""
        from .gpt_hf import save_gpt2
        save_gpt2(self, folder)

    # ------------------------------------------------------------ helpers
    def _check_ids(self, ids, arg, allow_ignore=False):
        return token_ids(ids, "GPT", arg, self.config.vocab_size,          # plain ids go where
                         ignore_index=-100 if allow_ignore else None,      # the weights are
                         device=self.transformer["wte"].weight.device)

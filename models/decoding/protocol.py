"""The decoding protocol: what a model gives the decoders, and nothing more.

Greedy search, sampling and beam search (greedy.py, beam.py) are written once,
against three methods that any autoregressive model implements. An
encoder-decoder (Seq2SeqTransformer, Marian) runs its encoder in
`start_decoding`; a decoder-only model (GPT) just creates empty caches there.
The decoders never look inside the model or its state.
"""
from dataclasses import dataclass
from typing import Any, Optional, Protocol, runtime_checkable

import numpy as np

import minigrad as mg
from minigrad.tensor import Tensor

from . import arguments as check
from .processors import Processors


@runtime_checkable
class Decodable(Protocol):
    """An autoregressive model the decoders can drive (B = batch rows, V = vocabulary).

    state = model.start_decoding(*inputs, **kwargs)
        Runs what happens once per batch (an encoder over the source) and creates
        empty per-layer key/value caches. Returns a state object with at least
        `batch_size` (see DecodingState for the optional fields the decoders read).
    logits = model.decode_step(state, tokens)
        tokens: int64 Tensor (B, n), the NEW positions only (n >= 1; the first call
        may feed a whole prompt or the start token). Returns raw float logits
        (B, n, V), row t scoring the token after tokens[:, t], and appends the n
        positions to the caches in `state`.
    state = model.reorder_decoding_state(state, rows)
        rows: int64 array (B',) of batch rows to keep, repeat or reorder (beam
        expansion and beam reordering). Returns the state (it may be the same
        object, changed in place); later calls see B' rows.

    The decoders call these under `no_grad()` with the model in eval mode.
    """

    def start_decoding(self, *inputs, **kwargs): ...

    def decode_step(self, state, tokens): ...

    def reorder_decoding_state(self, state, rows): ...


@dataclass
class DecodingState:
    """What the decoders may read from a state; a model's state subclasses this.

    batch_size:    rows in the state (B).
    vocab_size:    V, when known: the decoders check token ids against it before decoding.
    max_positions: the most positions decode_step can take in all (a positional table's
                   size), or None when unbounded: max_len is checked against it up front.
    pad_symbol:    the id that fills rows after they end, when the model has one (the
                   decoders fall back to the end symbol); an explicit pad_symbol wins.
    device:        where decode_step wants its token ids ("cpu", "cuda:0").
    """
    batch_size: int
    vocab_size: Optional[int] = None
    max_positions: Optional[int] = None
    pad_symbol: Optional[int] = None
    device: str = "cpu"


@dataclass
class EncoderDecoderState(DecodingState):
    """The decoding protocol's state of an encoder-decoder (Seq2SeqTransformer, MarianMT):
    the encoder's memory (B, S, d_model), its padding mask (B, S), True at padding, or
    None, and the decoder's per-layer key/value caches (models.transformer.DecoderCache)."""
    memory: Any = None
    memory_mask: Any = None
    cache: Any = None
    sentences: Any = None    # (B,) int64: the source row of start_decoding each row came from

    def reorder(self, rows):
        """Keep, repeat or reorder the batch rows `rows` (B',) int64 of the memory, its
        mask and the caches (beam expansion and reordering); returns the state.

        The memory, its mask and the cross-attention caches depend only on which source
        sentence a row decodes. A reorder that leaves every row with its sentence (beam
        search choosing among the beams of each sentence) leaves them as they are and
        reorders only the self-attention caches."""
        rows = rows.numpy() if isinstance(rows, Tensor) else np.asarray(rows, dtype=np.int64)
        index = Tensor(rows, device=self.device)             # index arrays live with the data
        sentences = np.arange(self.batch_size) if self.sentences is None else self.sentences
        new_sentences = sentences[rows]
        same_sentences = np.array_equal(new_sentences, sentences)
        if not same_sentences:
            self.memory = self.memory[index]
            if self.memory_mask is not None:
                self.memory_mask = self.memory_mask[index]
        self.cache.reorder(index, static=not same_sentences)
        self.sentences = new_sentences
        self.batch_size = len(rows)
        return self


class Stepper:
    """Next-token logits for a growing batch of prefixes, through the protocol.

    With use_cache=True every call feeds only the positions not fed yet (the whole
    prefix the first time). With use_cache=False it starts a fresh state each step
    and feeds the whole prefix: the reference that cached decoding must equal.
    `keep_rows` follows beam expansion, reordering and finished rows leaving.
    """

    def __init__(self, model, inputs, kwargs, use_cache):
        self.model, self.inputs, self.kwargs, self.use_cache = model, inputs, kwargs, use_cache
        self.state = model.start_decoding(*inputs, **kwargs)
        self.rows = np.arange(self.state.batch_size)  # each row's row in a fresh state
        self.fed = 0                                   # positions already in the caches

    def next_logits(self, ys):
        """ys (n, t) int64 prefixes -> logits (n, V) numpy, for the token after each."""
        model = self.model
        if self.use_cache:
            state, new = self.state, ys[:, self.fed:]
        else:
            state = model.reorder_decoding_state(model.start_decoding(*self.inputs, **self.kwargs),
                                                 self.rows)
            new = ys
        logits = model.decode_step(state, Tensor(new, device=getattr(state, "device", "cpu")))
        self.fed = ys.shape[1]
        return logits[:, -1].numpy()

    def keep_rows(self, rows):
        """Keep (repeat, reorder) the rows named by `rows`, an int64 array."""
        self.rows = self.rows[rows]
        if self.use_cache:
            self.state = self.model.reorder_decoding_state(self.state, rows)


class eval_mode:
    """Decode with dropout off and no graph recorded; restore the training flag after."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.was_training = getattr(self.model, "training", None)
        if self.was_training is not None:
            self.model.eval()
        self.no_grad = mg.no_grad()
        self.no_grad.__enter__()

    def __exit__(self, *exc):
        self.no_grad.__exit__(*exc)
        if self.was_training is not None:
            self.model.train(self.was_training)


def start(op, model, src, src_padding_mask, use_cache, prompt, start_symbol, max_len,
          max_new_tokens, end_symbol, pad_symbol, bad_words_ids, min_length,
          forced_eos_token_id, renormalize_logits=False):
    """Check the arguments, start decoding; -> (stepper, first ids, max_len, ends, pad,
    processors). Shared by every decoder."""
    prompt_len = 1 if prompt is None else np.shape(prompt)[-1]
    max_len = check.total_length(op, max_len, max_new_tokens, prompt_len)
    ends = check.symbols(op, "end_symbol", end_symbol)
    pad = check.symbols(op, "pad_symbol", pad_symbol)
    forced = check.symbols(op, "forced_eos_token_id", forced_eos_token_id)
    min_length = check.integer(op, "min_length", min_length, minimum=0)
    bad = check.bad_words(op, bad_words_ids, ends)
    if not isinstance(renormalize_logits, (bool, np.bool_)):
        raise check.DecodingError(f"{op}: renormalize_logits must be True or False, got "
                                  f"{renormalize_logits!r}")
    if pad is not None and len(pad) != 1:
        raise check.DecodingError(f"{op}: pad_symbol must be one token id, got {pad_symbol!r}")
    if prompt is None and start_symbol is not None:
        check.integer(op, "start_symbol", start_symbol, minimum=0)
    inputs = src if isinstance(src, tuple) else (() if src is None else (src,))
    kwargs = {} if src_padding_mask is None else {"src_padding_mask": src_padding_mask}
    stepper = Stepper(model, inputs, kwargs, use_cache)
    ids = check.prompt_ids(op, prompt, start_symbol, stepper.state.batch_size)
    check.against_state(op, stepper.state, max_len, ids, end_symbol=ends, pad_symbol=pad,
                        forced_eos_token_id=forced, bad_words_ids=bad)
    if pad is None:
        pad = (getattr(stepper.state, "pad_symbol", None),)
    fill = pad[0] if pad[0] is not None else (ends[0] if ends else None)
    processors = Processors(ends, bad, min_length, forced, max_len, renormalize_logits)
    return stepper, ids, max_len, ends, fill, processors

"""Turning a model into output sequences: greedy search, sampling and beam search.

The decoders are written once, against the decoding protocol (protocol.py): any
autoregressive model that implements `start_decoding`, `decode_step` and
`reorder_decoding_state` decodes with all of them, and they know nothing else of
the model. Decoding is incremental: the model keeps per-layer key/value caches in
its state, and each step feeds only the newest token, so the work per step stops
growing with the prefix length. `use_cache=False` recomputes the whole prefix every
step; it gives the same tokens (the logits agree to float rounding) and exists for
tests and benchmarks.

    protocol.py    the protocol (Decodable, DecodingState) and the shared stepping
    arguments.py   argument checks for every decoder (DecodingError)
    processors.py  bad words, min length, forced end; temperature, top-k, top-p
    greedy.py      greedy_decode and sample (one loop)
    beam.py        beam_search: GNMT length penalty, or transformers' generate semantics

Sequences come back as (B, L) int64 arrays: the prompt (or start symbol), the
generated tokens, the end symbol, then the pad symbol once a sentence has ended.
"""
from ..transformer import DecoderCache

from .arguments import DecodingError
from .beam import beam_search, length_penalty_gnmt
from .greedy import greedy_decode, sample
from .protocol import Decodable, DecodingState, EncoderDecoderState

__all__ = ["Decodable", "DecodingState", "DecodingError", "DecoderCache", "EncoderDecoderState",
           "beam_search",
           "greedy_decode", "length_penalty_gnmt", "sample"]

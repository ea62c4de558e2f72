"""Turning a trained Seq2SeqTransformer into output sequences: greedy and beam search.

Both are batched over sentences, and both decode incrementally by default: a
`DecoderCache` keeps, for every decoder layer, the keys and values of the target
positions already decoded (self-attention) and of the encoder memory (cross-
attention, projected once). Each step then runs the decoder on the newest token
only, instead of recomputing the whole prefix: the work per step stops growing
with the prefix length. `use_cache=False` recomputes the prefix every step; it
gives the same tokens (the logits agree to float rounding) and exists for tests
and benchmarks.

Sequences come back as (B, L) int64 arrays: the start symbol, the generated
tokens, the end symbol, then `model.pad_idx` (or the end symbol when the model
has no pad_idx) once a sentence has ended.
"""
import numpy as np

import minigrad as mg
from minigrad.errors import MinigradError
from minigrad.nn import KeyValueCache
from minigrad.tensor import Tensor


class DecoderCache:
    """Per decoder layer, a growing self-attention cache and a static cross-attention cache."""

    def __init__(self, num_layers):
        self.layers = [(KeyValueCache(static=False), KeyValueCache(static=True))
                       for _ in range(num_layers)]

    def __iter__(self):
        return iter(self.layers)

    def __len__(self):
        return len(self.layers)

    @property
    def length(self):
        """How many target positions are cached (the next position's index)."""
        return len(self.layers[0][0]) if self.layers else 0

    def reorder(self, rows):
        """Keep (and reorder) the batch rows named by `rows`, in every layer."""
        for self_cache, cross_cache in self.layers:
            self_cache.reorder(rows)
            cross_cache.reorder(rows)


class _Stepper:
    """Runs the decoder one step at a time, with or without the cache, for a set of rows."""

    def __init__(self, model, memory, memory_mask, use_cache):
        self.model = model
        self.memory = memory
        self.memory_mask = memory_mask
        self.cache = DecoderCache(model.transformer.decoder.num_layers) if use_cache else None

    def next_logits(self, ys):
        """ys (n, t) ids -> logits (n, V) for position t+1."""
        model, device = self.model, self.memory.device
        if self.cache is not None:
            out = model.decode(Tensor(ys[:, -1:], device=device), self.memory, self.memory_mask,
                               cache=self.cache)
        else:
            out = model.decode(Tensor(ys, device=device), self.memory, self.memory_mask)
        return model.generator(out[:, -1]).numpy()

    def keep_rows(self, rows):
        rows = Tensor(rows, device=self.memory.device)     # index arrays live with the data
        self.memory = self.memory[rows]
        if self.memory_mask is not None:
            mask = self.memory_mask
            self.memory_mask = mask[rows] if isinstance(mask, Tensor) else \
                Tensor(mask, device=self.memory.device)[rows]
        if self.cache is not None:
            self.cache.reorder(rows)


class _eval_mode:
    """Decode with dropout off and no graph recorded; restore the training flag after."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.was_training = self.model.training
        self.model.eval()
        self.no_grad = mg.no_grad()
        self.no_grad.__enter__()

    def __exit__(self, *exc):
        self.no_grad.__exit__(*exc)
        self.model.train(self.was_training)


def _encode(model, src, src_padding_mask):
    src = src if isinstance(src, Tensor) else Tensor(np.asarray(src))
    if src_padding_mask is None:
        src_padding_mask = model.padding_mask(src)
    memory = model.encode(src, src_padding_mask)
    return src, memory, src_padding_mask


def _fill_symbol(model, end_symbol):
    return model.pad_idx if model.pad_idx is not None else end_symbol


def greedy_decode(model, src, max_len, start_symbol, end_symbol=None, src_padding_mask=None,
                  use_cache=True, return_logits=False):
    """Pick the most likely next token at every step.

    src: (B, S) ids. max_len: the longest output, start symbol included (as in the
    Annotated Transformer). A sentence stops at its own `end_symbol`; the loop stops
    when every sentence has. Returns ids (B, L); with return_logits=True also the
    logits (B, L - 1, V) that chose each generated token.
    """
    if max_len < 2:
        raise MinigradError(f"greedy_decode: max_len counts the start symbol, so it must be >= 2, "
                            f"got {max_len}")
    with _eval_mode(model):
        src, memory, mask = _encode(model, src, src_padding_mask)
        b = src.shape[0]
        stepper = _Stepper(model, memory, mask, use_cache)
        ys = np.full((b, 1), start_symbol, dtype=np.int64)
        done = np.zeros(b, dtype=bool)
        fill = _fill_symbol(model, end_symbol)
        step_logits = []
        for _ in range(max_len - 1):
            logits = stepper.next_logits(ys)
            step_logits.append(logits)
            token = logits.argmax(axis=-1).astype(np.int64)
            token[done] = fill
            ys = np.concatenate([ys, token[:, None]], axis=1)
            if end_symbol is not None:
                done |= token == end_symbol
                if done.all():
                    break
    if return_logits:
        return ys, np.stack(step_logits, axis=1)
    return ys


def _log_softmax(x):
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def length_penalty_gnmt(length, alpha):
    """lp(Y) = ((5 + |Y|) / 6)^alpha (Wu et al., 2016), used by the Transformer paper."""
    return ((5.0 + length) / 6.0) ** alpha


def beam_search(model, src, beam_size=4, max_len=50, start_symbol=1, end_symbol=2,
                length_penalty=0.6, src_padding_mask=None, use_cache=True):
    """Keep the `beam_size` best prefixes per sentence; return each sentence's best ending.

    Hypotheses are ranked by log P(Y | X) / lp(Y) with GNMT's length penalty
    (alpha = `length_penalty`; 0 ranks by plain log-probability; |Y| counts the
    generated tokens, end symbol included). Each step expands every live prefix by
    every token and keeps the 2 * beam_size best candidates: those that end in
    `end_symbol` and rank within the first beam_size become finished (and are never
    extended), the first beam_size others are the new live prefixes. A sentence is
    done when no live prefix can still beat its best finished hypothesis: with
    score s <= 0, a prefix's normalised score can at most reach s / lp(L) for the
    most favourable length L still allowed. Sentences that are done leave the
    batch; at max_len the live prefixes are finished as they are.

    Returns (ids (B, L), scores (B,)): the best hypothesis per sentence, start symbol
    first and padded after its end, and its normalised score.
    """
    k, alpha = int(beam_size), float(length_penalty)
    if k < 1 or max_len < 2:
        raise MinigradError(f"beam_search: need beam_size >= 1 and max_len >= 2 (start symbol plus "
                         f"at least one token), got beam_size={beam_size}, max_len={max_len}")
    max_new = max_len - 1                             # generated tokens at most

    def lp(length):
        return length_penalty_gnmt(length, alpha)

    with _eval_mode(model):
        src, memory, mask = _encode(model, src, src_padding_mask)
        b = src.shape[0]
        rows = np.repeat(np.arange(b), k)             # k copies of every sentence
        stepper = _Stepper(model, memory, mask, use_cache)
        stepper.keep_rows(rows)
        ys = np.full((b * k, 1), start_symbol, dtype=np.int64)
        scores = np.full((b, k), -np.inf)
        scores[:, 0] = 0.0                            # one live prefix to start with
        active = np.arange(b)                         # sentences still searching
        best_score = np.full(b, -np.inf)
        best_ids = [None] * b

        for length in range(1, max_new + 1):          # length = generated tokens after this step
            n = len(active)
            logp = _log_softmax(stepper.next_logits(ys).astype(np.float64))
            v = logp.shape[-1]
            cand = (scores[:, :, None] + logp.reshape(n, k, v)).reshape(n, k * v)
            width = min(2 * k, k * v)
            top = np.argpartition(-cand, width - 1, axis=1)[:, :width]
            top = np.take_along_axis(top, np.argsort(-np.take_along_axis(cand, top, 1), 1,
                                                     kind="stable"), 1)
            top_score = np.take_along_axis(cand, top, 1)
            parent, token = top // v, top % v
            is_end = (token == end_symbol) & np.isfinite(top_score)

            # finished: end symbol within the first k candidates
            finished = is_end & (np.arange(width) < k)
            norm = np.where(finished, top_score / lp(length), -np.inf)
            j = norm.argmax(axis=1)
            for i in np.flatnonzero(norm[np.arange(n), j] > best_score[active]):
                s = active[i]
                best_score[s] = norm[i, j[i]]
                best_ids[s] = np.append(ys[i * k + parent[i, j[i]]], end_symbol)

            # live: the first k candidates that do not end
            pick = np.argsort(is_end, axis=1, kind="stable")[:, :k]
            parent, token = np.take_along_axis(parent, pick, 1), np.take_along_axis(token, pick, 1)
            scores = np.take_along_axis(top_score, pick, 1)
            keep = (np.arange(n)[:, None] * k + parent).reshape(-1)
            ys = np.concatenate([ys[keep], token.reshape(-1, 1)], axis=1)
            stepper.keep_rows(keep)

            if length == max_new:                     # out of room: finish the live prefixes
                norm = scores / lp(length)
                j = norm.argmax(axis=1)
                for i in np.flatnonzero(norm[np.arange(n), j] > best_score[active]):
                    best_score[active[i]] = norm[i, j[i]]
                    best_ids[active[i]] = ys[i * k + j[i]]
                break

            # a live prefix can still win only if its best reachable normalised score beats
            # the best finished one (s <= 0, so s / lp(L) is largest at one end of L's range)
            reachable = np.maximum(scores / lp(length + 1), scores / lp(max_new)).max(axis=1)
            searching = reachable > best_score[active]
            if not searching.all():
                active = active[searching]
                if len(active) == 0:
                    break
                keep = (np.flatnonzero(searching)[:, None] * k + np.arange(k)).reshape(-1)
                ys, scores = ys[keep], scores[searching]
                stepper.keep_rows(keep)

    fill = _fill_symbol(model, end_symbol)
    width = max((len(x) for x in best_ids), default=1)     # (an empty batch: no sentences)
    out = np.full((b, width), fill, dtype=np.int64)
    for s, x in enumerate(best_ids):
        out[s, :len(x)] = x
    return out, best_score

"""A second model, unlike Seq2SeqTransformer, decodes through the same protocol: a toy
decoder-only model whose cache is a running sum of the embeddings seen so far."""
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import minigrad as mg
from minigrad.models.decoding import (Decodable, DecodingState, beam_search, greedy_decode,
                                      sample)

V, D, END = 7, 5, 0


@dataclass
class ToyState(DecodingState):
    total: Any = None          # (B, D): the sum of the embeddings fed so far (the "cache")


class ToyLM:
    """logits(next | prefix) = E[last] @ U + (sum of E over the prefix) @ W / 4."""

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.E, self.U, self.W = (rng.normal(size=s).astype(np.float32) * 1.5
                                  for s in ((V, D), (D, V), (D, V)))
        self.calls = 0

    def start_decoding(self, batch_size):
        return ToyState(batch_size=batch_size, vocab_size=V,
                        total=np.zeros((batch_size, D), np.float32))

    def decode_step(self, state, tokens):
        self.calls += 1
        emb = self.E[tokens.numpy()]                              # (B, n, D)
        totals = state.total[:, None] + np.cumsum(emb, axis=1)    # prefix sums
        state.total = totals[:, -1]
        return mg.tensor(emb @ self.U + totals @ self.W / 4)

    def reorder_decoding_state(self, state, rows):
        state.total = state.total[rows]
        state.batch_size = len(rows)
        return state

    def logits(self, prefix):
        """Recompute from scratch: (B, t) -> (B, V) for the next token."""
        emb = self.E[prefix]
        return emb[:, -1] @ self.U + emb.sum(1) @ self.W / 4


def _logp(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


PROMPT = np.array([[3, 1], [2, 5], [6, 6]])


def test_toy_model_follows_the_protocol():
    assert isinstance(ToyLM(), Decodable)


def test_greedy_on_a_decoder_only_model_with_a_prompt():
    model = ToyLM()
    ys = greedy_decode(model, (3,), prompt=PROMPT, max_new_tokens=6)
    expect = PROMPT.copy()
    for _ in range(6):
        expect = np.concatenate([expect, model.logits(expect).argmax(-1)[:, None]], 1)
    np.testing.assert_array_equal(ys, expect)
    model.calls = 0
    greedy_decode(model, (3,), prompt=PROMPT, max_new_tokens=6)
    assert model.calls == 6                       # one call per token, the prompt fed once


@pytest.mark.parametrize("style", ["gnmt", "hf"])
def test_beam_search_on_the_toy_model(style):
    model = ToyLM(1)
    greedy = greedy_decode(model, (3,), prompt=PROMPT, max_len=7, end_symbol=END)
    one, _ = beam_search(model, (3,), 1, 7, end_symbol=END, length_penalty=0.0, prompt=PROMPT,
                         style=style)
    np.testing.assert_array_equal(one, greedy)
    ids, scores = beam_search(model, (3,), 3, 7, end_symbol=END, length_penalty=0.0,
                              prompt=PROMPT, style=style)
    cached, _ = beam_search(model, (3,), 3, 7, end_symbol=END, length_penalty=0.0,
                            prompt=PROMPT, style=style, use_cache=False)
    np.testing.assert_array_equal(ids, cached)
    for row, score, g in zip(ids, scores, greedy):      # the reported score is the model's
        total, t = 0.0, 2
        while t < len(row) and (t == 2 or row[t - 1] != END):
            total += _logp(model.logits(row[None, :t]))[0, row[t]]
            t += 1
        assert score == pytest.approx(total, abs=1e-4)
        g_total = sum(_logp(model.logits(g[None, :t]))[0, g[t]]
                      for t in range(2, len(g)) if g[t - 1] != END or t == 2)
        assert score >= g_total - 1e-4


def test_sampling_on_the_toy_model_is_seeded_and_cache_equals_recomputation():
    model = ToyLM(2)
    a = sample(model, (3,), prompt=PROMPT, max_new_tokens=8, generator=5, top_k=4)
    b = sample(model, (3,), prompt=PROMPT, max_new_tokens=8, generator=5, top_k=4,
               use_cache=False)
    c = sample(model, (3,), prompt=PROMPT, max_new_tokens=8, generator=6, top_k=4)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    zero = sample(model, (3,), prompt=PROMPT, max_new_tokens=8, temperature=0.0)
    np.testing.assert_array_equal(zero, greedy_decode(model, (3,), prompt=PROMPT,
                                                      max_new_tokens=8))

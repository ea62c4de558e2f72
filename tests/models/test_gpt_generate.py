"""Generation from a GPT through models.decoding: top-k keeps only the k most likely
tokens, top-p the smallest nucleus, temperature 0 is greedy, a fixed seed reproduces
the text, stop tokens end a row, and cached sampling equals full recomputation."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.models import GPT, DecodingError, sample

V = 40


@pytest.fixture(scope="module")
def model():
    mg.manual_seed(1)
    m = GPT(vocab_size=V, n_positions=48, n_embd=32, n_layer=2, n_head=4)
    with mg.no_grad():                      # spread the next-token distribution out, so a
        m.transformer["wte"].weight.data *= 5     # nucleus is a real subset of the vocabulary
    return m.eval()


def _next_probs(model, prompt):
    with mg.no_grad():
        logits = model(prompt).numpy()[:, -1].astype(np.float64)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    return p / p.sum(-1, keepdims=True)


def _first_tokens(model, n, **kw):
    """The first sampled token of n rows that share one prompt."""
    prompt = np.tile(np.array([[3, 1, 4, 1, 5]]), (n, 1))
    return prompt, model.generate(prompt, 1, generator=7, **kw)[:, -1]


def test_top_k_keeps_only_the_k_most_likely(model):
    prompt, tokens = _first_tokens(model, 400, top_k=3)
    probs = _next_probs(model, prompt[:1])[0]
    top3 = set(np.argsort(-probs)[:3].tolist())
    assert set(tokens.tolist()) == top3


def test_top_p_keeps_the_smallest_nucleus(model):
    prompt, tokens = _first_tokens(model, 600, top_p=0.6)
    probs = _next_probs(model, prompt[:1])[0]
    order = np.argsort(-probs)
    size = int(np.searchsorted(np.cumsum(probs[order]), 0.6) + 1)   # smallest set reaching 0.6
    assert 1 < size < V // 2
    assert set(tokens.tolist()) == set(order[:size].tolist())


def test_temperature_zero_is_greedy(model):
    prompt = np.array([[1, 2, 3], [7, 8, 9]])
    greedy = model.generate(prompt, 15, do_sample=False)
    np.testing.assert_array_equal(model.generate(prompt, 15, temperature=0), greedy)
    np.testing.assert_array_equal(model.generate(prompt, 15, temperature=0.0, top_k=5), greedy)
    # a very low temperature samples the argmax too
    np.testing.assert_array_equal(model.generate(prompt, 15, temperature=1e-6, generator=0),
                                  greedy)


def test_fixed_seed_reproduces_the_text(model):
    prompt = np.array([[1, 2, 3], [7, 8, 9]])
    a = model.generate(prompt, 30, generator=123, top_p=0.9)
    np.testing.assert_array_equal(model.generate(prompt, 30, generator=123, top_p=0.9), a)
    assert not np.array_equal(model.generate(prompt, 30, generator=124, top_p=0.9), a)
    mg.manual_seed(5)                                   # the default generator follows manual_seed
    b = model.generate(prompt, 30)
    mg.manual_seed(5)
    np.testing.assert_array_equal(model.generate(prompt, 30), b)


def test_cached_sampling_equals_recomputation(model):
    prompt = np.array([[1, 2, 3], [7, 8, 9], [4, 4, 4]])
    kw = dict(prompt=prompt, max_new_tokens=25, temperature=0.8, top_k=10, generator=9,
              return_logits=True)
    ids, logits = sample(model, prompt, **kw)
    ids_full, logits_full = sample(model, prompt, use_cache=False, **kw)
    np.testing.assert_array_equal(ids, ids_full)
    np.testing.assert_allclose(logits, logits_full, rtol=1e-5, atol=1e-5)


def test_stop_tokens_end_rows(model):
    prompt = np.array([[1, 2, 3], [7, 8, 9]])
    free = model.generate(prompt, 20, generator=3)
    stop = int(free[0, 6])                              # a token row 0 does produce
    ids = model.generate(prompt, 20, generator=3, end_symbol=[stop, V - 1], pad_symbol=0)
    first = int(np.flatnonzero(np.isin(ids[0, 3:], [stop, V - 1]))[0]) + 3
    np.testing.assert_array_equal(ids[0, :first + 1], free[0, :first + 1])
    assert (ids[0, first + 1:] == 0).all()


def test_generation_arguments_are_checked(model):
    prompt = np.array([[1, 2, 3]])
    with pytest.raises(DecodingError, match="max_positions"):
        model.generate(prompt, 46)                      # 3 + 46 > n_positions = 48
    with pytest.raises(DecodingError, match="top_p"):
        model.generate(prompt, 5, top_p=1.5)
    with pytest.raises(DecodingError, match="vocabulary"):
        model.generate(np.array([[V]]), 5)
    assert model.training is False and model.generate(prompt, 45).shape == (1, 48)

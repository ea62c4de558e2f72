"""Sampling: temperature, top-k, top-p (nucleus), seeds, stop tokens, and that the draws
follow the model's distribution."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.models import Seq2SeqTransformer
from minigrad.models.decoding import sample
from minigrad.models.decoding.processors import softmax

START, END, PAD, V = 1, 2, 0, 12


@pytest.fixture(scope="module")
def model():
    mg.manual_seed(0)
    m = Seq2SeqTransformer(V, V, d_model=32, nhead=4, num_encoder_layers=1, num_decoder_layers=1,
                           dim_feedforward=48)
    with mg.no_grad():
        m.generator.weight.data *= 3.0                   # peakier distributions
    return m


def _src(b=64, seed=0):
    return np.random.default_rng(seed).integers(3, V, (b, 5))


def _ranks(logits, tokens):
    """Rank of each chosen token among its row's logits (0 = most likely)."""
    chosen = np.take_along_axis(logits, tokens[..., None], -1)
    return (logits > chosen).sum(-1)


def test_temperature_zero_and_top_k_one_are_greedy(model):
    src = _src()
    greedy = model.greedy_decode(src, 9, START, END)
    np.testing.assert_array_equal(model.sample(src, 9, START, END, temperature=0.0), greedy)
    np.testing.assert_array_equal(model.sample(src, 9, START, END, top_k=1, generator=3), greedy)


def test_a_seed_reproduces_the_samples(model):
    src = _src()
    a = model.sample(src, 9, START, generator=7)
    np.testing.assert_array_equal(a, model.sample(src, 9, START, generator=7))
    np.testing.assert_array_equal(a, model.sample(src, 9, START,
                                                  generator=np.random.default_rng(7)))
    assert not np.array_equal(a, model.sample(src, 9, START, generator=8))
    mg.manual_seed(3)
    b = model.sample(src, 9, START)
    mg.manual_seed(3)
    np.testing.assert_array_equal(b, model.sample(src, 9, START))   # minigrad's own generator


@pytest.mark.parametrize("k", [2, 4])
def test_top_k_draws_only_among_the_k_most_likely(model, k):
    ys, logits = model.sample(_src(256), 6, START, top_k=k, generator=0, return_logits=True)
    ranks = _ranks(logits, ys[:, 1:])
    assert ranks.max() == k - 1                          # all of the k, and none beyond them


@pytest.mark.parametrize("p", [0.5, 0.9])
def test_top_p_draws_only_from_the_smallest_nucleus(model, p):
    ys, logits = model.sample(_src(256), 6, START, top_p=p, temperature=0.8, generator=1,
                              return_logits=True)
    probs = softmax(logits.astype(np.float64) / 0.8)
    chosen = np.take_along_axis(probs, ys[:, 1:, None], -1)
    mass_before = np.where(probs > chosen, probs, 0).sum(-1)    # more likely tokens' mass
    assert mass_before.max() < p                         # it is inside the nucleus
    assert (mass_before > 0).any()                       # and not always the top token


def test_draws_follow_the_distribution(model):
    """The first token of 4000 draws: frequencies match softmax(logits / T) within 5 sigma."""
    src = np.repeat(_src(1), 4000, axis=0)
    ys, logits = model.sample(src, 2, START, temperature=1.5, generator=2, return_logits=True)
    probs = softmax(logits[0, 0].astype(np.float64) / 1.5)
    freq = np.bincount(ys[:, 1], minlength=V) / len(ys)
    sigma = np.sqrt(probs * (1 - probs) / len(ys))
    assert np.all(np.abs(freq - probs) <= 5 * sigma + 1e-3), (freq, probs)


def test_stop_tokens_and_max_new_tokens(model):
    src = _src(32)
    ys = model.sample(src, None, START, end_symbol=[END, 5], max_new_tokens=10, generator=4,
                      temperature=2.0)
    assert ys.shape[1] <= 11
    stopped = 0
    for row in ys:
        hits = np.flatnonzero(np.isin(row[1:], [END, 5]))
        if hits.size:
            stopped += 1
            assert np.all(row[hits[0] + 2:] == PAD)      # filled after its stop token
    assert stopped > 1


def test_sampling_arguments_are_checked(model):
    src = _src(2)
    for kwargs, name in [(dict(temperature=-1.0), "temperature"), (dict(top_k=1.5), "top_k"),
                         (dict(top_p=0.0), "top_p"), (dict(top_p=float("nan")), "top_p"),
                         (dict(generator="seed"), "generator")]:
        with pytest.raises(mg.MinigradError, match=f"sample: {name}"):
            sample(model, src, 5, START, **kwargs)

"""Greedy and beam-search decoding: the key/value cache changes nothing but the speed, beam 1
is greedy, a wider beam scores at least as well, and with a beam wide enough to keep every
prefix, beam search finds the exhaustive-search optimum (so its stopping rule is right)."""
import itertools

import numpy as np
import pytest

import minigrad as mg
from minigrad.models import Seq2SeqTransformer
from minigrad.models.decoding import DecoderCache, length_penalty_gnmt

START, END, PAD = 1, 2, 0


def _model(vocab=12, norm_first=False, end_bias=0.0, sharpen=1.0, layers=2):
    model = Seq2SeqTransformer(vocab, vocab, d_model=32, nhead=4, num_encoder_layers=layers,
                               num_decoder_layers=layers, dim_feedforward=48, dropout=0.1,
                               norm_first=norm_first)
    with mg.no_grad():
        model.generator.weight.data *= sharpen            # peakier distributions, fewer ties
        model.generator.bias.data[END] += end_bias         # make the end symbol likely
    return model


def _src(rng, vocab, b=4, n=7):
    src = rng.integers(3, vocab, (b, n))
    src[1, -2:] = PAD                                      # padded sentences in the batch
    src[3, -4:] = PAD
    return src


def _log_prob(model, src, ys):
    """log P(ys[1:] | src) under the model, by teacher forcing; stops after the end symbol."""
    model.eval()
    with mg.no_grad():
        memory = model.encode(mg.tensor(src))
        mask = model.padding_mask(mg.tensor(src))
        logits = model.generator(model.decode(mg.tensor(ys[:, :-1]), memory, mask)).numpy()
    logp = logits - logits.max(-1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    picked = np.take_along_axis(logp, ys[:, 1:, None], -1)[..., 0].astype(np.float64)
    ended = np.cumsum(ys[:, 1:] == END, axis=1)
    alive = (ended == 0) | ((ended == 1) & (ys[:, 1:] == END))     # up to the first end symbol
    return (picked * alive).sum(1), alive.sum(1)


@pytest.mark.parametrize("norm_first", [False, True])
def test_cached_greedy_equals_full_recomputation(norm_first):
    rng = np.random.default_rng(0)
    model = _model(norm_first=norm_first)
    src = _src(rng, 12)
    ys, logits = model.greedy_decode(src, 12, START, return_logits=True)
    ys_full, logits_full = model.greedy_decode(src, 12, START, use_cache=False, return_logits=True)
    np.testing.assert_array_equal(ys, ys_full)
    np.testing.assert_allclose(logits, logits_full, rtol=1e-5, atol=1e-5)
    assert ys.shape == (4, 12) and logits.shape == (4, 11, 12)
    assert model.training                                    # decoding restored the mode


def test_cache_holds_every_layer_and_the_memory_once():
    rng = np.random.default_rng(1)
    model = _model()
    model.eval()
    src = mg.tensor(_src(rng, 12))
    cache = DecoderCache(2)
    with mg.no_grad():
        memory = model.encode(src)
        for step in range(3):
            model.decode(mg.tensor(np.full((4, 1), START)), memory, cache=cache)
            assert cache.length == step + 1
    for self_kv, cross_kv in cache:
        assert self_kv.k.shape == (4, 4, 3, 8)               # (B, h, decoded positions, d_k)
        assert cross_kv.static and cross_kv.k.shape == (4, 4, 7, 8)   # the memory, once
    first_cross = cache.layers[0][1].k
    with mg.no_grad():
        model.decode(mg.tensor(np.full((4, 1), START)), memory, cache=cache)
    assert cache.layers[0][1].k is first_cross               # not recomputed


def test_cache_with_a_graph_is_differentiable_and_equals_the_buffered_cache():
    """Under no_grad the cache writes into growing buffers; with a graph it concatenates."""
    rng = np.random.default_rng(7)
    model = _model()
    model.eval()
    src, tgt = mg.tensor(_src(rng, 12)), rng.integers(3, 12, (4, 5))
    outputs = {}
    for recorded in (False, True):
        with mg.set_grad_enabled(recorded):
            memory, cache = model.encode(src), DecoderCache(2)
            steps = [model.decode(mg.tensor(tgt[:, i:i + 1]), memory, cache=cache)
                     for i in range(tgt.shape[1])]
        outputs[recorded] = steps
    for a, b in zip(outputs[False], outputs[True]):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6)
    full = model.decode(mg.tensor(tgt), model.encode(src)).numpy()
    np.testing.assert_allclose(np.concatenate([o.numpy() for o in outputs[False]], axis=1), full,
                               rtol=1e-5, atol=1e-5)
    # the recorded cache gives the same gradients as the full decoder run
    outputs[True][-1].sum().backward()
    cached_grads = {k: p.grad for k, p in model.named_parameters()}
    model.zero_grad()
    model.decode(mg.tensor(tgt), model.encode(src))[:, -1].sum().backward()
    for name, p in model.named_parameters():
        if name.startswith("generator."):                    # decode() stops before it
            assert p.grad is None and cached_grads[name] is None
            continue
        np.testing.assert_allclose(cached_grads[name].numpy(), p.grad.numpy(), rtol=1e-4,
                                   atol=1e-5, err_msg=name)


def test_greedy_sentences_end_on_their_own_end_symbol():
    rng = np.random.default_rng(2)
    model = _model(end_bias=1.0, layers=1)
    src = _src(rng, 12, b=8)
    ys = model.greedy_decode(src, 15, START, END)
    ends = [int(np.argmax(row == END)) if END in row else None for row in ys]
    assert len(set(ends)) > 2, f"test needs sentences that end at different steps: {ends}"
    for row, end in zip(ys, ends):
        if end is not None:
            assert np.all(row[end + 1:] == PAD)              # nothing after its end symbol
    for i in range(len(src)):                                # batched == one sentence at a time
        alone = model.greedy_decode(src[i:i + 1], 15, START, END)[0]
        np.testing.assert_array_equal(alone, ys[i, :len(alone)])
        assert np.all(ys[i, len(alone):] == PAD)


def test_beam_search_with_and_without_cache_agree():
    rng = np.random.default_rng(3)
    model = _model(end_bias=1.0, layers=1)
    src = _src(rng, 12)
    a, sa = model.beam_search(src, 3, 12, START, END, length_penalty=0.6)
    b, sb = model.beam_search(src, 3, 12, START, END, length_penalty=0.6, use_cache=False)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(sa, sb, rtol=1e-5)


def test_beam_of_one_is_greedy():
    rng = np.random.default_rng(4)
    model = _model(end_bias=1.0, layers=1)
    src = _src(rng, 12, b=8)
    greedy = model.greedy_decode(src, 14, START, END)
    assert len({int(np.argmax(row == END)) for row in greedy}) > 2     # varied lengths
    beam, scores = model.beam_search(src, 1, 14, START, END, length_penalty=0.0)
    np.testing.assert_array_equal(beam, greedy)
    logp, _ = _log_prob(model, src, greedy)
    np.testing.assert_allclose(scores, logp, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_beam_of_four_scores_at_least_as_high_as_greedy(alpha):
    rng = np.random.default_rng(5)
    model = _model(end_bias=1.0, layers=1)
    src = _src(rng, 12, b=8)
    greedy = model.greedy_decode(src, 14, START, END)
    beam, scores = model.beam_search(src, 4, 14, START, END, length_penalty=alpha)
    g_logp, g_len = _log_prob(model, src, greedy)
    b_logp, b_len = _log_prob(model, src, beam)
    g_score = g_logp / length_penalty_gnmt(g_len, alpha)
    np.testing.assert_allclose(scores, b_logp / length_penalty_gnmt(b_len, alpha), rtol=1e-5,
                               atol=1e-5)                      # the score it reports is the model's
    assert np.all(scores >= g_score - 1e-5)
    assert np.any(scores > g_score + 1e-3)                     # and the search did find better ones


@pytest.mark.parametrize("alpha", [0.0, 0.6, 2.0, -1.0])
def test_wide_beam_finds_the_exhaustive_optimum(alpha):
    """Beam wide enough to keep every prefix: only the stopping rule can make it miss."""
    vocab, max_len = 5, 5                                     # up to 4 generated tokens
    rng = np.random.default_rng(6)
    model = _model(vocab=vocab, end_bias=1.0, sharpen=3.0, layers=1)
    src = rng.integers(3, vocab, (3, 4))
    beam, scores = model.beam_search(src, 4 ** 4 * 2, max_len, START, END, length_penalty=alpha)

    others = [t for t in range(vocab) if t != END]
    candidates = [list(p) + [END] for n in range(max_len - 1) for p in itertools.product(others, repeat=n)]
    candidates += [list(p) for p in itertools.product(others, repeat=max_len - 1)]   # never ended
    ys = np.array([[START] + c + [PAD] * (max_len - 1 - len(c)) for c in candidates])
    for i in range(len(src)):
        logp, length = _log_prob(model, np.repeat(src[i:i + 1], len(ys), 0), ys)
        norm = logp / length_penalty_gnmt(length, alpha)
        best = int(np.argmax(norm))
        assert scores[i] == pytest.approx(norm[best], abs=1e-5)
        np.testing.assert_array_equal(beam[i, :max_len], ys[best][:beam.shape[1]])


def test_decoding_records_no_graph_and_checks_arguments():
    """Every decode_step runs with autograd off: its logits have no grad_fn (no graph is
    kept alive across steps), although the parameters require gradients."""
    model = _model()
    seen = []
    step = model.decode_step

    def spy(state, tokens):
        logits = step(state, tokens)
        seen.append((mg.is_grad_enabled(), logits.requires_grad, logits.grad_fn))
        return logits

    model.decode_step = spy
    src = np.array([[3, 4, 5]])
    assert all(p.requires_grad for p in model.parameters())
    ys = model.greedy_decode(src, 4, START)
    model.beam_search(src, 2, 4, START, END)
    model.sample(src, 4, START, generator=0)
    assert ys.dtype == np.int64
    assert len(seen) >= 6 and all(s == (False, False, None) for s in seen), seen
    assert mg.is_grad_enabled()                              # and autograd is back on after
    with pytest.raises(mg.MinigradError, match=r"max_len"):
        model.beam_search(src, 2, 1, START, END)
    with pytest.raises(mg.IndexOutOfRangeError, match=r"src token id 12"):
        model.greedy_decode(np.array([[3, 12]]), 4, START)

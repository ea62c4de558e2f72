"""The decoders' fast paths give exactly what the plain ones give: the key/value cache
reordered through its second pair of buffers equals fancy indexing, a reorder that keeps
every row with its sentence leaves the memory and cross-attention caches alone, and the
beams' top-k by repeated argmax equals a full sort."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.models import Seq2SeqTransformer
from minigrad.models.decoding.beam import _top
from minigrad.nn import KeyValueCache


def _heads(rng, rows, n):
    return mg.tensor(rng.standard_normal((rows, 2, n, 3)).astype(np.float32))


@pytest.mark.parametrize("static", [False, True])
def test_buffered_reorder_equals_fancy_indexing(static):
    rng = np.random.default_rng(0)
    cache = KeyValueCache(static=static)
    k, v = _heads(rng, 4, 3), _heads(rng, 4, 3)
    cache.update(k, v)
    ref_k, ref_v = k.numpy(), v.numpy()
    for index in ([1, 1, 3, 0], [3, 2, 1, 0, 0, 2], [5, 0], [1, -2, 0]):
        with mg.no_grad():
            cache.reorder(np.array(index))
        ref_k, ref_v = ref_k[index], ref_v[index]
        assert np.array_equal(cache.k.numpy(), ref_k) and np.array_equal(cache.v.numpy(), ref_v)
        if not static:                 # a new position appends after the reordered rows
            new_k, new_v = _heads(rng, len(index), 1), _heads(rng, len(index), 1)
            with mg.no_grad():
                cache.update(new_k, new_v)
            ref_k = np.concatenate([ref_k, new_k.numpy()], 2)
            ref_v = np.concatenate([ref_v, new_v.numpy()], 2)
            assert np.array_equal(cache.k.numpy(), ref_k)
            assert np.array_equal(cache.v.numpy(), ref_v)


def test_reorder_never_writes_into_the_tensors_it_was_given():
    rng = np.random.default_rng(1)
    k, v = _heads(rng, 3, 2), _heads(rng, 3, 2)
    before = k.numpy().copy()
    cache = KeyValueCache()
    cache.update(k, v)
    for index in ([2, 1, 0], [0, 0, 1]):
        cache.reorder(np.array(index))
    assert np.array_equal(k.numpy(), before)


def test_a_reorder_within_sentences_keeps_the_memory_and_cross_caches():
    mg.manual_seed(2)
    rng = np.random.default_rng(2)
    model = Seq2SeqTransformer(11, 11, d_model=16, nhead=2, num_encoder_layers=1,
                               num_decoder_layers=2, dim_feedforward=24, dropout=0.0).eval()
    src = rng.integers(3, 11, (2, 5))
    with mg.no_grad():
        state = model.start_decoding(mg.tensor(src))
        state = model.reorder_decoding_state(state, np.array([0, 0, 0, 1, 1, 1]))  # 3 beams
        model.decode_step(state, mg.tensor(np.ones((6, 1), np.int64)))
        memory, cross = state.memory, [c.k for _, c in state.cache]
        state = model.reorder_decoding_state(state, np.array([2, 0, 0, 5, 3, 3]))
        assert state.memory is memory and all(c.k is k for (_, c), k in zip(state.cache, cross))
        state = model.reorder_decoding_state(state, np.array([3, 4, 5]))   # sentence 0 ends
        assert state.memory.shape[0] == 3 and all(c.k.shape[0] == 3 for _, c in state.cache)
        full = model.encode(mg.tensor(src[[1, 1, 1]]))
        # the rows of sentence 1, up to float32 rounding (a batch of 3 need not round as
        # the batch of 2 did: BLAS may sum a row in another order)
        np.testing.assert_allclose(state.memory.numpy(), full.numpy(), rtol=1e-5, atol=1e-6)


def test_beam_search_picks_the_same_with_and_without_the_shortcuts():
    """Beam search over a batch whose sentences finish at different steps equals the
    uncached search (which reorders nothing and re-encodes every step)."""
    rng = np.random.default_rng(3)
    model = Seq2SeqTransformer(13, 13, d_model=16, nhead=2, num_encoder_layers=1,
                               num_decoder_layers=2, dim_feedforward=24, dropout=0.0).eval()
    with mg.no_grad():
        model.generator.bias.data[2] += 2.0          # the end symbol: rows end early
    src = rng.integers(3, 13, (5, 6))
    a = model.beam_search(src, beam_size=3, max_len=9, start_symbol=1, end_symbol=2)
    b = model.beam_search(src, beam_size=3, max_len=9, start_symbol=1, end_symbol=2,
                          use_cache=False)
    assert np.array_equal(a[0], b[0])


def test_top_by_argmax_equals_a_stable_sort():
    rng = np.random.default_rng(4)
    for _ in range(50):
        n, m = rng.integers(1, 6), rng.integers(1, 40)
        cand = rng.integers(-3, 3, (n, m)).astype(np.float64)       # many ties
        cand[rng.random((n, m)) < 0.3] = -np.inf                    # impossible tokens
        width = int(rng.integers(1, min(m, 16) + 1))
        expected = np.argsort(-cand, axis=1, kind="stable")[:, :width]
        assert np.array_equal(_top(cand, width), expected)
    cand = rng.standard_normal((3, 100))
    assert np.array_equal(_top(cand, 40), np.argsort(-cand, axis=1, kind="stable")[:, :40])


@pytest.mark.parametrize("norm_first", [False, True])
def test_attention_decoding_on_arrays_gives_the_same_bits_as_the_ops(norm_first, monkeypatch):
    """nn.MultiheadAttention._decode_step (one new position under no_grad) equals the
    module's op-by-op forward: greedy ids and logits, and beam search, bit for bit; and
    it is the path decoding takes."""
    import minigrad.nn.attention as attention
    rng = np.random.default_rng(5)
    model = Seq2SeqTransformer(40, 40, d_model=32, nhead=4, num_encoder_layers=2,
                               num_decoder_layers=2, dim_feedforward=48, dropout=0.1,
                               norm_first=norm_first).eval()
    src = rng.integers(3, 40, (5, 9))
    src[1, -3:] = 0                                    # padding: a key padding mask
    calls = []
    fast = attention.MultiheadAttention._decode_step
    monkeypatch.setattr(attention.MultiheadAttention, "_decode_step",
                        lambda self, *a: calls.append(1) or fast(self, *a))
    results = []
    for on_arrays in (True, False):
        if not on_arrays:
            monkeypatch.setattr(attention.MultiheadAttention, "_decodes_on_arrays",
                                lambda self, *a: False)
        ids, logits = model.greedy_decode(src, 12, 1, 2, return_logits=True)
        beams = model.beam_search(src, 3, 12, 1, 2)[0]
        results.append((ids, np.asarray(logits), beams))
        if on_arrays:
            assert calls, "decoding did not take the fused path"
            calls.clear()
    assert not calls
    for a, b in zip(*results):
        assert np.array_equal(a, b)

"""The Transformer's parts and their contracts: causality, padding, positional encoding,
scaled embeddings, feed-forward, weight tying, and clear errors for bad input."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.errors import DTypeError, IndexOutOfRangeError, MinigradError, ShapeError
from minigrad.models import Seq2SeqTransformer, Transformer, generate_square_subsequent_mask

V = 13


def _seq2seq(**kw):
    args = dict(d_model=32, nhead=4, num_encoder_layers=2, num_decoder_layers=2,
                dim_feedforward=48, dropout=0.0)
    args.update(kw)
    return Seq2SeqTransformer(V, V, **args)


def _ids(rng, b, n, low=1):
    return rng.integers(low, V, (b, n))


# ------------------------------------------------------------------ causality and padding
@pytest.mark.parametrize("norm_first", [False, True])
def test_changing_target_token_t_never_changes_outputs_before_t(norm_first):
    rng = np.random.default_rng(0)
    model = _seq2seq(norm_first=norm_first)
    src, tgt = _ids(rng, 2, 6), _ids(rng, 2, 8)
    before = model(src, tgt).numpy()
    for t in (0, 3, 7):
        changed = tgt.copy()
        changed[:, t] = changed[:, t] % (V - 1) + 1          # a different non-pad token
        after = model(src, changed).numpy()
        np.testing.assert_allclose(after[:, :t], before[:, :t], rtol=0, atol=1e-6)
        assert not np.allclose(after[:, t], before[:, t])    # and position t does see it


def test_causal_mask_float_and_bool_agree_at_transformer_level():
    model = Transformer(32, 4, 1, 2, 48, dropout=0.0, batch_first=True)
    src, tgt = mg.randn(2, 6, 32), mg.randn(2, 5, 32)
    a = model(src, tgt, tgt_mask=generate_square_subsequent_mask(5))
    b = model(src, tgt, tgt_mask=generate_square_subsequent_mask(5, dtype=mg.bool_))
    c = model(src, tgt, tgt_is_causal=True)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(a.numpy(), c.numpy(), rtol=1e-6, atol=1e-6)


def test_padding_positions_of_the_source_are_ignored():
    rng = np.random.default_rng(1)
    model = _seq2seq()
    src, tgt = _ids(rng, 1, 6), _ids(rng, 1, 5)
    padded = np.concatenate([src, np.zeros((1, 3), np.int64)], axis=1)   # pad_idx = 0
    np.testing.assert_allclose(model(padded, tgt).numpy(), model(src, tgt).numpy(),
                               rtol=1e-5, atol=1e-5)


def test_fully_padded_source_row_gives_finite_outputs_and_gradients():
    rng = np.random.default_rng(2)
    model = _seq2seq()
    src, tgt = _ids(rng, 3, 6), _ids(rng, 3, 5)
    src[1] = 0                                                # every source token is padding
    tgt[2, 3:] = 0                                            # and some target padding
    logits = model(src, tgt)
    loss = mg.cross_entropy(logits.reshape(-1, V), mg.tensor(_ids(rng, 3, 5).reshape(-1)))
    loss.backward()
    assert np.isfinite(logits.numpy()).all()
    for name, p in model.named_parameters():
        assert p.grad is not None and np.isfinite(p.grad.numpy()).all(), name


def test_fully_masked_query_rows_in_transformer_are_finite():
    model = Transformer(32, 4, 1, 1, 48, dropout=0.0)
    src = mg.randn(6, 2, 32, requires_grad=True)
    tgt = mg.randn(4, 2, 32, requires_grad=True)
    tgt_mask = np.zeros((4, 4), bool)
    tgt_mask[1] = True                                        # query 1 sees no target position
    pad = np.zeros((2, 6), bool)
    pad[0] = True
    out = model(src, tgt, tgt_mask=tgt_mask, src_key_padding_mask=pad, memory_key_padding_mask=pad)
    (out ** 2).sum().backward()
    assert np.isfinite(out.numpy()).all()
    assert np.isfinite(src.grad.numpy()).all() and np.isfinite(tgt.grad.numpy()).all()


# ------------------------------------------------------------------ the parts
def test_positional_encoding_is_sine_on_even_and_cosine_on_odd_dimensions():
    d, n = 16, 50
    pe_module = nn.PositionalEncoding(d, dropout=0.0, max_len=n)
    pe = pe_module.pe.numpy()
    pos = np.arange(n)[:, None]
    freq = 1.0 / 10000 ** (np.arange(0, d, 2) / d)
    np.testing.assert_allclose(pe[:, 0::2], np.sin(pos * freq), atol=1e-6)
    np.testing.assert_allclose(pe[:, 1::2], np.cos(pos * freq), atol=1e-6)
    x = mg.zeros(2, 5, d)
    np.testing.assert_array_equal(pe_module(x).numpy(), np.broadcast_to(pe[:5], (2, 5, d)))
    np.testing.assert_array_equal(pe_module(x, start=7).numpy()[0], pe[7:12])
    seq_first = nn.PositionalEncoding(d, dropout=0.0, max_len=n, batch_first=False)
    np.testing.assert_array_equal(seq_first(mg.zeros(5, 2, d)).numpy()[:, 1], pe[:5])
    assert "pe" not in pe_module.state_dict()               # recomputed, never saved
    with pytest.raises(ShapeError, match=r"exceed max_len=50"):
        pe_module(mg.zeros(1, 51, d))


def test_positional_encoding_applies_dropout_after_adding():
    pe = nn.PositionalEncoding(8, dropout=0.5, max_len=10)
    out = pe(mg.ones(4, 10, 8)).numpy()
    expected = (1.0 + pe.pe.numpy()[:10]) * 2.0                # survivors scaled by 1 / (1 - p)
    kept = out != 0
    assert 0.3 < kept.mean() < 0.7
    np.testing.assert_allclose(out[kept], np.broadcast_to(expected, out.shape)[kept], rtol=1e-6)
    pe.eval()
    np.testing.assert_allclose(pe(mg.ones(4, 10, 8)).numpy(), np.broadcast_to(expected / 2, out.shape),
                               rtol=1e-6)


def test_token_embedding_is_scaled_by_sqrt_d_model():
    emb = nn.TokenEmbedding(V, 16, padding_idx=0)
    ids = np.array([[0, 3, 5]])
    out = emb(ids).numpy()
    np.testing.assert_allclose(out[0, 1:], emb.embedding.weight.numpy()[[3, 5]] * math.sqrt(16),
                               rtol=1e-6)
    assert np.all(out[0, 0] == 0)


@pytest.mark.parametrize("activation", ["relu", "gelu", mg.tanh])
def test_feed_forward_is_linear_activation_linear(activation):
    ff = nn.FeedForward(8, 20, dropout=0.0, activation=activation)
    x = mg.randn(3, 4, 8)
    act = {"relu": mg.relu, "gelu": mg.gelu}.get(activation, activation)
    hidden = act(x @ ff.linear1.weight.T + ff.linear1.bias)
    np.testing.assert_allclose(ff(x).numpy(), (hidden @ ff.linear2.weight.T + ff.linear2.bias).numpy(),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(MinigradError, match=r"activation should be 'relu', 'gelu' or a callable"):
        nn.FeedForward(8, 20, activation="swish")


def test_transformer_init_is_xavier_uniform_for_matrices():
    model = Transformer(32, 4, 1, 1, 64)
    w = model.encoder.layers[0].feed_forward.linear1.weight.numpy()
    bound = math.sqrt(6.0 / (32 + 64))
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.all(model.encoder.norm.weight.numpy() == 1)


def test_tied_weights_share_one_parameter_and_its_gradient():
    tied = _seq2seq(tie_weights=True, share_embeddings=True)
    untied = _seq2seq()
    w = tied.tgt_tok_emb.embedding.weight
    assert tied.generator.weight is w and tied.src_tok_emb.embedding.weight is w
    assert untied.num_parameters() - tied.num_parameters() == 2 * V * 32
    rng = np.random.default_rng(3)
    src, tgt = _ids(rng, 2, 5), _ids(rng, 2, 4)
    logits = tied(src, tgt)
    mg.cross_entropy(logits.reshape(-1, V), mg.tensor(_ids(rng, 2, 4).reshape(-1))).backward()
    # the shared matrix collects gradient from the generator too: rows of tokens never seen
    # as input still get one
    unseen = sorted(set(range(1, V)) - set(src.ravel()) - set(tgt.ravel()))
    assert unseen and np.abs(w.grad.numpy()[unseen]).sum() > 0
    with pytest.raises(ShapeError, match=r"share_embeddings needs one vocabulary"):
        Seq2SeqTransformer(10, 12, 32, 4, 1, 1, 48, share_embeddings=True)


def test_state_dict_names_follow_pytorch_tutorial_layout():
    names = set(_seq2seq(num_encoder_layers=1, num_decoder_layers=1).state_dict())
    for expected in ("src_tok_emb.embedding.weight", "tgt_tok_emb.embedding.weight",
                     "generator.weight", "transformer.encoder.norm.weight",
                     "transformer.encoder.layers.0.self_attn.in_proj_weight",
                     "transformer.decoder.layers.0.multihead_attn.out_proj.weight",
                     "transformer.decoder.layers.0.feed_forward.linear1.weight",
                     "transformer.decoder.layers.0.norm3.bias"):
        assert expected in names


# ------------------------------------------------------------------ bad input
def test_nhead_must_divide_d_model():
    with pytest.raises(ShapeError, match=r"num_heads=5 does not divide embed_dim=48"):
        Transformer(48, 5, 1, 1, 64)


def test_wrong_embedding_dimension_names_d_model():
    model = Transformer(32, 4, 1, 1, 48)
    with pytest.raises(ShapeError, match=r"feature size of src \(6, 2, 30\) and tgt \(5, 2, 32\) "
                                         r"must equal d_model=32"):
        model(mg.randn(6, 2, 30), mg.randn(5, 2, 32))
    with pytest.raises(ShapeError, match=r"different batch sizes 2 and 3"):
        model(mg.randn(6, 2, 32), mg.randn(5, 3, 32))


def test_mask_of_wrong_shape_or_dtype_names_the_argument():
    model = Transformer(32, 4, 1, 1, 48, batch_first=True)
    src, tgt = mg.randn(2, 6, 32), mg.randn(2, 5, 32)
    with pytest.raises(ShapeError, match=r"tgt_mask of shape \(6, 6\) does not fit src \(2, 6, 32\) "
                                         r"and tgt \(2, 5, 32\): expected \(5, 5\) or \(8, 5, 5\)"):
        model(src, tgt, tgt_mask=generate_square_subsequent_mask(6))
    with pytest.raises(ShapeError, match=r"src_key_padding_mask of shape \(2, 5\) .* expected "
                                         r"\(2, 6\)"):
        model(src, tgt, src_key_padding_mask=np.zeros((2, 5), bool))
    with pytest.raises(DTypeError, match=r"memory_mask must be bool .* got dtype int64"):
        model(src, tgt, memory_mask=np.zeros((5, 6), np.int64))


def test_token_id_out_of_vocabulary():
    model = _seq2seq()
    good = np.ones((2, 4), np.int64)
    with pytest.raises(IndexOutOfRangeError, match=r"src token id 13 is out of range for "
                                                   r"src_vocab_size=13 \(src shape \(2, 4\)\)"):
        model(np.array([[1, 13, 2, 3], [1, 2, 3, 4]]), good)
    with pytest.raises(IndexOutOfRangeError, match=r"tgt token id -1 is out of range"):
        model(good, np.array([[1, -1, 2, 3], [1, 2, 3, 4]]))
    with pytest.raises(DTypeError, match=r"src token ids must be integers, got dtype float32"):
        model(np.ones((2, 4), np.float32), good)

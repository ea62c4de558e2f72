"""Seq2SeqTransformer.forward(..., return_attention=True): per-head attention weights by
module path, equal to what each MultiheadAttention returns for the same inputs."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.models import Seq2SeqTransformer


@pytest.mark.parametrize("norm_first", [False, True])
def test_return_attention_gives_each_layers_per_head_weights(norm_first):
    mg.manual_seed(0)
    model = Seq2SeqTransformer(11, 13, d_model=16, nhead=4, num_encoder_layers=2,
                               num_decoder_layers=2, dim_feedforward=32, norm_first=norm_first)
    model.eval()
    rng = np.random.default_rng(0)
    src, tgt = rng.integers(3, 11, (3, 6)), rng.integers(3, 13, (3, 5))
    src[1, -2:] = 0                                           # padding in the source
    src, tgt = mg.tensor(src), mg.tensor(tgt)
    with mg.no_grad():
        plain = model(src, tgt).numpy()
        logits, attentions = model(src, tgt, return_attention=True)
    np.testing.assert_allclose(logits.numpy(), plain, rtol=1e-6, atol=1e-6)
    assert sorted(attentions) == sorted(
        [f"encoder.layers.{i}.self_attn" for i in range(2)]
        + [f"decoder.layers.{i}.{n}" for i in range(2) for n in ("self_attn", "multihead_attn")])

    # the same weights, from each MultiheadAttention called on the inputs it sees
    captured, seen = {}, []
    for path, module in model.named_modules():
        if path.endswith(("self_attn", "multihead_attn")):
            seen.append((path, module, module.forward))
    for path, module, forward in seen:
        def wrapped(*args, _forward=forward, _path=path, **kwargs):
            captured[_path] = (args, kwargs)
            return _forward(*args, **kwargs)
        module.forward = wrapped
    with mg.no_grad():
        model(src, tgt)
        for path, module, forward in seen:
            module.forward = forward
            args, kwargs = captured[path]
            kwargs = dict(kwargs, need_weights=True, average_attn_weights=False)
            _, expected = module(*args, **kwargs)
            key = path.replace("transformer.", "")
            got = attentions[key].numpy()
            assert got.shape == expected.shape == (3, 4, args[0].shape[1], args[1].shape[1]), key
            np.testing.assert_allclose(got, expected.numpy(), rtol=1e-6, atol=1e-7, err_msg=key)
    enc = attentions["encoder.layers.0.self_attn"].numpy()
    np.testing.assert_allclose(enc.sum(-1), 1.0, rtol=1e-5)   # rows are distributions
    assert np.all(enc[1, :, :, -2:] == 0)                     # padding gets no attention
    dec = attentions["decoder.layers.1.self_attn"].numpy()
    assert np.all(np.triu(dec[0, 0], k=1) == 0)               # causal

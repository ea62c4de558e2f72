"""Measuring a trained model: exact match and token accuracy of decoded sequences,
and the cross-attention weights of one example."""
import re

import numpy as np

import minigrad as mg
from minigrad.tensor import Tensor

from .data import PAD

_CROSS_ATTENTION = re.compile(r"(?:^|\.)decoder\.layers\.(\d+)\.multihead_attn$")


def sequence_accuracy(predicted, target, pad=PAD):
    """(exact-match rate, token accuracy) of predicted against target ids, both (B, L).

    A sequence matches exactly when every position agrees, padding included (a
    prediction that runs on past the target's end is wrong). Token accuracy counts
    the target's non-padding positions that the prediction got right.
    """
    predicted, target = np.asarray(predicted), np.asarray(target)
    width = max(predicted.shape[1], target.shape[1])
    p = np.full((len(predicted), width), pad, dtype=np.int64)
    t = np.full((len(target), width), pad, dtype=np.int64)
    p[:, :predicted.shape[1]] = predicted
    t[:, :target.shape[1]] = target
    same = p == t
    real = t != pad
    return float(same.all(axis=1).mean()), float(same[real].mean())


def cross_attention(model, src, tgt, layer=-1):
    """Per-head cross-attention weights (heads, T, S) of decoder layer `layer` for one
    example: src (S,) ids, tgt (T+1,) ids starting with the start symbol (e.g. the
    model's own greedy output). Row t says where the decoder looked in the source
    while predicting tgt[t + 1].

    The weights come from the model's own API, forward(..., return_attention=True),
    which returns the per-head weights of every attention block by module path.
    """
    device = next(iter(model.parameters())).device
    was_training = model.training
    model.eval()
    try:
        with mg.no_grad():
            _, attentions = model(Tensor(np.asarray(src)[None], device=device),
                                  Tensor(np.asarray(tgt)[None, :-1], device=device),
                                  return_attention=True)
    finally:
        model.train(was_training)
    layers = sorted((int(m.group(1)), name) for name in attentions
                    for m in [_CROSS_ATTENTION.search(name)] if m)
    weights = attentions[layers[layer][1]]          # (1, heads, T, S)
    return weights.numpy()[0].copy()

"""Claim tests for examples/insights/: each runs its experiment at reduced size and
checks that the measured relation points the way the claim says (never a stored number).
"""
import importlib.util
import os
import sys

import numpy as np
import pytest

INSIGHTS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "examples", "insights")


def load(name):
    """Import examples/insights/<name>.py (a script folder, not a package)."""
    if INSIGHTS not in sys.path:
        sys.path.insert(0, INSIGHTS)
    spec = importlib.util.spec_from_file_location(f"insights_{name}", os.path.join(INSIGHTS, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- 1. RNN vs attention
def test_rnn_path_grows_with_length_attention_path_does_not():
    r = load("rnn_vs_attention").run(reduced=True)
    t, rnn, attn = np.array(r["lengths"]), np.array(r["rnn_depth"]), np.array(r["attn_depth"])
    # The RNN's chain from position 0 to T-1 gains at least one op per extra position ...
    assert np.all(np.diff(rnn) >= np.diff(t)), (t, rnn)
    # ... while attention's is the same short chain at every length.
    assert len(set(attn.tolist())) == 1 and attn[0] < rnn[0], (t, attn)
    assert r["rnn_steps"] == r["lengths"] and set(r["attn_steps"]) == {1}
    # Timing, loosely (medians on a shared machine): over an 8x longer sequence the
    # RNN's time grows at least twice as much as attention's.
    total = {k: np.add(r[f"{k}_fwd"], r[f"{k}_bwd"]) for k in ("rnn", "attn")}
    growth = {k: v[-1] / v[0] for k, v in total.items()}
    assert growth["rnn"] > 2 * growth["attn"], growth


# ---------------------------------------------------------------- 2. sqrt(d_k)
def test_unscaled_scores_saturate_softmax_and_starve_gradients():
    r = load("scaling_sqrt_dk").run(reduced=True)
    d = np.array(r["d_k"], dtype=float)
    var_raw, var_scaled = np.array(r["score_var_unscaled"]), np.array(r["score_var_scaled"])
    # Raw scores' variance grows like d_k; scaled scores stay near 1.
    assert np.all(np.diff(var_raw) > 0)
    assert var_raw[-1] / var_raw[0] > 0.5 * d[-1] / d[0]
    assert np.all((var_scaled > 0.7) & (var_scaled < 1.4)), var_scaled
    # The raw softmax gets ever more peaked; the scaled one does not move.
    h_raw, h_scaled = np.array(r["entropy_unscaled"]), np.array(r["entropy_scaled"])
    assert np.all(np.diff(h_raw) < 0) and h_raw[-1] < 0.25 * h_scaled[-1]
    assert h_scaled.max() - h_scaled.min() < 0.2
    # Its gradient vanishes: at the largest d_k the raw softmax passes < 1% of what the
    # scaled one does, and the gradient reaching Q is much smaller too.
    assert r["grad_scores_unscaled"][-1] < 0.01 * r["grad_scores_scaled"][-1]
    assert r["grad_q_unscaled"][-1] < 0.1 * r["grad_q_scaled"][-1]
    assert r["grad_scores_unscaled"][-1] < r["grad_scores_unscaled"][0]


def test_insight_figures_are_written(tmp_path):
    for name in ("scaling_sqrt_dk",):
        module = load(name)
        path = module.plot(module.run(reduced=True), directory=str(tmp_path))
        assert os.path.getsize(path) > 10_000

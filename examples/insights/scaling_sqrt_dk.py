"""Why attention divides the scores by sqrt(d_k).

With unit-variance queries and keys, a score q . k is a sum of d_k products of
unit variance, so its variance is d_k. Large scores push the softmax towards a
one-hot vector, where its Jacobian diag(p) - p p^T is almost zero: the gradient
that reaches Q and K vanishes. Dividing by sqrt(d_k) keeps the variance at 1.

For d_k = 16 .. 1024 this script measures, with and without the scaling: the
variance of the scores, the entropy of each softmax row (log T is uniform, 0 is
one-hot) and the norm of the gradient reaching Q and K.

    python examples/insights/scaling_sqrt_dk.py
"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import one_blas_thread, parse_args, print_table, pyplot, save_figure  # noqa: E402

import numpy as np  # noqa: E402
import minigrad as mg  # noqa: E402


def attention_stats(d_k, scaled, batch=16, length=64, seed=0):
    """Scores, softmax entropy and gradient norms for one random batch.

    Values have variance 1/d_k and the gradient arriving from above has variance 1,
    so the gradient reaching the attention weights has variance 1 whatever d_k:
    what changes with d_k is only how much of it the softmax lets through.
    """
    rng = np.random.default_rng(seed)
    q = mg.tensor(rng.standard_normal((batch, length, d_k), dtype=np.float32), requires_grad=True)
    k = mg.tensor(rng.standard_normal((batch, length, d_k), dtype=np.float32), requires_grad=True)
    v = mg.tensor(rng.standard_normal((batch, length, d_k), dtype=np.float32) / np.float32(math.sqrt(d_k)))
    upstream = mg.tensor(rng.standard_normal((batch, length, d_k), dtype=np.float32))

    scores = q @ k.transpose(-1, -2)
    if scaled:
        scores = scores * (1.0 / math.sqrt(d_k))
    weights = mg.softmax(scores, axis=-1)
    loss = ((weights @ v) * upstream).sum()
    d_scores, d_q, d_k_ = mg.grad(loss, [scores, q, k])

    p = weights.numpy().astype(np.float64)
    entropy = -(p * np.log(np.clip(p, 1e-30, None))).sum(-1)
    row_norm = lambda g: np.linalg.norm(g.numpy().astype(np.float64), axis=-1)  # noqa: E731
    # Medians over rows: the typical query. Without scaling a few near-tied rows get
    # large gradients while most get almost none, so a mean would hide the vanishing.
    return {
        "score_var": float(scores.numpy().var()),
        "entropy": float(entropy.mean()),
        "saturated": float((p.max(-1) > 0.99).mean()),
        "grad_scores": float(np.median(row_norm(d_scores))),
        "grad_q": float(np.median(row_norm(d_q))),
        "grad_k": float(np.median(row_norm(d_k_))),
    }


@one_blas_thread
def run(reduced=False):
    """Measure the statistics for each d_k; returns lists keyed by statistic and mode."""
    dims = [16, 128, 1024] if reduced else [16, 32, 64, 128, 256, 512, 1024]
    batch, length = (4, 32) if reduced else (16, 64)
    result = {"d_k": dims, "length": length}
    for mode, scaled in (("scaled", True), ("unscaled", False)):
        stats = [attention_stats(d, scaled, batch, length) for d in dims]
        for key in stats[0]:
            result[f"{key}_{mode}"] = [s[key] for s in stats]
    return result


def report(r):
    headers = ["d_k", "var", "var(raw)", "entropy", "entropy(raw)", "saturated(raw)",
               "|dS|", "|dS|(raw)", "|dQ|", "|dQ|(raw)", "|dK|", "|dK|(raw)"]
    rows = [[d] + [r[f"{key}_{mode}"][i] for key, modes in
                   (("score_var", "su"), ("entropy", "su"), ("saturated", "u"),
                    ("grad_scores", "su"), ("grad_q", "su"), ("grad_k", "su"))
                   for mode in (("scaled", "unscaled") if modes == "su" else ("unscaled",))]
            for i, d in enumerate(r["d_k"])]
    print_table(f"Attention with q.k / sqrt(d_k) and with raw q.k (T = {r['length']} keys, uniform "
                f"entropy log T = {math.log(r['length']):.3f}; saturated = share of rows with max "
                "weight > 0.99; |dS|, |dQ|, |dK| = median gradient norm per row)", headers, rows)


def plot(r, directory=None):
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    d = r["d_k"]
    for mode, style, color in (("scaled", "-", "C0"), ("unscaled", "--", "C1")):
        label = "q.k / sqrt(d_k)" if mode == "scaled" else "q.k (no scaling)"
        axes[0].plot(d, r[f"score_var_{mode}"], "o" + style, color=color, label=label)
        axes[1].plot(d, r[f"entropy_{mode}"], "o" + style, color=color, label=label)
        for key, marker, name in (("grad_scores", "o", "dL/dscores"), ("grad_q", "^", "dL/dQ"),
                                  ("grad_k", "v", "dL/dK")):
            axes[2].plot(d, r[f"{key}_{mode}"], marker + style, color=color,
                         mfc="none" if key != "grad_scores" else color, label=f"{name}, {label}")
    axes[1].axhline(math.log(r["length"]), color="gray", lw=0.8, ls=":", label="uniform (log T)")
    titles = ["variance of the scores", "softmax entropy (nats)", "median gradient norm per row"]
    for ax, title in zip(axes, titles):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("d_k")
        ax.set_title(title)
        ax.legend(fontsize=7)
    axes[0].set_yscale("log")
    axes[2].set_yscale("log")
    return save_figure(fig, "scaling_sqrt_dk", directory)


def main(argv=None):
    parse_args(__doc__, argv)
    mg.manual_seed(0)
    r = run()
    report(r)
    plot(r)


if __name__ == "__main__":
    main()

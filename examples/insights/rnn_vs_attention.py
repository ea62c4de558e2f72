"""RNN vs self-attention: sequential vs parallel.

A recurrent layer computes h_t = tanh(x_t W_x + h_(t-1) W_h + b): step t cannot
start before step t-1 has finished, so a sequence of length T takes T steps one
after another, and information from position 0 reaches position T-1 through T-1
cells. Self-attention computes every position at once from a few matrix products
(Q K^T, softmax, times V): a constant number of steps, and every position is one
step from every other, at the price of a T x T score matrix.

This script times forward and backward of both layers (same width) for T = 16 ..
1024 and measures, in the recorded graph, the longest chain of ops from the
input at position 0 to the output at position T-1.

    python examples/insights/rnn_vs_attention.py
"""
import math
import os
import sys
import time
import statistics

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (graph_depth, one_blas_thread, parse_args, print_table,  # noqa: E402
                     pyplot, save_figure)

import numpy as np  # noqa: E402
import minigrad as mg  # noqa: E402
from minigrad import nn  # noqa: E402


class MinimalRNN(nn.Module):
    """The plainest recurrent layer (Elman): one tanh cell applied T times."""

    def __init__(self, d_model, rng):
        super().__init__()
        bound = 1.0 / math.sqrt(d_model)            # PyTorch's nn.RNN initialisation
        init = lambda *shape: nn.Parameter(rng.uniform(-bound, bound, shape).astype(np.float32))  # noqa: E731
        self.w_x, self.w_h, self.b = init(d_model, d_model), init(d_model, d_model), init(d_model)

    def forward(self, x):
        """x: (batch, T, d) -> all hidden states (batch, T, d), computed step by step."""
        h = mg.zeros((x.shape[0], x.shape[2]), dtype=x.dtype)
        states = []
        for t in range(x.shape[1]):        # the loop the Transformer removes
            h = (x[:, t] @ self.w_x + h @ self.w_h + self.b).tanh()
            states.append(h)
        return mg.stack(states, axis=1)


class SelfAttentionLayer(nn.Module):
    """The library's multi-head attention, used as self-attention: all T positions at once."""

    def __init__(self, d_model, nhead):
        super().__init__()
        self.attn = nn.MultiheadAttention(d_model, nhead, batch_first=True)

    def forward(self, x):
        return self.attn(x, x, x, need_weights=False)[0]


def time_forward_backward(layers, x, repeats):
    """Median forward and backward seconds of each layer (graph rebuilt every time).

    The layers take turns within each repeat, so a burst of load from another
    process on a shared machine slows both, not just one of them.
    """
    times = {name: ([], []) for name in layers}
    for i in range(repeats + 1):          # the first round warms caches and is dropped
        for name, layer in layers.items():
            t0 = time.perf_counter()
            y = layer(x)
            t1 = time.perf_counter()
            y.sum().backward()
            t2 = time.perf_counter()
            layer.zero_grad()
            if i:
                times[name][0].append(t1 - t0)
                times[name][1].append(t2 - t1)
    return {name: (statistics.median(f), statistics.median(b)) for name, (f, b) in times.items()}


def critical_path(layer, x):
    """Ops on the longest chain from the input at position 0 to the output at position T-1."""
    x = x.detach().requires_grad_(True)
    y = layer(x)
    return graph_depth(y[:, -1], source=x)


@one_blas_thread
def run(reduced=False):
    """Times and critical paths for each length. Reduced: short sequences, small
    batch and width, where the attention layer's cost is mostly its fixed number of
    ops while the RNN's still grows with every step."""
    if reduced:
        lengths, batch, d_model, nhead, repeats = [8, 16, 32, 64], 2, 32, 2, 5
    else:
        lengths, batch, d_model, nhead, repeats = [16, 32, 64, 128, 256, 512, 1024], 8, 64, 4, 5
    rng = np.random.default_rng(0)
    layers = {"rnn": MinimalRNN(d_model, rng), "attn": SelfAttentionLayer(d_model, nhead)}
    r = {"lengths": lengths, "batch": batch, "d_model": d_model}
    for name in layers:
        for key in ("fwd", "bwd", "depth", "steps"):
            r[f"{name}_{key}"] = []
    for t in lengths:
        x = mg.tensor(rng.standard_normal((batch, t, d_model), dtype=np.float32))
        timing = time_forward_backward(layers, x, repeats)
        for name, layer in layers.items():
            r[f"{name}_fwd"].append(timing[name][0])
            r[f"{name}_bwd"].append(timing[name][1])
            r[f"{name}_depth"].append(critical_path(layer, x))
        r["rnn_steps"].append(t)           # by construction: one cell after another
        r["attn_steps"].append(1)          # one layer application for all positions
    return r


def report(r):
    rows = []
    for i, t in enumerate(r["lengths"]):
        rows.append([t, r["rnn_fwd"][i] * 1e3, r["rnn_bwd"][i] * 1e3, r["attn_fwd"][i] * 1e3,
                     r["attn_bwd"][i] * 1e3, r["rnn_steps"][i], r["attn_steps"][i],
                     r["rnn_depth"][i], r["attn_depth"][i]])
    print_table(f"Minimal RNN vs self-attention, batch {r['batch']}, width {r['d_model']} "
                "(median ms; steps = sequential layer steps; path = ops on the longest chain "
                "from position 0 to position T-1, measured in the recorded graph)",
                ["T", "RNN fwd", "RNN bwd", "attn fwd", "attn bwd", "RNN steps", "attn steps",
                 "RNN path", "attn path"], rows)


def plot(r, directory=None):
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    t = r["lengths"]
    for name, label, color in (("rnn", "RNN", "C1"), ("attn", "self-attention", "C0")):
        axes[0].plot(t, np.array(r[f"{name}_fwd"]) * 1e3, "o-", color=color, label=f"{label} forward")
        axes[0].plot(t, np.array(r[f"{name}_bwd"]) * 1e3, "s--", color=color, label=f"{label} backward")
        axes[1].plot(t, r[f"{name}_depth"], "o-", color=color, label=label)
    axes[0].set_title("time per layer call (median)")
    axes[0].set_ylabel("ms")
    axes[1].set_title("longest op chain, position 0 -> T-1")
    axes[1].set_ylabel("ops in the recorded graph")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("sequence length T")
        ax.legend(fontsize=8)
    return save_figure(fig, "rnn_vs_attention", directory)


def main(argv=None):
    parse_args(__doc__, argv)
    mg.manual_seed(0)
    r = run()
    report(r)
    plot(r)


if __name__ == "__main__":
    main()

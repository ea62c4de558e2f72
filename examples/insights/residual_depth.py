"""Residual connections keep gradients alive through deep stacks.

Backpropagation multiplies the gradient by one layer's Jacobian per layer. If
those Jacobians shrink vectors (a tanh layer, or attention plus layer norm at
initialisation), the gradient reaching the first layer shrinks exponentially
with depth. A residual connection x + f(x) has Jacobian I + f'(x): the identity
gives the gradient a path that skips every layer, so the first layer still
learns in a 48-layer stack.

For depths 2 .. 48 this script measures, at initialisation, the norm of the
gradient of the first layer's parameters, with and without the residual
connections, for a plain tanh network and for transformer encoder layers
(post-norm as in the paper, and pre-norm).

    python examples/insights/residual_depth.py
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (AblationEncoderLayer, one_blas_thread, parse_args,  # noqa: E402
                     print_table, pyplot, save_figure)

import numpy as np  # noqa: E402
import minigrad as mg  # noqa: E402
from minigrad import nn  # noqa: E402

FAMILIES = ("tanh", "post-norm", "pre-norm")


class TanhLayer(nn.Module):
    """y = tanh(W x + b), or x + tanh(W x + b) with the residual connection."""

    def __init__(self, d_model, residual):
        super().__init__()
        self.linear = nn.Linear(d_model, d_model)
        self.residual = residual

    def forward(self, x):
        y = self.linear(x).tanh()
        return x + y if self.residual else y


def make_stack(family, depth, d_model, nhead, residual):
    if family == "tanh":
        return [TanhLayer(d_model, residual) for _ in range(depth)]
    return [AblationEncoderLayer(d_model, nhead, 4 * d_model, residual=residual,
                                 norm_first=family == "pre-norm") for _ in range(depth)]


def first_layer_gradient(family, depth, residual, seed, d_model=32, nhead=4, batch=4, length=16):
    """|dL/dtheta_1| at initialisation, for L = <output, g> with a fixed random g."""
    mg.manual_seed(seed)
    layers = make_stack(family, depth, d_model, nhead, residual)
    h = mg.randn(batch, length, d_model)
    for layer in layers:
        h = layer(h)
    (h * mg.randn(*h.shape)).sum().backward()
    return float(np.sqrt(sum(float((p.grad.numpy().astype(np.float64) ** 2).sum())
                             for p in layers[0].parameters())))


@one_blas_thread
def run(reduced=False):
    if reduced:
        depths, seeds, d_model, nhead, length = [2, 8, 32], [0], 16, 2, 8
    else:
        depths, seeds, d_model, nhead, length = [2, 4, 8, 16, 24, 32, 48], [0, 1, 2], 32, 4, 16
    r = {"depths": depths, "seeds": len(seeds)}
    for family in FAMILIES:
        for residual in (True, False):
            key = f"{family}_{'residual' if residual else 'plain'}"
            # Median over seeds: one unlucky initialisation should not make the curve.
            r[key] = [float(np.median([first_layer_gradient(family, d, residual, s, d_model, nhead,
                                                            length=length) for s in seeds]))
                      for d in depths]
    return r


def report(r):
    headers = ["depth"] + [f"{f} {'res' if res else 'no res'}" for f in FAMILIES for res in (True, False)]
    rows = [[d] + [r[f"{f}_{'residual' if res else 'plain'}"][i] for f in FAMILIES for res in (True, False)]
            for i, d in enumerate(r["depths"])]
    print_table(f"Gradient norm of the first layer's parameters at initialisation (median of "
                f"{r['seeds']} seeds)", headers, rows)
    for f in FAMILIES:
        res, plain = r[f"{f}_residual"], r[f"{f}_plain"]
        print(f"{f:>9}: from depth {r['depths'][0]} to {r['depths'][-1]} the first layer's gradient "
              f"changes x{res[-1] / res[0]:.3g} with residuals, x{plain[-1] / plain[0]:.3g} without")


def plot(r, directory=None):
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    d = r["depths"]
    axes[0].plot(d, r["tanh_residual"], "o-", color="C0", label="x + tanh(Wx + b)")
    axes[0].plot(d, r["tanh_plain"], "s--", color="C3", label="tanh(Wx + b)")
    axes[0].set_title("plain tanh layers")
    for family, color in (("post-norm", "C0"), ("pre-norm", "C2")):
        axes[1].plot(d, r[f"{family}_residual"], "o-", color=color, label=f"{family}, residual")
        axes[1].plot(d, r[f"{family}_plain"], "s--", color=color, alpha=0.7,
                     label=f"{family}, no residual")
    axes[1].set_title("transformer encoder layers")
    for ax in axes:
        ax.set_yscale("log")
        ax.set_xlabel("number of layers")
        ax.set_ylabel("|grad| of the first layer's parameters")
        ax.legend(fontsize=8)
    return save_figure(fig, "residual_depth", directory)


def main(argv=None):
    parse_args(__doc__, argv)
    r = run()
    report(r)
    plot(r)


if __name__ == "__main__":
    main()

"""Positional encoding gives a transformer its sense of order.

Self-attention treats its input as a set: permute the tokens and every output
vector is computed exactly as before, only in the permuted place. So without
positional encoding "the dog bit the man" and "the man bit the dog" give the
same output vectors, shuffled. Adding PE(pos) to each embedding breaks the tie.

The sinusoidal PE has a second property: for a fixed offset k, PE(pos + k) =
M_k PE(pos) with one matrix M_k for every pos, a 2 x 2 rotation by angle w_i k
for each (sin, cos) frequency pair w_i. Relative offsets are linear maps, which
attention's linear projections can learn.

    python examples/insights/positional_encoding.py
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import one_blas_thread, parse_args, print_table, pyplot, save_figure  # noqa: E402

import numpy as np  # noqa: E402
import minigrad as mg  # noqa: E402
from minigrad import nn  # noqa: E402
from minigrad.models.transformer import Encoder, EncoderLayer  # noqa: E402

VOCAB = {"the": 0, "dog": 1, "bit": 2, "man": 3}
SENTENCE = "the dog bit the man".split()
SWAPPED = "the man bit the dog".split()


class TinyEncoder(nn.Module):
    """Token embedding, optionally plus the sinusoidal encoding, then an encoder stack."""

    def __init__(self, vocab_size, d_model, nhead, num_layers, use_pe):
        super().__init__()
        self.embed = nn.TokenEmbedding(vocab_size, d_model)
        self.pos = nn.PositionalEncoding(d_model, dropout=0.0) if use_pe else None
        self.encoder = Encoder([EncoderLayer(d_model, nhead, dim_feedforward=4 * d_model, dropout=0.0,
                                             batch_first=True) for _ in range(num_layers)])

    def forward(self, tokens):
        x = self.embed(tokens)
        if self.pos is not None:
            x = self.pos(x)
        return self.encoder(x)


def equivariance_gap(model, tokens, perm):
    """max |f(x[perm]) - f(x)[perm]|: zero (up to rounding) for a permutation-equivariant f."""
    with mg.no_grad():
        out = model(mg.tensor(tokens[None])).numpy()[0]
        out_perm = model(mg.tensor(tokens[perm][None])).numpy()[0]
    return float(np.abs(out_perm - out[perm]).max()), float(np.abs(out).max())


def rotation(k, d_model):
    """M_k: block-diagonal, one 2 x 2 rotation by w_i k per (sin, cos) pair of dimensions."""
    w = np.exp(np.arange(0, d_model, 2) * (-np.log(10000.0) / d_model))
    m = np.zeros((d_model, d_model))
    c, s = np.cos(w * k), np.sin(w * k)
    # [sin(a + b), cos(a + b)] = [sin a cos b + cos a sin b, cos a cos b - sin a sin b]
    m[0::2, 0::2] = np.diag(c)
    m[0::2, 1::2] = np.diag(s)
    m[1::2, 0::2] = np.diag(-s)
    m[1::2, 1::2] = np.diag(c)
    return m


@one_blas_thread
def run(reduced=False):
    d_model, nhead, num_layers = (16, 2, 1) if reduced else (32, 4, 2)
    max_len, n_random = (64, 3) if reduced else (512, 20)
    offsets = [1, 7, 30] if reduced else [1, 5, 20, 50, 200]
    r = {"d_model": d_model, "num_layers": num_layers, "max_len": max_len, "offsets": offsets}

    # 1. Permutation equivariance, with and without the encoding. Same weights for both:
    #    the two models differ only in whether PE is added.
    mg.manual_seed(0)
    plain = TinyEncoder(len(VOCAB), d_model, nhead, num_layers, use_pe=False).eval()
    with_pe = TinyEncoder(len(VOCAB), d_model, nhead, num_layers, use_pe=True).eval()
    with_pe.load_state_dict(plain.state_dict())
    sentence = np.array([VOCAB[w] for w in SENTENCE])
    perm = np.array([SENTENCE.index(w) if w != "the" else i for i, w in enumerate(SWAPPED)])
    assert [SENTENCE[i] for i in perm] == SWAPPED
    rng = np.random.default_rng(0)
    for name, model in (("plain", plain), ("pe", with_pe)):
        r[f"gap_sentence_{name}"], r[f"scale_{name}"] = equivariance_gap(model, sentence, perm)
        gaps = []
        for _ in range(n_random):                  # random sentences, random permutations
            tokens = rng.integers(0, len(VOCAB), size=12)
            gaps.append(equivariance_gap(model, tokens, rng.permutation(12))[0])
        r[f"gap_random_{name}"] = max(gaps)
    # Averaged into one sentence vector, the two sentences become the same vector.
    with mg.no_grad():
        a, b = (plain(mg.tensor(np.array([[VOCAB[w] for w in words]]))).numpy()[0].mean(0)
                for words in (SENTENCE, SWAPPED))
    r["sentence_vector_gap_plain"] = float(np.abs(a - b).max())

    # 2. The encoding matrix and its rotation property, for every position.
    pe = nn.PositionalEncoding(d_model, dropout=0.0, max_len=max_len).pe.numpy().astype(np.float64)
    r["pe"] = pe
    r["rotation_error"], r["orthogonality_error"], r["fit_error"], r["fit_error_random"] = [], [], [], []
    # Contrast: position vectors without structure (random, same scale). No single
    # matrix maps every one of them to the vector k positions later.
    random_pe = np.random.default_rng(1).uniform(-1, 1, pe.shape)
    for k in offsets:
        m = rotation(k, d_model)
        predicted = pe[:-k] @ m.T                  # M_k PE(pos) for every pos at once
        r["rotation_error"].append(float(np.abs(predicted - pe[k:]).max()))
        r["orthogonality_error"].append(float(np.abs(m @ m.T - np.eye(d_model)).max()))
        # The best single linear map, fitted by least squares over all positions.
        for key, table in (("fit_error", pe), ("fit_error_random", random_pe)):
            fitted, *_ = np.linalg.lstsq(table[:-k], table[k:], rcond=None)
            r[key].append(float(np.abs(table[:-k] @ fitted - table[k:]).max()))
    return r


def report(r):
    print_table(f"Permutation equivariance of a {r['num_layers']}-layer encoder (eval, dropout 0): "
                "max |f(x[perm]) - f(x)[perm]|",
                ["input", "no PE", "with PE", "output scale"],
                [["'the dog bit the man' -> 'the man bit the dog'", r["gap_sentence_plain"],
                  r["gap_sentence_pe"], r["scale_plain"]],
                 ["random 12-token sentences, random perms (max)", r["gap_random_plain"],
                  r["gap_random_pe"], r["scale_pe"]]])
    print(f"mean-pooled sentence vectors without PE differ by {r['sentence_vector_gap_plain']:.2e}: "
          "the two sentences are indistinguishable")
    print_table(f"PE(pos + k) = M_k PE(pos), checked for all pos in 0..{r['max_len'] - 1} - k "
                f"(d_model = {r['d_model']}); last two columns: max error of the best single "
                "linear map (least squares over all pos)",
                ["k", "max error with M_k", "max |M_k M_k^T - I|", "best map, sinusoid",
                 "best map, random PE"],
                [[k, r["rotation_error"][i], r["orthogonality_error"][i], r["fit_error"][i],
                  r["fit_error_random"][i]] for i, k in enumerate(r["offsets"])])


def plot(r, directory=None):
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(14, 4), gridspec_kw={"width_ratios": [1.4, 1, 1]})
    pe = r["pe"][:200]
    im = axes[0].imshow(pe.T, aspect="auto", cmap="RdBu", vmin=-1, vmax=1, origin="lower")
    axes[0].set_xlabel("position")
    axes[0].set_ylabel("dimension (even: sin, odd: cos)")
    axes[0].set_title("sinusoidal positional encoding")
    fig.colorbar(im, ax=axes[0], fraction=0.04)

    full, k = r["pe"], r["offsets"][1]
    for pair, radius, color in ((1, 1.0, "C0"), (3, 0.7, "C1"), (5, 0.4, "C2")):
        xs, ys = radius * full[:80, 2 * pair], radius * full[:80, 2 * pair + 1]
        axes[1].plot(xs, ys, ".", color=color, ms=3,
                     label=f"dims ({2 * pair}, {2 * pair + 1}), drawn at radius {radius}")
        for p in (2, 30):                         # pos -> pos + k: the same turn from anywhere
            axes[1].annotate("", xy=(xs[p + k], ys[p + k]), xytext=(xs[p], ys[p]),
                             arrowprops={"arrowstyle": "->", "color": color, "lw": 1.2})
    axes[1].set_aspect("equal")
    axes[1].set_xlabel("sin(w pos)")
    axes[1].set_ylabel("cos(w pos)")
    axes[1].set_title(f"(sin, cos) pairs turn on circles: pos -> pos + {k}\nis the same rotation "
                      "from any pos")
    axes[1].legend(fontsize=6, loc="upper right")

    labels = ["our sentence\nno PE", "random perms\nno PE", "our sentence\nwith PE", "random perms\nwith PE"]
    values = [r["gap_sentence_plain"], r["gap_random_plain"], r["gap_sentence_pe"], r["gap_random_pe"]]
    floor = 1e-9
    axes[2].bar(labels, [max(v, floor) for v in values], color=["C0", "C0", "C3", "C3"])
    axes[2].set_yscale("log")
    axes[2].set_ylim(floor / 2, 10)
    axes[2].axhline(np.finfo(np.float32).eps, color="gray", ls=":", lw=0.8, label="float32 eps")
    axes[2].set_title("max |f(permuted x) - permuted f(x)|")
    axes[2].legend(fontsize=7)
    axes[2].tick_params(axis="x", labelsize=7)
    return save_figure(fig, "positional_encoding", directory)


def main(argv=None):
    parse_args(__doc__, argv)
    r = run()
    report(r)
    plot(r)


if __name__ == "__main__":
    main()

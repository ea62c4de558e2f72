"""The feed-forward sublayer and its 4x expansion.

Attention moves information between positions; it computes little at each one.
The position-wise feed-forward network, relu(x W1 + b1) W2 + b2 with a hidden
layer d_ff = 4 x d_model wide, is where each position is transformed, and it
acts as a memory of key-value pairs (rows of W1 match a pattern, rows of W2
write the answer). A wider hidden layer holds more of them.

Task: memorise a random table of facts. The input is "a b =", the answer at "="
is table[a, b] for a random table over V x V pairs: attention must bring a and b
together, then something must look the pair up. The same model is trained with
d_ff = 4 x d_model, d_ff = d_model and with no feed-forward sublayer at all.

    python examples/insights/ffn_expansion.py
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import (AblationEncoderLayer, one_blas_thread, parse_args,  # noqa: E402
                     print_table, pyplot, save_figure)

import numpy as np  # noqa: E402
import minigrad as mg  # noqa: E402
from minigrad import nn  # noqa: E402
from minigrad.optim import Adam  # noqa: E402


class FactModel(nn.Module):
    """Embedding + positional encoding + encoder layers + classifier at the last position."""

    def __init__(self, vocab, num_answers, d_model, nhead, dim_feedforward, num_layers=1):
        super().__init__()
        self.embed = nn.TokenEmbedding(vocab, d_model)
        self.pos = nn.PositionalEncoding(d_model, dropout=0.0)
        self.layers = nn.ModuleList([AblationEncoderLayer(d_model, nhead, dim_feedforward)
                                     for _ in range(num_layers)])
        self.classify = nn.Linear(d_model, num_answers)

    def forward(self, ids):
        x = self.pos(self.embed(mg.tensor(ids)))
        for layer in self.layers:
            x = layer(x)
        return self.classify(x[:, -1])


def fact_table(v, seed=7):
    """All V x V questions "a b =" (the '=' token is V) and their random answers."""
    table = np.random.default_rng(seed).integers(0, v, size=(v, v))
    a, b = (x.ravel() for x in np.meshgrid(np.arange(v), np.arange(v), indexing="ij"))
    questions = np.stack([a, b, np.full_like(a, v)], axis=1)
    return questions, table[a, b]


def train(dim_feedforward, questions, answers, v, d_model, nhead, steps, batch, eval_every):
    mg.manual_seed(0)
    rng = np.random.default_rng(0)
    model = FactModel(v + 1, v, d_model, nhead, dim_feedforward)
    opt = Adam(model.parameters(), lr=3e-3)
    curve = {"step": [], "loss": [], "accuracy": [], "parameters": model.num_parameters()}
    for step in range(1, steps + 1):
        pick = rng.choice(len(questions), batch, replace=False)
        loss = mg.cross_entropy(model(questions[pick]), answers[pick])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % eval_every == 0 or step == steps:
            with mg.no_grad():                 # over the whole table: how much is memorised
                logits = model(questions)
                curve["step"].append(step)
                curve["loss"].append(mg.cross_entropy(logits, answers).item())
                curve["accuracy"].append(float((logits.numpy().argmax(-1) == answers).mean()))
    return curve


@one_blas_thread
def run(reduced=False):
    if reduced:
        v, d_model, nhead, steps, batch, eval_every = 16, 32, 4, 300, 64, 50
    else:
        v, d_model, nhead, steps, batch, eval_every = 24, 32, 4, 800, 128, 50
    questions, answers = fact_table(v)
    r = {"vocab": v, "facts": len(questions), "d_model": d_model, "steps": steps, "curves": {},
         "seconds": {}}
    for name, d_ff in (("d_ff = 4 d_model", 4 * d_model), ("d_ff = d_model", d_model), ("no FFN", 0)):
        t0 = time.perf_counter()
        r["curves"][name] = train(d_ff, questions, answers, v, d_model, nhead, steps, batch, eval_every)
        r["curves"][name]["d_ff"] = d_ff
        r["seconds"][name] = time.perf_counter() - t0
    return r


def report(r):
    print_table(f"Memorising {r['facts']} random facts 'a b = table[a, b]' (V = {r['vocab']}, d_model = "
                f"{r['d_model']}, one encoder layer, {r['steps']} Adam steps; loss and accuracy "
                f"over the whole table; chance accuracy {1 / r['vocab']:.3f})",
                ["model", "d_ff", "parameters", "final loss", "final accuracy", "seconds"],
                [[name, c["d_ff"], c["parameters"], c["loss"][-1], c["accuracy"][-1], r["seconds"][name]]
                 for name, c in r["curves"].items()])


def plot(r, directory=None):
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for name, c in r["curves"].items():
        label = f"{name} ({c['parameters']:,} parameters)"
        axes[0].plot(c["step"], c["loss"], "-", label=label)
        axes[1].plot(c["step"], c["accuracy"], "-", label=label)
    axes[1].axhline(1 / r["vocab"], color="gray", ls=":", lw=0.8, label="chance")
    axes[0].set_title(f"loss over all {r['facts']} facts")
    axes[1].set_title("accuracy over all facts")
    for ax in axes:
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
    return save_figure(fig, "ffn_expansion", directory)


def main(argv=None):
    parse_args(__doc__, argv)
    r = run()
    report(r)
    plot(r)


if __name__ == "__main__":
    main()

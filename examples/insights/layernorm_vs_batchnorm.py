"""Layer norm, not batch norm, for variable-length text.

Batch norm normalises each feature with a mean and variance taken over the
batch: for text, over every position of every sentence in a padded batch. So a
sentence's output depends on which other sentences share its batch, how long
they are, and how much padding they bring. Layer norm normalises each token by
its own statistics: a token gets the same result whatever batch it is in.

This script puts one sentence into batches with different companions and
measures how much its outputs move under layer norm and under batch norm
(written here for the experiment: once over all positions, padding included,
and once over the real tokens only), then trains the same small encoder with
each on a task over sentences of very different lengths.

    python examples/insights/layernorm_vs_batchnorm.py
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

PAD = 0


class BatchNorm(nn.Module):
    """Batch normalisation of (B, T, d) activations, feature by feature.

    In training it uses the batch's mean and variance over all B x T positions
    (or, with exclude_padding=True, over the real tokens only) and keeps running
    averages of them; in evaluation it uses the running averages.
    """

    def __init__(self, num_features, exclude_padding=False, momentum=0.1, eps=1e-5):
        super().__init__()
        self.uses_padding_mask = exclude_padding   # AblationEncoderLayer passes the mask
        self.momentum, self.eps = momentum, eps
        self.weight = nn.Parameter(np.ones(num_features, dtype=np.float32))
        self.bias = nn.Parameter(np.zeros(num_features, dtype=np.float32))
        self.register_buffer("running_mean", mg.zeros(num_features))
        self.register_buffer("running_var", mg.ones(num_features))

    def forward(self, x, padding_mask=None):
        if self.training:
            if padding_mask is not None:          # average over the real tokens only
                real = mg.tensor((~padding_mask.numpy())[..., None].astype(x.dtype))
                count = float(real.numpy().sum())
                mean = (x * real).sum(axis=(0, 1)) / count
                var = (((x - mean) ** 2) * real).sum(axis=(0, 1)) / count
            else:                                 # every position, padding included
                mean = x.mean(axis=(0, 1))
                var = ((x - mean) ** 2).mean(axis=(0, 1))
            m = self.momentum
            self.running_mean.array[...] = (1 - m) * self.running_mean.array + m * mean.array
            self.running_var.array[...] = (1 - m) * self.running_var.array + m * var.array
        else:
            mean, var = self.running_mean, self.running_var
        return (x - mean) / (var + self.eps).sqrt() * self.weight + self.bias


NORMS = {
    "layer norm": nn.LayerNorm,
    "batch norm": lambda d: BatchNorm(d),
    "batch norm, padding excluded": lambda d: BatchNorm(d, exclude_padding=True),
}


class Tagger(nn.Module):
    """Embedding + positional encoding + encoder layers (with the chosen norm) + per-token classifier."""

    def __init__(self, vocab, num_classes, d_model, nhead, num_layers, norm):
        super().__init__()
        self.embed = nn.TokenEmbedding(vocab, d_model, padding_idx=PAD)
        self.pos = nn.PositionalEncoding(d_model, dropout=0.0)
        self.layers = nn.ModuleList([AblationEncoderLayer(d_model, nhead, 2 * d_model, norm=norm)
                                     for _ in range(num_layers)])
        self.classify = nn.Linear(d_model, num_classes)

    def forward(self, ids):
        pad = mg.tensor(ids == PAD)
        x = self.pos(self.embed(mg.tensor(ids)))
        for layer in self.layers:
            x = layer(x, key_padding_mask=pad)
        return self.classify(x)


def pad_batch(sentences):
    """List of 1-D id arrays -> (B, T_max) ids, right-padded with PAD."""
    out = np.full((len(sentences), max(len(s) for s in sentences)), PAD, dtype=np.int64)
    for i, s in enumerate(sentences):
        out[i, :len(s)] = s
    return out


# ---------------------------------------------------------------- part 1: one sentence, many batches
def batch_dependence(norm, d_model, nhead, rng):
    """Max change of one sentence's outputs over several batch companions (training mode)."""
    mg.manual_seed(0)
    model = Tagger(16, 16, d_model, nhead, 1, norm).train()
    sentence = rng.integers(1, 16, size=6)
    companions = {
        "alone": [],
        "3 short sentences": [rng.integers(1, 16, size=n) for n in (3, 5, 7)],
        "3 long sentences": [rng.integers(1, 16, size=40) for _ in range(3)],
        "15 mixed sentences": [rng.integers(1, 16, size=n) for n in rng.integers(2, 40, size=15)],
    }
    outputs = {}
    with mg.no_grad():
        for name, others in companions.items():
            outputs[name] = model(pad_batch([sentence] + others)).numpy()[0, :len(sentence)]
    return {name: float(np.abs(out - outputs["alone"]).max()) for name, out in outputs.items()
            if name != "alone"}, float(np.abs(outputs["alone"]).max())


# ---------------------------------------------------------------- part 2: training
def make_batch(rng, batch, max_len, vocab):
    """Sentences of length 2..max_len; the label of every token is the largest token
    of its sentence (attention must gather it from the whole sentence, padding excluded)."""
    sentences = [rng.integers(1, vocab, size=n) for n in rng.integers(2, max_len + 1, size=batch)]
    ids = pad_batch(sentences)
    labels = np.where(ids == PAD, -100, ids.max(axis=1, keepdims=True))
    return ids, labels


def evaluate(model, data, vocab):
    model.eval()
    losses, correct, total = [], 0, 0
    with mg.no_grad():
        for ids, labels in data:
            logits = model(ids)
            losses.append(mg.cross_entropy(logits.reshape(-1, vocab), labels.reshape(-1)).item())
            real = labels != -100
            correct += int((logits.numpy().argmax(-1) == labels)[real].sum())
            total += int(real.sum())
    model.train()
    return float(np.mean(losses)), correct / total


def train(norm, steps, d_model, nhead, num_layers, batch, max_len, vocab, eval_every):
    mg.manual_seed(0)
    rng = np.random.default_rng(0)
    model = Tagger(vocab, vocab, d_model, nhead, num_layers, norm)
    opt = Adam(model.parameters(), lr=2e-3)
    held_out = [make_batch(np.random.default_rng(1000 + i), batch, max_len, vocab) for i in range(4)]
    curve = {"step": [], "train_loss": [], "eval_loss": [], "eval_acc": []}
    recent = []
    for step in range(1, steps + 1):
        ids, labels = make_batch(rng, batch, max_len, vocab)
        loss = mg.cross_entropy(model(ids).reshape(-1, vocab), labels.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        recent.append(loss.item())
        if step % eval_every == 0 or step == steps:
            eval_loss, eval_acc = evaluate(model, held_out, vocab)
            curve["step"].append(step)
            curve["train_loss"].append(float(np.mean(recent)))
            curve["eval_loss"].append(eval_loss)
            curve["eval_acc"].append(eval_acc)
            recent = []
    # Does the trained model compute the same function in training and in evaluation?
    # (Layer norm: yes. Batch norm: batch statistics in one, running averages in the other.)
    ids = held_out[0][0]
    with mg.no_grad():
        eval_logits = model.eval()(ids).numpy()
        train_logits = model.train()(ids).numpy()
    real = ids != PAD
    curve["train_eval_gap"] = float(np.abs(train_logits - eval_logits)[real].max())
    return curve


@one_blas_thread
def run(reduced=False):
    d_model, nhead = (16, 2) if reduced else (32, 4)
    rng = np.random.default_rng(0)
    r = {"dependence": {}, "curves": {}, "train_seconds": {}}
    for name, norm in NORMS.items():
        r["dependence"][name], r["output_scale"] = batch_dependence(norm, d_model, nhead, rng)
    steps, eval_every = (40, 20) if reduced else (400, 25)
    r["task"] = {"steps": steps, "batch": 8, "max_len": 32, "vocab": 12, "num_layers": 2}
    for name, norm in NORMS.items():
        t0 = time.perf_counter()
        r["curves"][name] = train(norm, steps, d_model, nhead, r["task"]["num_layers"],
                                  r["task"]["batch"], r["task"]["max_len"], r["task"]["vocab"],
                                  eval_every)
        r["train_seconds"][name] = time.perf_counter() - t0
    return r


def report(r):
    companions = list(next(iter(r["dependence"].values())))
    print_table("One 6-token sentence, batched with different companions (training mode): max "
                f"|change| of its outputs vs. the sentence alone (outputs are ~{r['output_scale']:.2g})",
                ["norm"] + companions,
                [[name] + [d[c] for c in companions] for name, d in r["dependence"].items()])
    t = r["task"]
    print_table(f"Training {t['num_layers']}-layer taggers, {t['steps']} Adam steps, batches of "
                f"{t['batch']} sentences of length 2..{t['max_len']} (label: the sentence's largest "
                "token); held-out numbers in eval mode",
                ["norm", "final train loss", "held-out loss", "held-out accuracy",
                 "train/eval logit gap", "seconds"],
                [[name, c["train_loss"][-1], c["eval_loss"][-1], c["eval_acc"][-1],
                  c["train_eval_gap"], r["train_seconds"][name]] for name, c in r["curves"].items()])


def plot(r, directory=None):
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    names = list(r["dependence"])
    companions = list(r["dependence"][names[0]])
    width = 0.8 / len(names)
    floor = 1e-9
    for i, name in enumerate(names):
        values = [max(r["dependence"][name][c], floor) for c in companions]
        axes[0].bar(np.arange(len(companions)) + (i - 1) * width, values, width, label=name)
    axes[0].set_xticks(np.arange(len(companions)), companions, fontsize=8)
    axes[0].set_yscale("log")
    axes[0].set_ylim(floor / 2, 10)
    axes[0].set_title("one sentence's outputs: change with its batch")
    axes[0].legend(fontsize=7)
    for i, (name, c) in enumerate(r["curves"].items()):
        axes[1].plot(c["step"], c["train_loss"], "-", color=f"C{i}", label=f"{name}, train")
        axes[1].plot(c["step"], c["eval_loss"], "--", color=f"C{i}", label=f"{name}, held-out (eval)")
        axes[2].plot(c["step"], c["eval_acc"], "o-", color=f"C{i}", ms=3, label=name)
    axes[1].set_title("loss")
    axes[1].set_xlabel("step")
    axes[1].legend(fontsize=7)
    axes[2].set_title("held-out accuracy (eval mode)")
    axes[2].set_xlabel("step")
    axes[2].legend(fontsize=7)
    return save_figure(fig, "layernorm_vs_batchnorm", directory)


def main(argv=None):
    parse_args(__doc__, argv)
    r = run()
    report(r)
    plot(r)


if __name__ == "__main__":
    main()

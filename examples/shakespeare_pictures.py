"""The pictures of examples/shakespeare.py: training and validation loss in one PNG, and
one attention head of the GPT on a line of generated text (matplotlib, through
examples/support/plots.py's Agg backend)."""
import numpy as np

import minigrad as mg
from support import plots
from support.cli import ExampleError


def token_label(tokenizer, i):
    """A token as a tick label: space and newline as visible signs, other unprintable
    characters (a byte piece of BPE) escaped."""
    text = tokenizer.decode([i]).replace(" ", "\u2423").replace("\n", "\u23ce")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text) or "?"


def check_attention_choice(n_layer, n_head, layer, head):
    """--attention-layer and --attention-head name a layer and head of the model (checked
    before any work; negative layers count from the last)."""
    if not (-n_layer <= layer < n_layer and 0 <= head < n_head):
        raise ExampleError(f"--attention-layer {layer} --attention-head {head}: the model has "
                           f"layers 0..{n_layer - 1} (or -{n_layer}..-1) and heads "
                           f"0..{n_head - 1}")


def draw_attention(model, tokenizer, text, path, layer=-1, head=0):
    """Heat map of one head's attention on the first non-empty line of `text` (at most 48
    tokens), read by GPT.forward(..., return_attention=True). Returns the path or None."""
    line = next((s for s in text.split("\n") if s.strip()), "")
    ids = tokenizer.encode(line)[:48]
    if len(ids) < 2:
        return None
    check_attention_choice(model.config.n_layer, model.config.n_head, layer, head)
    layer = layer % model.config.n_layer
    model.eval()
    with mg.no_grad():
        _, attentions = model(ids[None], return_attention=True)
    model.train()
    weights = attentions[f"transformer.h.{layer}.attn"].numpy()[0, head]      # (T, T)
    labels = [token_label(tokenizer, i) for i in ids]
    plt = plots.pyplot()
    size = 0.22 * len(ids) + 1.5
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    image = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(ids)), labels, fontsize=7)
    ax.set_yticks(range(len(ids)), labels, fontsize=7)
    ax.set_xlabel("attended token (key)")
    ax.set_ylabel("reading token (query)")
    ax.set_title(f"GPT: attention of layer {layer}, head {head} on a generated line", fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.8, label="attention weight")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_learning_curves(state, path, title):
    """Training loss per step (and its moving average) with the validation loss, in one PNG."""
    plt = plots.pyplot()
    losses = state.history.losses
    steps = np.arange(1, len(losses) + 1)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, losses, color="tab:blue", alpha=0.25, lw=0.8, label="training (per step)")
    window = max(1, len(losses) // 50)
    ax.plot(steps, plots.moving_average(losses, window), color="tab:blue", lw=1.8,
            label=f"training (moving average, {window} steps)")
    if state.validation:
        ax.plot([v["step"] for v in state.validation], [v["loss"] for v in state.validation],
                "o-", color="tab:red", lw=1.5, ms=4, label="validation")
    for i, s in enumerate(state.history.resumed_at):
        ax.axvline(s, color="gray", ls="--", lw=1, label="resumed" if i == 0 else None)
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats per token)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

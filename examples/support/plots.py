"""Pictures of a run drawn with matplotlib: the loss curve (with the learning rate
and the lowest loss label smoothing allows) and attention heat maps, one per head."""
import math

import numpy as np


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed: figures go to files)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def moving_average(values, window):
    """Trailing mean over `window` values (shorter at the start)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return values
    c = np.cumsum(np.concatenate([[0.0], values]))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def label_smoothing_floor(vocab_size, label_smoothing):
    """The lowest loss label smoothing allows: the entropy of the smoothed target.

    The target puts 1 - eps + eps/V on the right token and eps/V on each other
    one; a perfect model predicts exactly that and still pays its entropy.
    """
    eps, v = float(label_smoothing), int(vocab_size)
    if eps <= 0:
        return 0.0
    right, other = 1.0 - eps + eps / v, eps / v
    return -(right * math.log(right) + (v - 1) * other * math.log(other))


def plot_loss_curve(history, path, title="Training loss", floor=None):
    """Loss per step (light), its moving average (dark) and the learning rate, in one PNG.

    Dashed vertical lines mark where the run was resumed from a checkpoint;
    `floor` (e.g. label_smoothing_floor(...)) is drawn as a dotted line.
    """
    plt = pyplot()
    steps = np.arange(1, len(history) + 1)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, history.losses, color="tab:blue", alpha=0.25, lw=0.8, label="loss per step")
    window = max(1, len(history) // 50)
    ax.plot(steps, moving_average(history.losses, window), color="tab:blue", lw=1.8,
            label=f"moving average ({window} steps)")
    if floor:
        ax.axhline(floor, color="black", ls=":", lw=1,
                   label=f"lowest possible with label smoothing ({floor:.3f})")
    for i, s in enumerate(history.resumed_at):
        ax.axvline(s, color="gray", ls="--", lw=1, label="resumed" if i == 0 else None)
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    lr_ax = ax.twinx()
    lr_ax.plot(steps, history.lrs, color="tab:orange", lw=1.2, label="learning rate")
    lr_ax.set_ylabel("learning rate", color="tab:orange")
    lr_ax.tick_params(axis="y", colors="tab:orange")
    lines = ax.get_legend_handles_labels()
    lr_lines = lr_ax.get_legend_handles_labels()
    ax.legend(lines[0] + lr_lines[0], lines[1] + lr_lines[1], loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_attention_heads(weights, src_labels, tgt_labels, path, title="Attention"):
    """One heat map per head: rows are output positions, columns source positions.

    weights: (heads, T, S) array of attention probabilities (each row sums to 1).
    Labels name the tokens along each axis. Long sources get two panels per row.
    """
    plt = pyplot()
    weights = np.asarray(weights)
    heads, t, s = weights.shape
    cols = min(heads, 4 if s <= 12 else 2)
    rows = math.ceil(heads / cols)
    cell = 0.3
    w, h = max(2.5, cell * s + 1.0), max(2.5, cell * t + 1.0)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * w + 0.8, rows * h + 0.7),
                             squeeze=False, constrained_layout=True)
    image = None
    for i, ax in enumerate(axes.flat):
        if i >= heads:
            ax.axis("off")
            continue
        image = ax.imshow(weights[i], cmap="viridis", vmin=0.0, vmax=1.0, aspect="equal")
        ax.set_title(f"head {i}", fontsize=9)
        ax.set_xticks(range(s))
        ax.set_xticklabels(src_labels, fontsize=7, rotation=90 if s <= 12 else 0)
        ax.set_yticks(range(t))
        ax.set_yticklabels(tgt_labels, fontsize=7)
        if i % cols == 0:
            ax.set_ylabel("output token")
        if i // cols == rows - 1 or i + cols >= heads:
            ax.set_xlabel("source token")
    fig.suptitle(title, fontsize=10)
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="attention weight")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

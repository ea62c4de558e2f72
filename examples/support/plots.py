"""Pictures of a run drawn with matplotlib: the loss curve (with the validation loss,
the learning rate and the lowest loss label smoothing allows) and attention heat maps,
one per head, in a font that can draw their labels."""
import contextlib
import math
import sys
import warnings

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


def plot_loss_curve(history, path, title="Training loss", floor=None, validation_key=None,
                    ylabel="cross-entropy loss"):
    """Loss per step (light), its moving average (dark) and the learning rate, in one PNG.

    Dashed vertical lines mark where the run was resumed from a checkpoint;
    `floor` (e.g. label_smoothing_floor(...)) is drawn as a dotted line;
    `validation_key` names the entry of history.evaluations drawn as the validation
    loss at its steps (None: no validation series).
    """
    plt = pyplot()
    steps = np.arange(1, len(history) + 1)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, history.losses, color="tab:blue", alpha=0.25, lw=0.8, label="loss per step")
    window = max(1, len(history) // 50)
    ax.plot(steps, moving_average(history.losses, window), color="tab:blue", lw=1.8,
            label=f"moving average ({window} steps)")
    evaluations = [e for e in history.evaluations if validation_key in e]
    if validation_key and evaluations:
        ax.plot([e["step"] for e in evaluations], [e[validation_key] for e in evaluations],
                "o-", color="tab:red", lw=1.5, ms=4, label="validation")
    if floor:
        ax.axhline(floor, color="black", ls=":", lw=1,
                   label=f"lowest possible with label smoothing ({floor:.3f})")
    for i, s in enumerate(history.resumed_at):
        ax.axvline(s, color="gray", ls="--", lw=1, label="resumed" if i == 0 else None)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
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


def plot_runs_over_time(curves, path, ylabel, title):
    """Several runs' curves on one set of axes: `curves` is a list of (label, minutes,
    values); the x axis is training time in minutes (the side-by-side comparisons of
    benchmarks/*_torch.py --compare). Returns `path`."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    for label, minutes, values in curves:
        ax.plot(minutes, values, "o-", ms=3, label=label)
    ax.set_xlabel("training time (minutes)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_attention_heads(weights, src_labels, tgt_labels, path, title="Attention",
                         heads=None, xlabel="source token", ylabel="output token"):
    """One heat map per head: rows are output positions, columns source positions.

    weights: (panels, T, S) array of attention probabilities (each row sums to 1).
    `heads` names each panel's head (default 0, 1, ...; e.g. [3] for one chosen
    head, or ["mean over heads"]). Labels name the tokens along each axis, drawn
    in a font that has their glyphs (font_for). Long sources get two panels per row.
    """
    plt = pyplot()
    weights = np.asarray(weights)
    panels, t, s = weights.shape
    names = [f"head {h}" if isinstance(h, int) else str(h)
             for h in (range(panels) if heads is None else heads)]
    cols = min(panels, 4 if s <= 12 else 2)
    rows = math.ceil(panels / cols)
    cell = 0.3
    w, h = max(2.5, cell * s + 1.0), max(2.5, cell * t + 1.0)
    with font_for(list(src_labels) + list(tgt_labels)) as note:
        if note:
            print(f"note: {note}", file=sys.stderr)     # stdout may be the program's output
        fig, axes = plt.subplots(rows, cols, figsize=(cols * w + 0.8, rows * h + 0.7),
                                 squeeze=False, constrained_layout=True)
        image = None
        for i, ax in enumerate(axes.flat):
            if i >= panels:
                ax.axis("off")
                continue
            image = ax.imshow(weights[i], cmap="viridis", vmin=0.0, vmax=1.0, aspect="equal")
            ax.set_title(names[i], fontsize=9)
            ax.set_xticks(range(s))
            ax.set_xticklabels(src_labels, fontsize=7, rotation=90 if s <= 12 else 0)
            ax.set_yticks(range(t))
            ax.set_yticklabels(tgt_labels, fontsize=7)
            if i % cols == 0:
                ax.set_ylabel(ylabel)
            if i // cols == rows - 1 or i + cols >= panels:
                ax.set_xlabel(xlabel)
        fig.suptitle(title, fontsize=10)
        fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="attention weight")
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return path


# Fonts with Hangul and other CJK glyphs, used when installed (DejaVu Sans, matplotlib's
# default, has Latin, Greek and Cyrillic only).
CJK_FONTS = ("Noto Sans CJK KR", "Noto Sans KR", "NanumGothic", "UnDotum", "Malgun Gothic",
             "AppleGothic", "Noto Sans CJK JP", "Noto Sans CJK SC", "Arial Unicode MS")


@contextlib.contextmanager
def font_for(labels):
    """A matplotlib font that can draw `labels` (Korean pieces need a CJK font; DejaVu
    has none). Yields None, or a note saying which font to install when none is found
    (the picture is then drawn with empty boxes, without a warning per glyph)."""
    import matplotlib
    from matplotlib import font_manager
    if all(ord(c) < 0x2E80 for label in labels for c in label):
        yield None
        return
    installed = {f.name for f in font_manager.fontManager.ttflist}
    found = next((name for name in CJK_FONTS if name in installed), None)
    if found:
        with matplotlib.rc_context({"font.family": [found, "DejaVu Sans"]}):
            yield None
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        yield ("no CJK font found, so the picture shows boxes for those labels; install "
               "one (e.g. apt-get install fonts-noto-cjk)")

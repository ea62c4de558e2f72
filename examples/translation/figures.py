"""The translation run's curves: training loss with validation loss, and the
validation BLEU (or chrF) over training time."""
import contextlib
import warnings

import numpy as np

from support.plots import moving_average, pyplot


def plot_losses(history, evaluations, path, title):
    """Training loss per step (moving average) and validation loss at its steps."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    steps = np.arange(1, len(history) + 1)
    ax.plot(steps, history.losses, color="tab:blue", alpha=0.2, lw=0.8)
    window = max(1, len(history) // 50)
    ax.plot(steps, moving_average(history.losses, window), color="tab:blue", lw=1.8,
            label=f"training (moving average of {window} steps)")
    if evaluations:
        ax.plot([e["step"] for e in evaluations], [e["valid_loss"] for e in evaluations],
                "o-", color="tab:red", lw=1.5, ms=4, label="validation")
    for i, s in enumerate(history.resumed_at):
        ax.axvline(s, color="gray", ls="--", lw=1, label="resumed" if i == 0 else None)
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy loss (label-smoothed for training)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_score(evaluations, path, metric, title):
    """Validation `metric` (greedy decoding) against training minutes."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([e["train_seconds"] / 60 for e in evaluations], [e[metric] for e in evaluations],
            "o-", color="tab:green", lw=1.5, ms=4)
    ax.set_xlabel("training time (minutes)")
    ax.set_ylabel(f"validation {metric.upper() if metric == 'bleu' else 'chrF'} (greedy)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


CJK_FONTS = ("Noto Sans CJK KR", "Noto Sans KR", "NanumGothic", "UnDotum", "Malgun Gothic",
             "AppleGothic", "Noto Sans CJK JP", "Noto Sans CJK SC")


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
        yield ("no CJK font found, so the attention picture shows boxes for Korean pieces; "
               "install one (e.g. apt-get install fonts-noto-cjk)")

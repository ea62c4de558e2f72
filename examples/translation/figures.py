"""The translation run's curves: training loss with validation loss, and the
validation BLEU (or chrF) over training time."""
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

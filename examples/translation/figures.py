"""The translation run's score curve: the validation BLEU (or chrF) over training time
(the loss curve is support.plots.plot_loss_curve with validation_key="valid_loss")."""
from support.plots import pyplot


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

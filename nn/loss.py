"""Loss functions as modules."""
from minigrad.errors import MinigradError
from minigrad.ops import cross_entropy

from .module import Module


class CrossEntropyLoss(Module):
    """Cross-entropy of raw logits (N, C) or (N, C, d...) against class ids.

    Targets equal to `ignore_index` (padding) add nothing and do not count in
    the mean. `label_smoothing` mixes the one-hot target with the uniform
    distribution over classes (Szegedy et al., 2016; used by the Transformer paper).
    """

    def __init__(self, ignore_index=-100, label_smoothing=0.0, reduction="mean"):
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise MinigradError(f"CrossEntropyLoss: reduction must be 'mean', 'sum' or 'none', "
                                f"got {reduction!r}")
        if not 0.0 <= label_smoothing <= 1.0:
            raise MinigradError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], "
                                f"got {label_smoothing}")
        self.ignore_index = int(ignore_index)
        self.label_smoothing = float(label_smoothing)
        self.reduction = reduction

    def forward(self, input, target):
        return cross_entropy(input, target, self.ignore_index, self.label_smoothing,
                             self.reduction)

    def extra_repr(self):
        return (f"ignore_index={self.ignore_index}, label_smoothing={self.label_smoothing}, "
                f"reduction={self.reduction!r}")

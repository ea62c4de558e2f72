"""The position-wise feed-forward network: FFN(x) = activation(x W1 + b1) W2 + b2.

Applied to every position separately and identically; the inner width
(dim_feedforward, 4 * d_model in the paper) is where most of a Transformer
layer's parameters live. Named linear1 / linear2 as in torch.nn.TransformerEncoderLayer.
"""
import minigrad as mg
from minigrad.errors import MinigradError

from .dropout import Dropout
from .linear import Linear
from .module import Module


def get_activation(activation):
    """'relu', 'gelu' or a callable (a function or a Module) -> the callable."""
    if callable(activation):
        return activation
    if activation == "relu":
        return mg.relu
    if activation == "gelu":
        return mg.gelu
    raise MinigradError(f"activation should be 'relu', 'gelu' or a callable, got {activation!r}")


class FeedForward(Module):
    """linear1 -> activation -> dropout -> linear2, over the last axis (bias=False: the two
    Linear layers without biases, as torch's Transformer layers with bias=False)."""

    def __init__(self, d_model, dim_feedforward, dropout=0.1, activation="relu", bias=True):
        super().__init__()
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias)
        self.activation = get_activation(activation)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias)

    def forward(self, x):
        return self.linear2(self.dropout(self.activation(self.linear1(x))))

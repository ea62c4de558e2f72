"""Dropout (Srivastava et al., 2014) as a module: active in train(), identity in eval()."""
from minigrad.errors import MinigradError
from minigrad.ops import dropout

from . import functional as F
from .module import Module


class Dropout(Module):
    """Zero each element with probability p and scale the survivors by 1/(1-p),
    so the expected activation is the same in training and evaluation."""

    def __init__(self, p=0.5, inplace=False):      # inplace=True: writes into the input
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise MinigradError(f"Dropout: probability p must be in [0, 1], got {p}")
        self.p = float(p)
        self.inplace = bool(inplace)

    def forward(self, x):
        if self.inplace:
            return F.dropout(x, self.p, self.training, inplace=True)
        return dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"

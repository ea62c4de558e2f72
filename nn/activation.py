"""Activation functions as modules, for use in Sequential and as layer options."""
from minigrad.errors import MinigradError
from minigrad.ops import gelu, relu, sigmoid, tanh

from .module import Module


class ReLU(Module):
    """max(x, 0)."""

    def forward(self, x):
        return relu(x)


class GELU(Module):
    """x * Phi(x); approximate='tanh' is the GPT-2 form, 'none' the exact erf form."""

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise MinigradError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return gelu(x, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class Tanh(Module):
    def forward(self, x):
        return tanh(x)


class Sigmoid(Module):
    def forward(self, x):
        return sigmoid(x)

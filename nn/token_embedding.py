"""Token embedding scaled by sqrt(d_model), as in the paper (section 3.4).

The scale puts the embeddings on the same footing as the positional encoding
added to them (values in [-1, 1]); with Xavier-initialised or tied weights the
raw rows would otherwise be small next to it.
"""
import math

from .embedding import Embedding
from .module import Module


class TokenEmbedding(Module):
    """ids (any shape) -> embedding(ids) * sqrt(d_model)."""

    def __init__(self, vocab_size, d_model, padding_idx=None):
        super().__init__()
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.scale = math.sqrt(d_model)
        self.embedding = Embedding(vocab_size, d_model, padding_idx=padding_idx)

    def extra_repr(self):
        return f"vocab_size={self.vocab_size}, d_model={self.d_model}"

    def forward(self, tokens):
        return self.embedding(tokens) * self.scale

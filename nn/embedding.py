"""Token embeddings: a learned vector per vocabulary entry, looked up by id."""
from minigrad.errors import MinigradError
from minigrad.ops import embedding

from . import init
from .linear import empty_parameter
from .module import Module


class Embedding(Module):
    """A (num_embeddings, embedding_dim) table; forward(ids) returns table[ids].

    Rows start N(0, 1) as in PyTorch. The row at `padding_idx` starts at zero and
    never receives a gradient, so padding tokens stay the zero vector.
    """

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, device=None, dtype=None):
        super().__init__()
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = int(embedding_dim)
        if self.num_embeddings < 0 or self.embedding_dim < 0:
            raise MinigradError(f"Embedding: num_embeddings and embedding_dim must be >= 0, got "
                                f"{num_embeddings} and {embedding_dim}")
        if padding_idx is not None:
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise MinigradError(f"Embedding: padding_idx {padding_idx} is out of range for "
                                    f"{self.num_embeddings} embeddings")
            padding_idx %= self.num_embeddings
        self.padding_idx = padding_idx
        self.weight = empty_parameter((self.num_embeddings, self.embedding_dim), dtype, device)
        self.reset_parameters()

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.array[self.padding_idx] = 0

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, padding_idx=None):
        """An Embedding whose table is a copy of the 2-D `embeddings` (torch's classmethod);
        freeze=True keeps it out of training (requires_grad False). Unlike the constructor, the
        padding row keeps its given values (as torch)."""
        if embeddings.dim() != 2:
            raise MinigradError(f"Embedding.from_pretrained: embeddings must be 2-D, got shape "
                                f"{tuple(embeddings.shape)}")
        rows, cols = embeddings.shape
        emb = cls(rows, cols, padding_idx=padding_idx, dtype=embeddings.dtype,
                  device=embeddings.device)
        emb.weight.array[...] = embeddings.array
        emb.weight.requires_grad = not freeze
        return emb

    def forward(self, ids):
        return embedding(ids, self.weight, self.padding_idx)

    def extra_repr(self):
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"

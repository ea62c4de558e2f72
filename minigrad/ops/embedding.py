"""Embedding lookup: rows of a weight matrix picked by token id."""
import numpy as np

from ..autograd import Function
from ..backend import int_range, xp_of
from ..errors import DTypeError, IndexOutOfRangeError, ShapeError
from ..tensor import Tensor, constant
from .index import scatter_add


class Embedding(Function):
    """weight[ids]; the backward sums the gradient rows of equal ids (one form: no
    separate reference, the lookup is already the textbook op)."""
    name = "embedding"
    once_differentiable = True
    ids: object                      # int array of token ids, any shape
    padding_idx: object              # int row that gets no gradient, or None

    def forward(self, weight):
        return weight[self.ids]

    def backward(self, grad):
        g = grad.array.reshape(self.ids.size, grad.shape[-1])   # not -1: the dim may be 0
        ids = self.ids.reshape(-1)
        xp = xp_of(g)
        dw = xp.zeros(self.inputs[0].shape, dtype=g.dtype)
        if xp is np and ids.size:
            # sort the ids, sum each run of equal ids in one vectorised reduceat,
            # and write each row once: much faster than np.add.at's scatter
            order = np.argsort(ids, kind="stable")
            sorted_ids = ids[order]
            starts = np.flatnonzero(np.concatenate(([True], sorted_ids[1:] != sorted_ids[:-1])))
            dw[sorted_ids[starts]] = np.add.reduceat(g[order], starts, axis=0)
        else:
            scatter_add(dw, ids, g)
        if self.padding_idx is not None:
            dw[self.padding_idx] = 0
        return constant(dw)


def embedding(ids, weight, padding_idx=None):
    """weight[ids]; rows at `padding_idx` get no gradient."""
    idx = ids.array if isinstance(ids, Tensor) else np.asarray(ids)
    if idx.dtype.kind not in "iu":
        raise DTypeError(f"embedding: token ids must be integers, got dtype {idx.dtype}")
    if weight.ndim != 2:
        raise ShapeError(f"embedding: weight must be 2-D (num_embeddings, embedding_dim), got "
                         f"shape {tuple(weight.shape)}")
    vocab = weight.shape[0]
    bounds = int_range(idx)
    if bounds is not None and (bounds[0] < 0 or bounds[1] >= vocab):
        bad = bounds[1] if bounds[1] >= vocab else bounds[0]
        raise IndexOutOfRangeError(
            f"embedding: token id {bad} is out of range for a vocabulary of {vocab} "
            f"(weight shape {tuple(weight.shape)})")
    if padding_idx is not None and not -vocab <= padding_idx < vocab:
        raise IndexOutOfRangeError(f"embedding: padding_idx {padding_idx} is out of range for a "
                                   f"vocabulary of {vocab} (weight shape {tuple(weight.shape)})")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += vocab
    return Embedding.apply(weight, ids=idx, padding_idx=padding_idx)

"""Checks of model inputs shared by the models (Seq2SeqTransformer, MarianMT, GPT)."""
import numpy as np

from minigrad.backend import int_range
from minigrad.errors import DTypeError, IndexOutOfRangeError, ShapeError
from minigrad.tensor import Tensor


def token_ids(ids, who, arg, vocab_size, vocab_name="vocab_size", ignore_index=None,
              device=None):
    """`ids` as an integer Tensor (batch, length) of token ids in [0, vocab_size).

    ids: a Tensor, or anything np.asarray takes (then placed on `device`, default CPU).
    who / arg: the model and the argument, named in the errors (e.g. "GPT", "idx").
    vocab_name: how the model's configuration calls vocab_size, named in the error.
    ignore_index: an id allowed outside the range (-100 in training targets).
    Raises DTypeError (not integers), ShapeError (not 2-d) or IndexOutOfRangeError
    (an id outside the vocabulary: nn.Embedding would read past its table).
    """
    if not isinstance(ids, Tensor):
        ids = Tensor(np.asarray(ids)) if device is None else Tensor(np.asarray(ids), device=device)
    if ids.dtype.kind not in "iu":
        raise DTypeError(f"{who}: {arg} token ids must be integers, got dtype {ids.dtype} "
                         f"(shape {tuple(ids.shape)}); expected integer token ids (batch, length)")
    if ids.ndim != 2:
        raise ShapeError(f"{who}: {arg} must be (batch, length) token ids, got shape "
                         f"{tuple(ids.shape)}")
    bounds = int_range(ids.array, ignore_index)
    if bounds is not None:
        lo, hi = bounds
        if lo < 0 or hi >= vocab_size:
            raise IndexOutOfRangeError(
                f"{who}: {arg} token id {hi if hi >= vocab_size else lo} is out of range for "
                f"{vocab_name}={vocab_size} ({arg} shape {tuple(ids.shape)})")
    return ids

"""Checking the decoders' arguments, in one place for greedy search, sampling and beam search.

Every check raises DecodingError naming the decoder, the argument, what it got and
what it expected, before any decoding step runs.
"""
import math
import numbers

import numpy as np

from minigrad.errors import MinigradError
from minigrad.tensor import Tensor


class DecodingError(MinigradError, ValueError):
    """An argument a decoder cannot take (type, range, NaN, outside the vocabulary)."""


def _fail(op, name, value, expected):
    return DecodingError(f"{op}: {name} must be {expected}, got {value!r} "
                         f"({type(value).__name__})")


def integer(op, name, value, minimum=None, optional=False):
    """An int (a Python or NumPy integer, not a bool or a float such as 2.5)."""
    if value is None and optional:
        return None
    expected = "an integer" + (f" >= {minimum}" if minimum is not None else "")
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise _fail(op, name, value, expected)
    if minimum is not None and value < minimum:
        raise _fail(op, name, value, expected)
    return int(value)


def real(op, name, value, minimum=None, maximum=None, low_open=False, optional=False):
    """A finite real number within [minimum, maximum] ((minimum, maximum] with low_open)."""
    if value is None and optional:
        return None
    lo = "" if minimum is None else f"{minimum} {'<' if low_open else '<='} "
    hi = "" if maximum is None else f" <= {maximum}"
    expected = f"a finite number{', ' + lo + name + hi if lo or hi else ''}"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) \
            or not math.isfinite(value):
        raise _fail(op, name, value, expected)
    if (minimum is not None and (value < minimum or (low_open and value == minimum))) or \
            (maximum is not None and value > maximum):
        raise _fail(op, name, value, expected)
    return float(value)


def symbols(op, name, value, optional=True):
    """None, one token id, or a non-empty sequence of them -> a tuple of ints (or None)."""
    if value is None and optional:
        return None
    many = isinstance(value, (list, tuple, np.ndarray))
    items = list(np.asarray(value).reshape(-1)) if many else [value]
    if many and not items:
        raise _fail(op, name, value, "a token id or a non-empty list of token ids")
    return tuple(integer(op, name, v, minimum=0) for v in items)


def bad_words(op, value, ends):
    """bad_words_ids as transformers: a non-empty list of non-empty lists of token ids;
    lone end symbols are dropped (as NoBadWordsLogitsProcessor does)."""
    if value is None:
        return ()
    expected = "a non-empty list of non-empty lists of token ids (>= 0)"
    if not isinstance(value, (list, tuple)) or not value or \
            any(not isinstance(w, (list, tuple)) or not w for w in value):
        raise _fail(op, "bad_words_ids", value, expected)
    words = tuple(tuple(integer(op, "bad_words_ids", t, minimum=0) for t in w) for w in value)
    return tuple(w for w in words if not (len(w) == 1 and ends and w[0] in ends))


def prompt_ids(op, prompt, start_symbol, batch_size):
    """The first tokens fed to the model: `prompt` (B, n) or a column of start_symbol."""
    if prompt is None:
        if start_symbol is None:
            raise DecodingError(f"{op}: give start_symbol (the first token of every output) or a "
                                "prompt of token ids (batch, n)")
        start = integer(op, "start_symbol", start_symbol, minimum=0)
        return np.full((batch_size, 1), start, dtype=np.int64)
    ids = prompt.numpy() if isinstance(prompt, Tensor) else np.asarray(prompt)
    if ids.dtype.kind not in "iu" or ids.ndim != 2 or ids.shape[0] != batch_size \
            or ids.shape[1] < 1 or (ids.size and ids.min() < 0):
        raise DecodingError(f"{op}: prompt must be non-negative integer token ids of shape "
                            f"(batch={batch_size}, n >= 1), got dtype {ids.dtype} and shape "
                            f"{tuple(ids.shape)}")
    return ids.astype(np.int64, copy=False)


def total_length(op, max_len, max_new_tokens, prompt_len):
    """The longest output, prompt included: max_len, or prompt_len + max_new_tokens."""
    if max_new_tokens is not None:
        return prompt_len + integer(op, "max_new_tokens", max_new_tokens, minimum=1)
    if max_len is None:
        raise DecodingError(f"{op}: give max_len (the longest output, prompt included) or "
                            "max_new_tokens")
    return integer(op, "max_len", max_len, minimum=prompt_len + 1)


def against_state(op, state, max_len, ids, **symbols_by_name):
    """Check the lengths and token ids against what the state says of the model."""
    table = getattr(state, "max_positions", None)
    if table is not None and max_len > table:
        raise DecodingError(f"{op}: max_len must be <= {table}, the model's positional table "
                            f"size (max_positions), got {max_len}")
    vocab = getattr(state, "vocab_size", None)
    if vocab is None:
        return
    if ids.size and ids.max() >= vocab:
        raise DecodingError(f"{op}: prompt / start_symbol token id {int(ids.max())} is outside "
                            f"the vocabulary: expected ids in [0, {vocab})")
    for name, values in symbols_by_name.items():
        for v in values or ():
            if isinstance(v, tuple):
                if any(t >= vocab for t in v):
                    raise DecodingError(f"{op}: {name} must hold ids in [0, {vocab}) (the "
                                        f"vocabulary), got {list(v)}")
            elif v >= vocab:
                raise DecodingError(f"{op}: {name} must be a token id in [0, {vocab}) (the "
                                    f"vocabulary), got {v}")

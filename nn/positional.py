"""Sinusoidal positional encoding: where each token sits, added to what it is.

    PE(pos, 2i)   = sin(pos / 10000^(2i / d_model))
    PE(pos, 2i+1) = cos(pos / 10000^(2i / d_model))

Attention itself is blind to order; these fixed waves give each position a
distinct signature, and for any offset k, PE(pos + k) is a linear function of
PE(pos), so relative positions are easy to attend to (Vaswani et al., 2017, 3.5).
"""
import numpy as np

from minigrad.dtype import as_dtype, get_default_dtype
from minigrad.errors import MinigradError, ShapeError
from minigrad.tensor import Tensor

from .dropout import Dropout
from .module import Module


def sinusoid_table(max_len, d_model, dtype=None):
    """The (max_len, d_model) table: sine on even dimensions, cosine on odd ones; computed
    in float64, returned in `dtype` (default: minigrad.get_default_dtype())."""
    position = np.arange(max_len, dtype=np.float64)[:, None]
    div_term = np.exp(np.arange(0, d_model, 2, dtype=np.float64) * (-np.log(10000.0) / d_model))
    pe = np.zeros((max_len, d_model), dtype=np.float64)
    pe[:, 0::2] = np.sin(position * div_term)
    pe[:, 1::2] = np.cos(position * div_term[: d_model // 2])
    return pe.astype(as_dtype(dtype) or get_default_dtype())


class PositionalEncoding(Module):
    """x + PE[start : start + T], then dropout.

    Inputs are (B, T, d_model) with batch_first=True (the default here), or
    (T, B, d_model). `start` offsets the positions, for incremental decoding where
    only the newest token is embedded. The table is a non-persistent buffer in `dtype`
    (default: minigrad.get_default_dtype()): it is recomputed, not saved in checkpoints,
    and moves with `.to(device)`. Raises MinigradError for a d_model or max_len that is
    not a positive int, ShapeError for an input that does not fit.
    """

    def __init__(self, d_model, dropout=0.1, max_len=5000, batch_first=True, dtype=None):
        super().__init__()
        for arg, n in (("d_model", d_model), ("max_len", max_len)):
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
                raise MinigradError(f"PositionalEncoding: {arg} must be a positive int, got {n!r}")
        self.d_model = d_model
        self.max_len = max_len
        self.batch_first = batch_first
        self.dropout = Dropout(dropout)
        self.register_buffer("pe", Tensor(sinusoid_table(max_len, d_model, dtype)),
                             persistent=False)

    def extra_repr(self):
        return f"d_model={self.d_model}, max_len={self.max_len}, batch_first={self.batch_first}"

    def forward(self, x, start=0):
        if x.ndim != 3 or x.shape[-1] != self.d_model:
            layout = "(B, T, d_model)" if self.batch_first else "(T, B, d_model)"
            raise ShapeError(f"PositionalEncoding: input must be {layout} with d_model="
                             f"{self.d_model}, got shape {tuple(x.shape)}")
        t = x.shape[1] if self.batch_first else x.shape[0]
        if start + t > self.max_len:
            raise ShapeError(f"PositionalEncoding: positions {start}..{start + t - 1} exceed "
                             f"max_len={self.max_len} (input shape {tuple(x.shape)})")
        pe = self.pe.array[start:start + t]
        if not self.batch_first:
            pe = pe[:, None, :]
        pe = pe.astype(x.dtype, copy=False)
        return self.dropout(x + Tensor._make(pe, False, None))

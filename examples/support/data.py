"""Data for the examples: special token ids, one random stream per step, padded
teacher-forcing batches, and the checksum of a fetched file."""
import hashlib

import numpy as np

import minigrad.distributed as dist
from minigrad.tensor import Tensor

PAD, START, END = 0, 1, 2          # the special token ids every example uses


def sha256_of(path):
    """The sha256 of a file as hex, read a MiB at a time (for checking fetched data)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def data_rng(seed, stream, index=0):
    """An independent random generator per (seed, stream, index).

    Training draws batch `step` from stream 0 with index `step`, so a resumed run
    sees exactly the batches the uninterrupted run would have seen; evaluation
    draws from other streams, which training never touches.
    """
    return np.random.default_rng([seed, stream, index])


def pad_sequences(sequences, pad=PAD, length=None):
    """A list of token-id lists -> (B, L) int64 array, padded on the right with `pad`."""
    length = length or max(len(s) for s in sequences)
    out = np.full((len(sequences), length), pad, dtype=np.int64)
    for i, s in enumerate(sequences):
        out[i, :len(s)] = s
    return out


class Batch:
    """One teacher-forcing batch on the device.

    tgt (B, T) starts with the start symbol. The decoder reads tgt[:, :-1] and must
    predict tgt[:, 1:] (the same sequence shifted by one). Masks are not built here:
    the model derives padding masks from its pad_idx, and the decoder adds its own
    causal mask.
    """

    def __init__(self, src, tgt, device="cpu", pad=PAD):
        src, tgt = np.asarray(src, dtype=np.int64), np.asarray(tgt, dtype=np.int64)
        self.src_ids, self.tgt_ids, self.device, self.pad = src, tgt, device, pad
        self.src = Tensor(src, device=device)
        self.tgt_in = Tensor(tgt[:, :-1], device=device)
        self.tgt_out = Tensor(tgt[:, 1:], device=device)
        self.n_tokens = int((tgt[:, 1:] != pad).sum())     # tokens the loss is taken over

    def shard(self, rank=None, world_size=None):
        """This rank's equal, contiguous share of the batch (data parallelism)."""
        src, tgt = dist.shard_batch(self.src_ids, self.tgt_ids, rank=rank, world_size=world_size)
        return Batch(src, tgt, device=self.device, pad=self.pad)

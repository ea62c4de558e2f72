"""Batches of a token budget, as translation toolkits make them (fairseq's
--max-tokens): sentences sorted by length, cut into batches whose padded size
stays within the budget, the batches' order shuffled every epoch.

Sorting puts sentences of similar length together, so little of a batch is
padding; short sentences make batches of many rows, long ones of few. The
batches are cut once (ties in length broken at random from the seed), and epoch
e visits them in an order drawn from (seed, e): batch number `step` is a
function of the seed and the step alone, so a resumed run sees exactly the
batches of an uninterrupted one.
"""
import numpy as np

from support.cli import ExampleError
from support.data import END, START, Batch, data_rng, pad_sequences


def source_ids(ids):
    """A source sentence as the encoder reads it: its pieces and the end symbol."""
    return list(ids) + [END]


def target_ids(ids):
    """A target sentence as teacher forcing uses it: start symbol, pieces, end symbol."""
    return [START] + list(ids) + [END]


def token_batches(src, tgt, max_tokens, seed):
    """Cut pairs (lists of id lists, as source_ids/target_ids made them) into batches.

    A batch of n pairs whose longest source is S and longest target T costs
    n * max(S, T) padded tokens and stays within `max_tokens` (a pair longer than
    the budget gets a batch of its own). Returns a list of index arrays.
    """
    if max_tokens <= 0:
        raise ExampleError(f"token budget must be > 0, got {max_tokens}")
    lengths = np.array([max(len(s), len(t)) for s, t in zip(src, tgt)], dtype=np.int64)
    tie = data_rng(seed, stream=2).random(len(lengths))
    order = np.lexsort((tie, lengths))           # by length, ties at random
    batches, start, longest = [], 0, 0
    for i, idx in enumerate(order):
        longest_with = max(longest, lengths[idx])
        if i > start and longest_with * (i - start + 1) > max_tokens:
            batches.append(order[start:i])
            start, longest_with = i, lengths[idx]
        longest = longest_with
    if len(order) > start:
        batches.append(order[start:])
    return batches


class TokenBatches:
    """Training batches by step: `batch(step)` for step 1, 2, ... (endless epochs)."""

    def __init__(self, src, tgt, max_tokens, seed, device="cpu"):
        self.src, self.tgt, self.seed, self.device = src, tgt, seed, device
        self.batches = token_batches(src, tgt, max_tokens, seed)

    def __len__(self):
        return len(self.batches)

    def batch(self, step):
        epoch, index = divmod(step - 1, len(self.batches))
        order = data_rng(self.seed, stream=0, index=epoch).permutation(len(self.batches))
        return self.make(self.batches[order[index]])

    def make(self, rows):
        """The Batch of these pair indices, padded (0) to the longest of each side."""
        return Batch(pad_sequences([self.src[i] for i in rows]),
                     pad_sequences([self.tgt[i] for i in rows]), device=self.device)

    def in_order(self):
        """Every batch once, in length order (validation: the same batches every time)."""
        for rows in self.batches:
            yield self.make(rows)

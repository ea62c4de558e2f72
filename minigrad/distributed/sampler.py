"""Sharding the data by rank: each process trains on its own equal share.

Two ways, for the two ways examples get their data:

- A data set of N examples: `DistributedSampler` gives each rank a disjoint,
  equal share of the indices, reshuffled every epoch in the same way on every
  rank (same seed and epoch), so together the ranks cover the data set once.
- A global batch already in memory: `shard_batch` cuts it into equal contiguous
  pieces, one per rank. DDP over those pieces gives exactly the gradient of the
  whole batch.
"""
import numpy as np

from ..errors import ShapeError
from .world import get_rank, get_world_size


class DistributedSampler:
    """The example indices this rank trains on in one epoch.

        sampler = DistributedSampler(len(pairs), shuffle=True, seed=0)
        for epoch in range(epochs):
            sampler.set_epoch(epoch)          # a new order, the same on every rank
            idx = sampler.indices()
            for start in range(0, len(idx), batch_size):
                batch = [pairs[i] for i in idx[start:start + batch_size]]

    When N does not divide by the number of ranks, the shuffled order is padded
    by repeating its first examples (every rank gets the same number of
    batches, so no rank waits in an all-reduce the others never join), or cut
    to a multiple with `drop_last=True`.
    """

    def __init__(self, num_examples, num_replicas=None, rank=None, shuffle=True, seed=0,
                 drop_last=False):
        self.num_examples = int(num_examples)
        self.num_replicas = get_world_size() if num_replicas is None else int(num_replicas)
        self.rank = get_rank() if rank is None else int(rank)
        if not 0 <= self.rank < self.num_replicas:
            raise ShapeError(f"DistributedSampler: rank {self.rank} is outside "
                             f"0..{self.num_replicas - 1}")
        self.shuffle, self.seed, self.drop_last = shuffle, int(seed), drop_last
        self.epoch = 0
        if drop_last:
            self.num_samples = self.num_examples // self.num_replicas
        else:
            self.num_samples = -(-self.num_examples // self.num_replicas)   # ceil
        self.total_size = self.num_samples * self.num_replicas

    def set_epoch(self, epoch):
        """Choose the epoch's shuffle; call it with the same value on every rank."""
        self.epoch = int(epoch)

    def indices(self):
        """This rank's indices for the current epoch, as an int64 array."""
        if self.shuffle:
            order = np.random.default_rng((self.seed, self.epoch)).permutation(self.num_examples)
        else:
            order = np.arange(self.num_examples)
        if self.total_size <= len(order):
            order = order[:self.total_size]
        elif len(order):
            order = np.resize(order, self.total_size)     # repeats from the start
        return order[self.rank::self.num_replicas].astype(np.int64)

    def __iter__(self):
        return iter(self.indices().tolist())

    def __len__(self):
        return self.num_samples


def shard_batch(*arrays, rank=None, world_size=None):
    """This rank's equal, contiguous slice (along the first axis) of each array of a
    global batch. Arrays or Tensors; a single argument gives a single result.

        src, tgt = shard_batch(global_src, global_tgt)   # rank r: rows [r*b, (r+1)*b)
    """
    rank = get_rank() if rank is None else rank
    world_size = get_world_size() if world_size is None else world_size
    out = []
    for a in arrays:
        n = a.shape[0]
        if n % world_size:
            raise ShapeError(f"shard_batch: a batch of {n} examples (shape {tuple(a.shape)}) "
                             f"does not split into {world_size} equal shards; use a global "
                             f"batch size that is a multiple of {world_size}")
        b = n // world_size
        out.append(a[rank * b:(rank + 1) * b])
    return out[0] if len(out) == 1 else tuple(out)

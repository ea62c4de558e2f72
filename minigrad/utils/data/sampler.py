"""Samplers: which indices, in which order (and, BatchSampler, grouped into batches)."""
import numbers

import numpy as np

from ...backend import generator as default_generator
from ...distributed.sampler import DistributedSampler as _DistributedSampler
from ...errors import MinigradError
from ...tensor import Tensor


def as_generator(generator):
    """A numpy Generator: minigrad's own (drawn at call time, so manual_seed applies) when
    None, a fresh one for an int seed, else the numpy Generator given."""
    if generator is None:
        return default_generator("cpu")
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, numbers.Integral) and not isinstance(generator, bool):
        return np.random.default_rng(int(generator))
    raise MinigradError(f"expected generator=None, an int seed or a numpy.random.Generator, got "
                        f"{type(generator).__name__}")


def _positive_int(owner, key, v):
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v <= 0:
        raise MinigradError(f"{owner}: {key} must be a positive int, got {v!r}")
    return int(v)


class Sampler:
    """Base class: subclasses define __iter__ over indices (and usually __len__)."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} has no __iter__")


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self):
        return len(self.data_source)


class RandomSampler(Sampler):
    """A fresh random permutation each epoch (or num_samples draws with replacement)."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        self.data_source, self.replacement, self.generator = data_source, bool(replacement), generator
        self._num_samples = None if num_samples is None else \
            _positive_int("RandomSampler", "num_samples", num_samples)

    @property
    def num_samples(self):
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __iter__(self):
        n, gen = len(self.data_source), as_generator(self.generator)
        if self.replacement:
            return iter(gen.integers(0, n, self.num_samples).tolist())
        rounds = -(-self.num_samples // n) if n else 0       # num_samples > n: several permutations
        order = np.concatenate([gen.permutation(n) for _ in range(rounds)] or [np.arange(0)])
        return iter(order[:self.num_samples].tolist())

    def __len__(self):
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given indices, in a fresh random order each epoch."""

    def __init__(self, indices, generator=None):
        self.indices, self.generator = list(indices), generator

    def __iter__(self):
        order = as_generator(self.generator).permutation(len(self.indices))
        return iter([self.indices[i] for i in order])

    def __len__(self):
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """num_samples indices drawn with probability proportional to `weights`."""

    def __init__(self, weights, num_samples, replacement=True, generator=None):
        w = np.asarray(weights.numpy() if isinstance(weights, Tensor) else weights, np.float64)
        if w.ndim != 1 or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise MinigradError(f"WeightedRandomSampler: weights must be a 1-D sequence of "
                                f"finite non-negative numbers with a positive sum, got {weights!r:.80}")
        self.weights, self.replacement, self.generator = w, bool(replacement), generator
        self.num_samples = _positive_int("WeightedRandomSampler", "num_samples", num_samples)

    def __iter__(self):
        gen = as_generator(self.generator)
        return iter(gen.choice(len(self.weights), self.num_samples, replace=self.replacement,
                               p=self.weights / self.weights.sum()).tolist())

    def __len__(self):
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of batch_size indices from `sampler`; the last shorter one unless drop_last."""

    def __init__(self, sampler, batch_size, drop_last):
        self.sampler, self.drop_last = sampler, bool(drop_last)
        self.batch_size = _positive_int("BatchSampler", "batch_size", batch_size)

    def __iter__(self):
        batch = []
        for i in self.sampler:
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self):
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


class DistributedSampler(_DistributedSampler, Sampler):
    """minigrad.distributed's sampler with torch's signature: the data set (or its size)
    first. Call set_epoch(epoch) each epoch for a new shuffle (the same on every rank)."""

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0,
                 drop_last=False):
        size = dataset if isinstance(dataset, numbers.Integral) else len(dataset)
        super().__init__(size, num_replicas, rank, shuffle, seed, drop_last)

"""DataLoader: batches from a data set, as torch.utils.data.DataLoader (in one process)."""
import collections.abc
import numbers

import numpy as np

from ...errors import MinigradError, ShapeError
from ...ops import stack
from ...tensor import Tensor
from .dataset import IterableDataset, TensorDataset
from .sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler


def get_worker_info():
    """None: batches are always made in the main process here (torch: None there too)."""
    return None


def default_collate(batch):
    """Merge a list of samples into a batch, as torch's default_collate:

    Tensors and NumPy arrays are stacked along a new first dimension; Python floats
    become a float64 tensor, ints int64, bools bool; strings stay a list; dicts collate
    per key; namedtuples per field; tuples and lists per position (as a list).
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(list(batch), 0)
    if isinstance(elem, (np.ndarray, np.generic)) and elem.dtype.kind not in "OSUa":
        return Tensor(np.stack([np.asarray(b) for b in batch]))
    if isinstance(elem, bool):
        return Tensor(np.array(batch, dtype=np.bool_))
    if isinstance(elem, numbers.Integral):
        return Tensor(np.array(batch, dtype=np.int64))
    if isinstance(elem, numbers.Real):
        return Tensor(np.array(batch, dtype=np.float64))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, collections.abc.Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):                  # namedtuple
        return type(elem)(*(default_collate(list(field)) for field in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        if any(len(b) != len(elem) for b in batch):
            raise ShapeError(f"default_collate: each sample in a batch must have the same number "
                             f"of items, got {sorted({len(b) for b in batch})}")
        return [default_collate(list(items)) for items in zip(*batch)]
    if elem is None:
        return list(batch)
    raise MinigradError(f"default_collate: samples must hold tensors, NumPy arrays, numbers, "
                        f"strings, dicts, tuples or lists; got {type(elem).__name__}")


def default_convert(data):
    """What batch_size=None gives: NumPy arrays become tensors, containers are walked."""
    if isinstance(data, np.ndarray) and data.dtype.kind not in "OSUa":
        return Tensor(data)
    if isinstance(data, collections.abc.Mapping):
        return {k: default_convert(v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (list, tuple)):
        return [default_convert(d) for d in data]
    return data


class DataLoader:
    """Iterate over a data set in batches.

    Arguments as torch's: batch_size (None: single samples, no batching), shuffle,
    sampler, batch_sampler, collate_fn, drop_last, generator. Batches are made in
    this process: num_workers, pin_memory, timeout, prefetch_factor and
    persistent_workers are accepted and have no effect (see docs/torch_compat.md);
    worker_init_fn is never called.
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=None, persistent_workers=False, pin_memory_device=""):
        name = "DataLoader"
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise MinigradError(f"{name}: num_workers must be an int >= 0, got {num_workers!r}")
        if batch_size is not None and (isinstance(batch_size, bool) or
                                       not isinstance(batch_size, int) or batch_size <= 0):
            raise MinigradError(f"{name}: batch_size must be a positive int or None, "
                                f"got {batch_size!r}")
        self.dataset, self.num_workers, self.generator = dataset, num_workers, generator
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable and (shuffle or sampler is not None or batch_sampler is not None):
            raise MinigradError(f"{name}: an IterableDataset takes no shuffle, sampler or "
                                "batch_sampler (it decides its own order)")
        if sampler is not None and shuffle:
            raise MinigradError(f"{name}: sampler and shuffle=True exclude each other")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise MinigradError(f"{name}: batch_sampler excludes batch_size, shuffle, sampler "
                                    "and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise MinigradError(f"{name}: drop_last needs a batch_size")
        if sampler is None and not self._iterable:
            sampler = RandomSampler(dataset, generator=generator) if shuffle else \
                SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.batch_size, self.drop_last = batch_size, bool(drop_last)
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self._auto_collation = batch_sampler is not None or (self._iterable and batch_size)
        self.collate_fn = collate_fn or (default_collate if self._auto_collation else default_convert)
        if collate_fn is not None and not callable(collate_fn):
            raise MinigradError(f"{name}: collate_fn must be callable, got {collate_fn!r}")

    def __iter__(self):
        if self._iterable:
            return self._iter_stream()
        if self.batch_sampler is None:
            return (self.collate_fn(self.dataset[i]) for i in self.sampler)
        return (self._fetch(indices) for indices in self.batch_sampler)

    def _fetch(self, indices):
        if type(self.dataset) is TensorDataset and self.collate_fn is default_collate:
            # the same batch as collating the samples one by one, in one gather per tensor
            rows = np.asarray(indices, dtype=np.int64)
            return [t[rows] for t in self.dataset.tensors]
        if hasattr(self.dataset, "__getitems__"):
            return self.collate_fn(self.dataset.__getitems__(list(indices)))
        return self.collate_fn([self.dataset[i] for i in indices])

    def _iter_stream(self):
        if not self.batch_size:
            for sample in self.dataset:
                yield self.collate_fn(sample)
            return
        batch = []
        for sample in self.dataset:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)

    def __len__(self):
        if self._iterable:
            n = len(self.dataset)
            if not self.batch_size:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)


__all__ = ["DataLoader", "Sampler", "default_collate", "default_convert", "get_worker_info"]

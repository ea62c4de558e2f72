"""minigrad.utils.data against torch.utils.data: the same batches (for the same order),
collation of every kind of sample, samplers, random_split, seeded shuffling."""
import collections

import numpy as np
import pytest

import minigrad as mg
from minigrad.utils.data import (BatchSampler, ConcatDataset, DataLoader, Dataset,
                                 DistributedSampler, IterableDataset, RandomSampler, Sampler,
                                 SequentialSampler, Subset, SubsetRandomSampler, TensorDataset,
                                 WeightedRandomSampler, default_collate, random_split)
from testutil import require_torch


def _as_np(x):
    if isinstance(x, (list, tuple)):
        return [_as_np(v) for v in x]
    if isinstance(x, dict):
        return {k: _as_np(v) for k, v in x.items()}
    return x.numpy() if hasattr(x, "numpy") else x


class Pairs(Dataset):
    """Samples of every kind default_collate handles."""
    Point = collections.namedtuple("Point", "x y")

    def __len__(self):
        return 7

    def __getitem__(self, i):
        return {"id": i, "score": i / 2, "ok": i % 2 == 0, "name": f"s{i}",
                "vec": np.arange(3, dtype=np.float32) * i, "pair": (i, float(i)),
                "point": self.Point(i, -i)}


@pytest.mark.torch
@pytest.mark.parametrize("batch_size,drop_last", [(1, False), (3, False), (3, True), (7, False)])
def test_sequential_batches_and_collation_match_torch(batch_size, drop_last):
    torch = require_torch()
    mine = list(DataLoader(Pairs(), batch_size=batch_size, drop_last=drop_last))
    theirs = list(torch.utils.data.DataLoader(Pairs(), batch_size=batch_size, drop_last=drop_last))
    assert len(mine) == len(theirs) == len(DataLoader(Pairs(), batch_size=batch_size,
                                                       drop_last=drop_last))
    for m, t in zip(mine, theirs):
        assert set(m) == set(t)
        for k in m:
            mv, tv = _as_np(m[k]), _as_np(t[k])
            if k == "point":
                assert type(m[k]).__name__ == "Point"
            np.testing.assert_array_equal(np.asarray(mv, dtype=object), np.asarray(tv, dtype=object))
        assert m["score"].dtype == mg.float64 and m["id"].dtype == mg.int64 and m["ok"].dtype == mg.bool_
        assert m["vec"].dtype == mg.float32 and m["vec"].shape == tuple(t["vec"].shape)


def test_tensor_dataset_fast_path_equals_collating_samples():
    x, y = mg.randn(10, 3), mg.arange(10)
    ds = TensorDataset(x, y)
    fast = list(DataLoader(ds, batch_size=4))
    slow = [default_collate([ds[i] for i in idx]) for idx in BatchSampler(SequentialSampler(ds), 4, False)]
    for (fx, fy), (sx, sy) in zip(fast, slow):
        np.testing.assert_array_equal(fx.numpy(), sx.numpy())
        np.testing.assert_array_equal(fy.numpy(), sy.numpy())
    assert [b[0].shape[0] for b in fast] == [4, 4, 2]


def test_shuffle_is_a_permutation_seeded_by_manual_seed_and_new_each_epoch():
    ds = TensorDataset(mg.arange(50))
    loader = DataLoader(ds, batch_size=8, shuffle=True)
    mg.manual_seed(3)
    a = np.concatenate([b[0].numpy() for b in loader])
    b = np.concatenate([b[0].numpy() for b in loader])
    mg.manual_seed(3)
    a2 = np.concatenate([b[0].numpy() for b in loader])
    assert sorted(a) == list(range(50)) and not np.array_equal(a, np.arange(50))
    assert np.array_equal(a, a2) and not np.array_equal(a, b)
    g1 = [bt[0].numpy() for bt in DataLoader(ds, batch_size=8, shuffle=True, generator=np.random.default_rng(1))]
    g2 = [bt[0].numpy() for bt in DataLoader(ds, batch_size=8, shuffle=True, generator=np.random.default_rng(1))]
    assert all(np.array_equal(p, q) for p, q in zip(g1, g2))


def test_samplers_batch_sampler_and_custom_collate():
    ds = TensorDataset(mg.arange(10) * 10)
    assert [int(b[0].item()) for b in DataLoader(ds, batch_size=None)][:3] == [0, 10, 20]
    loader = DataLoader(ds, sampler=SubsetRandomSampler([1, 3, 5]), batch_size=2)
    assert sorted(np.concatenate([b[0].numpy() for b in loader]).tolist()) == [10, 30, 50]
    loader = DataLoader(ds, batch_sampler=[[0, 1], [9]], collate_fn=lambda s: len(s))
    assert list(loader) == [2, 1]
    assert list(BatchSampler(range(5), 2, drop_last=True)) == [[0, 1], [2, 3]]
    assert len(BatchSampler(range(5), 2, drop_last=False)) == 3
    draws = list(RandomSampler(range(4), replacement=True, num_samples=20))
    assert len(draws) == 20 and set(draws) <= set(range(4))
    assert sorted(RandomSampler(range(4), num_samples=8)) == sorted(list(range(4)) * 2)
    assert set(WeightedRandomSampler([0, 1, 0, 1], 30)) <= {1, 3}
    assert isinstance(SequentialSampler(ds), Sampler)
    parts = [list(DistributedSampler(ds, num_replicas=2, rank=r, shuffle=False)) for r in (0, 1)]
    assert parts == [[0, 2, 4, 6, 8], [1, 3, 5, 7, 9]]


def test_random_split_subset_concat():
    ds = TensorDataset(mg.arange(10))
    a, b = random_split(ds, [7, 3], generator=np.random.default_rng(0))
    assert len(a) == 7 and len(b) == 3
    got = sorted(int(a[i][0].item()) for i in range(7)) + sorted(int(b[i][0].item()) for i in range(3))
    assert sorted(got) == list(range(10))
    parts = random_split(ds, [0.5, 0.3, 0.2])
    assert [len(p) for p in parts] == [5, 3, 2]
    parts = random_split(range(11), [0.5, 0.5])            # remainder goes to the first split
    assert [len(p) for p in parts] == [6, 5]
    assert Subset(ds, [4, 2])[1][0].item() == 2
    both = ConcatDataset([range(3), range(10, 12)])
    assert [both[i] for i in range(len(both))] == [0, 1, 2, 10, 11] and both[-1] == 11


def test_iterable_dataset_batches():
    class Stream(IterableDataset):
        def __iter__(self):
            return iter(range(5))
    assert [b.tolist() for b in DataLoader(Stream(), batch_size=2)] == [[0, 1], [2, 3], [4]]
    assert [b.tolist() for b in DataLoader(Stream(), batch_size=2, drop_last=True)] == [[0, 1], [2, 3]]


@pytest.mark.parametrize("call,match", [
    (lambda: DataLoader(range(3), batch_size=0), "batch_size"),
    (lambda: DataLoader(range(3), batch_size=2.0), "batch_size"),
    (lambda: DataLoader(range(3), sampler=[0], shuffle=True), "shuffle"),
    (lambda: DataLoader(range(3), batch_sampler=[[0]], batch_size=2), "batch_sampler"),
    (lambda: DataLoader(range(3), num_workers=-1), "num_workers"),
    (lambda: TensorDataset(mg.zeros(3), mg.zeros(4)), "size mismatch"),
    (lambda: random_split(range(5), [2, 2]), "random_split"),
    (lambda: list(DataLoader(range(3), shuffle=True, generator="seed")), "generator"),
    (lambda: default_collate([object()]), "default_collate"),
])
def test_bad_arguments_raise_named_errors(call, match):
    with pytest.raises(mg.MinigradError, match=match):
        call()

"""Sharding data by rank: DistributedSampler over a data set, shard_batch over a batch."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.distributed as dist


@pytest.mark.parametrize("n, world", [(10, 2), (10, 3), (7, 4), (3, 5)])
def test_ranks_cover_the_data_with_equal_disjoint_shares(n, world):
    shards = [dist.DistributedSampler(n, num_replicas=world, rank=r, seed=5) for r in range(world)]
    idx = [s.indices() for s in shards]
    assert len({len(i) for i in idx}) == 1 and len(idx[0]) == len(shards[0]) == -(-n // world)
    together = np.concatenate(idx)
    assert set(together.tolist()) == set(range(n))                  # everything covered
    # disjoint: no index is in two shares, except the padding that evens out the shares
    # (as PyTorch's DistributedSampler, the first indices again, each at most once more)
    padding = world * len(idx[0]) - n
    counts = np.bincount(together, minlength=n)
    assert counts.sum() == n + padding and counts.max() <= 1 + (padding > 0), counts
    assert (counts == 2).sum() == padding, counts
    if padding == 0:
        for a in range(world):
            for b in range(a + 1, world):
                assert not set(idx[a].tolist()) & set(idx[b].tolist()), (a, b)


def test_drop_last_cuts_to_a_multiple():
    idx = [dist.DistributedSampler(10, num_replicas=3, rank=r, drop_last=True).indices()
           for r in range(3)]
    together = np.concatenate(idx)
    assert all(len(i) == 3 for i in idx) and len(set(together.tolist())) == 9


def test_same_epoch_same_order_on_every_rank_new_epoch_new_order():
    a = dist.DistributedSampler(20, num_replicas=2, rank=0, seed=1)
    b = dist.DistributedSampler(20, num_replicas=2, rank=1, seed=1)
    first = np.concatenate([a.indices(), b.indices()])
    assert not set(a.indices().tolist()) & set(b.indices().tolist())
    a.set_epoch(1)
    b.set_epoch(1)
    assert not np.array_equal(np.concatenate([a.indices(), b.indices()]), first)
    assert list(a) == a.indices().tolist()


def test_no_shuffle_is_round_robin():
    s = dist.DistributedSampler(6, num_replicas=2, rank=1, shuffle=False)
    assert list(s) == [1, 3, 5]


def test_defaults_come_from_the_world_and_bad_rank_is_refused():
    s = dist.DistributedSampler(4)                     # not initialised: rank 0 of 1
    assert list(sorted(s)) == [0, 1, 2, 3]
    with pytest.raises(mg.ShapeError, match=r"rank 2 is outside 0..1"):
        dist.DistributedSampler(4, num_replicas=2, rank=2)


def test_shard_batch():
    x = np.arange(12).reshape(6, 2)
    y = mg.arange(6)
    xs, ys = dist.shard_batch(x, y, rank=1, world_size=3)
    np.testing.assert_array_equal(xs, [[4, 5], [6, 7]])
    np.testing.assert_array_equal(ys.numpy(), [2, 3])
    np.testing.assert_array_equal(dist.shard_batch(x), x)          # world of one
    with pytest.raises(mg.ShapeError, match=r"batch of 6 examples \(shape \(6, 2\)\) does not "
                                            r"split into 4 equal shards"):
        dist.shard_batch(x, rank=0, world_size=4)

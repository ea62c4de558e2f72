"""One rank of the DDP checks, launched by test_mpirun.py with `mpirun -n 2`.

Every rank writes what it computed to OUTDIR/rank{r}.npz; the test compares the
ranks with each other and with a single-process run that imports this file for
the same model, data and loss.

    mpirun -n 2 python tests/distributed/ddp_worker.py OUTDIR
"""
import os
import sys

import numpy as np

import minigrad as mg
import minigrad.distributed as dist
from minigrad import nn

SEED = 1234
BATCH = 4            # examples per rank; the single-process reference uses 2 * BATCH
BUCKET_MB = 0.001    # ~1 KB buckets: several buckets for this small model


def build_model():
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.Tanh(),
                         nn.Linear(16, 3))


def global_batch(step, n):
    """The step's global batch, the same on every rank (and in the reference)."""
    rng = np.random.default_rng((SEED, step))
    x = rng.standard_normal((n, 6)).astype(np.float32)
    y = rng.integers(0, 3, size=n)
    return x, y


def loss_of(model, x, y):
    return mg.cross_entropy(model(mg.tensor(x)), mg.tensor(y))


def grads(model):
    return {f"grad.{n}": p.grad.numpy().copy() for n, p in model.named_parameters()}


def weights(model, prefix):
    return {f"{prefix}.{n}": p.numpy().copy() for n, p in model.named_parameters()}


def main(outdir):
    dist.init()
    rank, world = dist.get_rank(), dist.get_world_size()
    out = {}

    # 1. one step: DDP gradients of b examples per rank == gradient of the 2b batch
    dist.seed_per_rank(SEED)                 # rank 1 starts from different weights...
    model = build_model()
    out.update(weights(model, "before_wrap"))
    ddp = dist.DistributedDataParallel(model, bucket_size_mb=BUCKET_MB)   # ...until here
    out["num_buckets"] = np.array(len(ddp.buckets))
    x, y = dist.shard_batch(*global_batch(0, BATCH * world))
    loss_of(ddp, x, y).backward()
    out.update(grads(model))

    # 2. twenty Adam steps on fresh batches: identical replicas, as one process
    opt = mg.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(1, 21):
        x, y = dist.shard_batch(*global_batch(step, BATCH * world))
        loss = loss_of(ddp, x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    out.update(weights(model, "adam20"))

    # 3. no_sync: two micro-batches per rank accumulate locally, then one all-reduce
    model.zero_grad()
    micro = [dist.shard_batch(*global_batch(100 + k, BATCH * world)) for k in range(2)]
    with ddp.no_sync():
        (loss_of(ddp, *micro[0]) * 0.5).backward()
    out.update({f"local.{k}": v for k, v in grads(model).items()})
    (loss_of(ddp, *micro[1]) * 0.5).backward()
    out.update({f"accum.{k}": v for k, v in grads(model).items()})

    # 4. the plain collectives and helpers
    out["all_gather"] = dist.all_gather(np.array([rank, 10 * rank], dtype=np.int64))
    t = mg.tensor([float(rank + 1)])
    dist.all_reduce(t, op="mean")
    out["all_reduce_mean"] = t.numpy()
    b = np.full(3, float(rank), dtype=np.float32)
    dist.broadcast(b, src=1)
    out["broadcast_from_1"] = b
    m = dist.average_metrics({"loss": rank + 1.0}, weight=rank + 1)   # (1*1 + 2*2) / 3
    out["weighted_mean"] = np.array(m["loss"])
    out["sum_metric"] = np.array(dist.reduce_metrics({"n": rank + 1}, op="sum")["n"])

    written = dist.save_on_main(lambda path: np.save(path, np.arange(3)) or path,
                                os.path.join(outdir, "main_only.npy"))
    out["saved_here"] = np.array(written is not None)
    out["file_visible_after_barrier"] = np.array(os.path.exists(os.path.join(outdir,
                                                                             "main_only.npy")))
    np.savez(os.path.join(outdir, f"rank{rank}.npz"), **out)


if __name__ == "__main__":
    main(sys.argv[1])

"""What a training loop needs around DistributedDataParallel.

    import minigrad as mg
    import minigrad.distributed as dist

    dist.init()
    dist.seed_per_rank(args.seed)          # different dropout masks and data per rank
    ...
    stats = dist.average_metrics({"loss": loss.item(), "acc": acc}, weight=n_tokens)
    tokens = dist.reduce_metrics({"tokens": n_tokens}, op="sum")["tokens"]
    dist.print_main(f"step {step} loss {stats['loss']:.3f} {tokens / elapsed:.0f} tokens/s")
    dist.save_on_main(mg.io.save, checkpoint, "ckpt.safetensors")

Every function also works before `init()` and without MPI: the world is then
this process alone.
"""
import numpy as np

from ..backend import manual_seed, to_device, to_numpy
from ..tensor import Tensor
from .communicator import check_op
from .world import barrier, get_communicator, get_rank, is_initialized, is_main_process


def seed_per_rank(seed):
    """Seed minigrad's generators with `seed + rank` and return that seed.

    Dropout masks (and data a rank generates itself) must differ between ranks,
    or every replica would drop the same units and the extra ranks would add
    no new information. The initial weights stay identical anyway:
    DistributedDataParallel copies rank 0's to every rank."""
    return manual_seed(int(seed) + get_rank())


def print_main(*args, **kwargs):
    """`print` on rank 0 only (flushed, so lines from mpirun appear at once)."""
    if is_main_process():
        kwargs.setdefault("flush", True)
        print(*args, **kwargs)


def save_on_main(save_fn, *args, **kwargs):
    """Call `save_fn(*args, **kwargs)` on rank 0 only, then wait for it on every rank.

    The replicas hold identical weights, so one writer suffices, and several
    writers of one file would corrupt it. The barrier keeps the other ranks from
    reading the checkpoint before it is complete. Returns save_fn's result on
    rank 0 and None elsewhere."""
    result = save_fn(*args, **kwargs) if is_main_process() else None
    if is_initialized():
        barrier()
    return result


def _as_float(v):
    return float(v.item() if isinstance(v, Tensor) else v)


def reduce_metrics(metrics, op="sum"):
    """{name: number} reduced over all ranks with op ("sum", "mean", "max", "min"):
    e.g. tokens processed (sum) or a step's wall time (max), in one all-reduce."""
    check_op(op, "reduce_metrics")
    names = list(metrics)
    values = np.array([_as_float(metrics[k]) for k in names], dtype=np.float64)
    if is_initialized():
        comm = get_communicator()
        buf = to_device(values, comm.device)
        comm.all_reduce(buf, op)
        values = to_numpy(buf)
    return {k: float(v) for k, v in zip(names, values)}


def average_metrics(metrics, weight=None):
    """{name: number} averaged over all ranks, in one all-reduce.

    weight: how much this rank's numbers count, e.g. its number of tokens, so a
    per-token loss averages to the global per-token loss when ranks see
    different amounts; None weighs the ranks equally."""
    w = 1.0 if weight is None else _as_float(weight)
    summed = reduce_metrics({**{k: w * _as_float(v) for k, v in metrics.items()},
                             "__weight__": w}, op="sum")
    total = summed.pop("__weight__")
    return {k: v / total for k, v in summed.items()}

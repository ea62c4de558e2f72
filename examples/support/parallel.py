"""--distributed: data-parallel training in a job started by mpirun.

Launched as `mpirun -n N python examples/copy_task.py --distributed`, every rank
builds the same global batch of --batch-size sequences from the step's seed and
trains on its own equal share of it (Batch.shard), DistributedDataParallel
averages the gradients, and the logged loss and token counts are reduced over
the ranks. The run therefore follows the single-process run step for step (the
same batches, the same loss curve up to rounding); only its speed changes.
Rank 0 alone prints, draws, evaluates and writes files.
"""
import os

import minigrad.distributed as dist

from .cli import ExampleError


def init_distributed(args, device):
    """Join the mpirun job when --distributed is given; return the device to train on.

    MPI carries the collectives between CPU processes, NCCL between GPUs (each
    process then drives the GPU of its local rank, or the one --device cuda:N
    names). A script started alone with --distributed is a job of one process
    and simply runs. Started by mpirun without --distributed, every process
    would train alone and write the same files: that is refused.
    """
    if not args.distributed:
        launched = next((int(os.environ[v]) for v in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE")
                         if os.environ.get(v, "").isdigit()), 1)
        if launched > 1:
            raise ExampleError(f"started by mpirun with {launched} processes but without "
                               "--distributed: add --distributed to train data-parallel")
        return device
    cuda = device.startswith("cuda")
    index = int(args.device.split(":")[1]) if cuda and ":" in args.device else None
    try:
        dist.init("nccl" if cuda else "mpi", device_index=index)
    except dist.DistributedError as e:
        raise ExampleError(f"--distributed: {str(e).splitlines()[0]}") from None
    return dist.get_device()


def world_description():
    """', N processes' in a distributed job (for the banner line), else ''."""
    if not dist.is_initialized():
        return ""
    n = dist.get_world_size()
    return f", {n} process{'es' if n > 1 else ''}"


def unwrap(model):
    """The plain module inside a DistributedDataParallel wrapper (or the model itself)."""
    return model.module if isinstance(model, dist.DistributedDataParallel) else model


def reduce_step(loss, n_tokens, stop):
    """One training step's numbers over every rank: (the whole batch's loss per token,
    its target tokens, whether any rank was asked to stop), in one all-reduce.

    Each rank computed the mean loss of its own shard; weighting by tokens gives
    the loss of the global batch. A signal may reach one rank only (or reach them
    between different steps): stopping when any rank asks keeps them in step.
    Outside a distributed job of several processes the numbers come back as given.
    """
    if dist.get_world_size() == 1:
        return loss, n_tokens, bool(stop)
    total = dist.reduce_metrics({"loss": loss * n_tokens, "tokens": n_tokens, "stop": stop})
    return total["loss"] / total["tokens"], int(total["tokens"]), total["stop"] > 0

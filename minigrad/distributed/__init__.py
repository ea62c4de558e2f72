"""Data-parallel training across processes and machines, on MPI (CPU) and NCCL (GPU).

minigrad writes no communication code of its own: MPI (through mpi4py) launches
the processes and carries the CPU collectives, NCCL (through CuPy) the GPU ones.

    # mpirun -n 2 python train.py              (one machine, two processes)
    # mpirun -n 8 --hostfile hosts python train.py --device cuda
    import minigrad as mg
    import minigrad.distributed as dist

    dist.init("nccl" if args.device == "cuda" else "mpi")
    dist.seed_per_rank(args.seed)
    model = dist.DistributedDataParallel(build_model().to(dist.get_device()))
    opt = mg.optim.Adam(model.parameters(), lr=1e-3)
    sampler = dist.DistributedSampler(len(data), seed=args.seed)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for batch in batches(data, sampler.indices()):
            loss = loss_fn(model, batch)
            opt.zero_grad()
            loss.backward()                      # averages the gradients across ranks
            opt.step()
        dist.print_main(dist.average_metrics({"loss": loss.item()}))
    dist.save_on_main(mg.io.save, model.state_dict(), "model.safetensors")

mpi4py is imported by `init()`, CuPy only by the NCCL backend: importing this
package needs neither.
"""
from .communicator import REDUCE_OPS, Communicator, DistributedError, Work
from .ddp import DistributedDataParallel
from .helpers import average_metrics, print_main, reduce_metrics, save_on_main, seed_per_rank
from .mpi import MPICommunicator
from .nccl import NCCLCommunicator
from .sampler import DistributedSampler, shard_batch
from .world import (all_gather, all_reduce, barrier, broadcast, destroy, get_communicator,
                    get_device, get_local_rank, get_rank, get_world_size, init,
                    install_abort_on_exception, is_initialized, is_main_process)

__all__ = [
    "init", "destroy", "is_initialized", "get_rank", "get_world_size", "get_local_rank",
    "get_device", "is_main_process", "get_communicator", "all_reduce", "broadcast",
    "all_gather", "barrier", "install_abort_on_exception",
    "Communicator", "Work", "MPICommunicator", "NCCLCommunicator", "DistributedError",
    "REDUCE_OPS",
    "DistributedDataParallel", "DistributedSampler", "shard_batch",
    "seed_per_rank", "print_main", "average_metrics", "reduce_metrics", "save_on_main",
]

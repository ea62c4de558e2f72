"""The process group: joining the job, who this process is, and the collectives.

    # launched with: mpirun -n 4 python train.py
    import minigrad.distributed as dist
    dist.init()                        # or dist.init("nccl") for GPUs
    dist.get_rank(), dist.get_world_size(), dist.get_device()
    dist.all_reduce(t, op="mean")      # t: Tensor or array, changed in place

Before `init()` (or in a script run without mpirun) the world is this process
alone: rank 0 of 1, so the same training script runs with and without MPI.
Collectives, however, refuse to run before `init()`: a silent no-op would hide
a forgotten initialisation.
"""
import sys

from ..tensor import Tensor
from .communicator import DistributedError

_comm = None               # the default communicator, set by init()
_local = (0, 1)            # (local rank, processes on this machine)
_previous_excepthook = None


def init(backend="mpi", device_index=None, abort_on_exception=True, communicator=None):
    """Join the job that `mpirun` started and return its communicator.

    backend: "mpi" (NumPy arrays, CPU processes) or "nccl" (CuPy arrays; each
        process drives GPU `local_rank % number_of_gpus`, or `device_index`).
    abort_on_exception: an uncaught exception on any rank ends the whole job
        (MPI_Abort) with a message naming the rank, instead of leaving the other
        ranks waiting forever in their next collective.
    communicator: use this Communicator instead of making one (tests pass fakes).

    Calling init() again returns the communicator already made.
    """
    global _comm, _local
    if _comm is not None:
        return _comm
    if communicator is None:
        from .mpi import MPICommunicator
        mpi = MPICommunicator()
        _local = mpi.local_rank_and_size()
        if backend == "mpi":
            communicator = mpi
        elif backend == "nccl":
            from .nccl import NCCLCommunicator
            communicator = NCCLCommunicator(mpi, device_index=device_index)
        else:
            raise DistributedError(f"init: unknown backend {backend!r}; expected 'mpi' or 'nccl'")
    else:
        _local = (getattr(communicator, "local_rank", 0), getattr(communicator, "local_size", 1))
    _comm = communicator
    if abort_on_exception:
        install_abort_on_exception()
    return _comm


def destroy():
    """Forget the default communicator (MPI itself is finalised when Python exits)."""
    global _comm, _local, _previous_excepthook
    _comm, _local = None, (0, 1)
    if _previous_excepthook is not None:
        sys.excepthook, _previous_excepthook = _previous_excepthook, None


def is_initialized():
    return _comm is not None


def get_communicator():
    """The default communicator; an error naming the fix before init()."""
    if _comm is None:
        raise DistributedError("minigrad.distributed: call minigrad.distributed.init() first "
                               "(and launch the script with mpirun -n N)")
    return _comm


def get_rank():
    """This process's rank, 0 .. world size - 1 (0 before init)."""
    return _comm.rank if _comm is not None else 0


def get_world_size():
    """How many processes train together (1 before init)."""
    return _comm.size if _comm is not None else 1


def get_local_rank():
    """This process's index among those on the same machine (picks its GPU)."""
    return _local[0]


def get_device():
    """The device this process computes on: "cuda:N" under NCCL, else "cpu"."""
    return _comm.device if _comm is not None else "cpu"


def is_main_process():
    """True on rank 0, the one that logs and writes checkpoints."""
    return get_rank() == 0


# -------------------------------------------------------------------- collectives
def _array(x):
    return x.array if isinstance(x, Tensor) else x


def all_reduce(x, op="sum"):
    """Reduce `x` (Tensor or array) over every rank, in place; returns `x`.
    op: "sum", "mean", "prod", "max" or "min"."""
    get_communicator().all_reduce(_array(x), op)
    return x


def broadcast(x, src=0):
    """Overwrite `x` (Tensor or array) on every rank with rank `src`'s, in place."""
    get_communicator().broadcast(_array(x), src)
    return x


def all_gather(x):
    """Every rank's `x`, stacked along a new first axis in rank order (same type as `x`)."""
    out = get_communicator().all_gather(_array(x))
    return Tensor._make(out, False, None) if isinstance(x, Tensor) else out


def barrier():
    """Wait until every rank gets here."""
    get_communicator().barrier()


# -------------------------------------------------------------------- failing ranks
def install_abort_on_exception():
    """Make an uncaught exception on this rank end the whole job.

    Without it the failing rank exits and the others block in their next
    collective forever. The hook prints the traceback and a line naming the rank,
    then calls the communicator's abort (MPI_Abort), which kills every rank."""
    global _previous_excepthook
    if _previous_excepthook is not None:
        return
    _previous_excepthook = previous = sys.excepthook

    def abort_hook(exc_type, exc, tb):
        previous(exc_type, exc, tb)
        comm = _comm
        if comm is None or comm.size == 1:
            return
        sys.stderr.write(
            f"minigrad.distributed: rank {comm.rank} of {comm.size} raised "
            f"{exc_type.__name__}: {exc}\nminigrad.distributed: aborting all {comm.size} "
            "processes (MPI_Abort) so that no rank waits forever\n")
        sys.stdout.flush()
        sys.stderr.flush()
        comm.abort(1)

    sys.excepthook = abort_hook

"""The communicator interface: the collectives data-parallel training needs.

minigrad writes no communication code of its own. A communicator adapts one
proven library to this small interface: `MPICommunicator` (MPI through mpi4py,
CPU arrays) and `NCCLCommunicator` (NCCL through CuPy, GPU arrays). Everything
above it (DistributedDataParallel, metric averaging) only sees this interface,
which is also what lets the tests replace the network with a fake.

Collectives work in place on arrays (numpy on CPU, cupy on GPU) of the
communicator's `device`, and every rank must call them in the same order.
"""
import abc

from ..errors import MinigradError

#: Reductions every communicator understands. "mean" is a sum divided by the world size.
REDUCE_OPS = ("sum", "mean", "prod", "max", "min")


class DistributedError(MinigradError, RuntimeError):
    """Misuse of the distributed layer (not initialised, ranks that disagree, bad op)."""


def check_op(op, who):
    if op not in REDUCE_OPS:
        raise DistributedError(f"{who}: unknown reduction {op!r}; expected one of {REDUCE_OPS}")


class Work:
    """A collective that was started and may still be running.

    `wait()` blocks until its result is in the buffer (and runs `finish`, e.g. the
    division of a mean); `is_completed()` asks without blocking, which also lets
    MPI make progress on it."""

    def __init__(self, wait=None, test=None, finish=None):
        self._wait, self._test, self._finish = wait, test, finish
        self._done = False

    def wait(self):
        if not self._done:
            if self._wait is not None:
                self._wait()
            if self._finish is not None:
                self._finish()
            self._done = True

    def is_completed(self):
        """True once the data has arrived (`wait()` must still be called to use it)."""
        if self._done or self._wait is None:
            return True
        return self._test is not None and bool(self._test())


class Communicator(abc.ABC):
    """One process's handle on a group of `size` processes; this one is `rank`."""

    #: "cpu" or "cuda:N": where the arrays it communicates must live.
    device = "cpu"
    #: True when `iall_reduce` / `ibroadcast` return before the collective is finished,
    #: so DistributedDataParallel can overlap it with the rest of backward.
    supports_async = False

    def __init__(self, rank, size):
        self.rank, self.size = int(rank), int(size)

    # ---------------------------------------------------------------- blocking
    @abc.abstractmethod
    def all_reduce(self, array, op="sum"):
        """Replace `array` on every rank by the reduction over all ranks; returns it."""

    @abc.abstractmethod
    def broadcast(self, array, root=0):
        """Overwrite `array` on every rank with rank `root`'s; returns it."""

    @abc.abstractmethod
    def all_gather(self, array):
        """A new array of shape (size, *array.shape): every rank's `array`, by rank."""

    @abc.abstractmethod
    def barrier(self):
        """Return only when every rank has called it."""

    def abort(self, errorcode=1):
        """End every process of the job (called when one rank fails)."""
        raise SystemExit(errorcode)

    # ---------------------------------------------------------------- non-blocking
    def iall_reduce(self, array, op="sum"):
        """Start an all-reduce; the result is in `array` after `.wait()`.
        This default finishes it at once; communicators that can overlap override it."""
        self.all_reduce(array, op)
        return Work()

    def ibroadcast(self, array, root=0):
        """Start a broadcast; `array` holds root's data after `.wait()`."""
        self.broadcast(array, root)
        return Work()

    def __repr__(self):
        return f"{type(self).__name__}(rank={self.rank}, size={self.size}, device={self.device!r})"

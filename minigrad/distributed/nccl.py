"""NCCL through CuPy: the GPU communicator.

MPI still launches the processes and tells each its rank; it also carries
NCCL's unique id from rank 0 to the others, which is all NCCL needs to build
its own communicator. Each process drives one GPU (its local rank on the
machine picks which).

NCCL calls are queued on a CUDA stream of their own. Before a collective the
communication stream waits for the work already queued on the compute stream
(so the gradients it reads are written), and `Work.wait()` makes the compute
stream wait for the collective: the host never blocks, and a gradient bucket's
all-reduce runs on the GPU while backward goes on computing the next bucket.

CuPy is imported only when an NCCLCommunicator is made: the CPU path never needs it.
"""
import numpy as np

from ..backend import device_of
from ..errors import DeviceError, DTypeError
from .communicator import Communicator, DistributedError, Work, check_op
from .mpi import MPICommunicator, check_mean_dtype

#: NCCL's unique id is 128 bytes (NCCL_UNIQUE_ID_BYTES); CuPy hands it over as 128 ints.
UNIQUE_ID_BYTES = 128

_NCCL_DTYPES = {"int8": "NCCL_INT8", "uint8": "NCCL_UINT8", "bool": "NCCL_UINT8",
                "int32": "NCCL_INT32", "uint32": "NCCL_UINT32", "int64": "NCCL_INT64",
                "uint64": "NCCL_UINT64", "float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32",
                "float64": "NCCL_FLOAT64"}
_NCCL_OPS = {"sum": "NCCL_SUM", "mean": "NCCL_SUM", "prod": "NCCL_PROD", "max": "NCCL_MAX",
             "min": "NCCL_MIN"}


def import_nccl():
    """(cupy, cupy.cuda.nccl), or an error that says what to install."""
    try:
        import cupy
        from cupy.cuda import nccl
    except ImportError as e:
        raise DistributedError(
            "backend 'nccl' needs CuPy with NCCL: pip install 'minigrad[gpu]' "
            "(cupy-cuda12x, whose wheels load NCCL from the nvidia-nccl-cu12 package)") from e
    if not getattr(nccl, "available", True):
        raise DistributedError("backend 'nccl': CuPy is installed but cannot load the NCCL "
                               "library; pip install nvidia-nccl-cu12 (or cu11 to match CuPy)")
    return cupy, nccl


class NCCLCommunicator(Communicator):
    """Collectives on CuPy arrays of one GPU, through NCCL.

    mpi: the MPICommunicator of the job (made if not given); device_index: the
    GPU this process drives (default: local rank modulo the GPUs on the machine)."""

    supports_async = True

    def __init__(self, mpi=None, device_index=None):
        self.cupy, self.nccl = import_nccl()
        self.mpi = mpi if mpi is not None else MPICommunicator()
        super().__init__(self.mpi.rank, self.mpi.size)
        if device_index is None:
            local_rank, _ = self.mpi.local_rank_and_size()
            device_index = local_rank % self.cupy.cuda.runtime.getDeviceCount()
        self.device = f"cuda:{int(device_index)}"
        self.cupy.cuda.Device(int(device_index)).use()
        self.comm = self.nccl.NcclCommunicator(self.size, self._shared_unique_id(), self.rank)
        self.stream = self.cupy.cuda.Stream(non_blocking=True)

    def _shared_unique_id(self):
        """Rank 0 asks NCCL for an id; MPI broadcasts it as 128 integers."""
        uid = np.zeros(UNIQUE_ID_BYTES, dtype=np.int64)
        if self.rank == 0:
            got = self.nccl.get_unique_id()
            if len(got) != UNIQUE_ID_BYTES:
                raise DistributedError(f"NCCL unique id has {len(got)} bytes, expected "
                                       f"{UNIQUE_ID_BYTES}")
            uid[:] = got
        self.mpi.broadcast(uid, root=0)
        return tuple(int(b) for b in uid)

    # ---------------------------------------------------------------- helpers
    def _dtype(self, array, who):
        name = _NCCL_DTYPES.get(str(array.dtype))
        if name is None:
            raise DTypeError(f"{who}: NCCL cannot communicate dtype {array.dtype}; expected one "
                             f"of {sorted(_NCCL_DTYPES)}")
        return getattr(self.nccl, name)

    def _op(self, op, who):
        check_op(op, who)
        return getattr(self.nccl, _NCCL_OPS[op])

    def _device_buffer(self, array, who):
        """A contiguous array on this GPU, and the copy-back when it had to be a copy."""
        if device_of(array) != self.device:
            raise DeviceError(f"{who}: NCCL on {self.device} got an array on "
                              f"{device_of(array)}; move it with .to({self.device!r})")
        if array.flags.c_contiguous:
            return array, None
        buf = self.cupy.ascontiguousarray(array)

        def copy_back():
            array[...] = buf
        return buf, copy_back

    def _launch(self, call):
        """Queue `call(stream_ptr)` on the communication stream after the compute
        stream's queued work; returns the event that marks the call's end."""
        cuda = self.cupy.cuda
        ready = cuda.Event()
        ready.record(cuda.get_current_stream())
        self.stream.wait_event(ready)
        call(self.stream.ptr)
        done = cuda.Event()
        done.record(self.stream)
        return done

    def _work(self, done, finish_steps):
        cuda = self.cupy.cuda

        def finish():
            for step in finish_steps:
                if step is not None:
                    step()
        return Work(wait=lambda: cuda.get_current_stream().wait_event(done),
                    test=lambda: done.done, finish=finish)

    # ---------------------------------------------------------------- collectives
    def iall_reduce(self, array, op="sum"):
        nccl_op = self._op(op, "all_reduce")
        check_mean_dtype(array, op, "all_reduce")
        dtype = self._dtype(array, "all_reduce")
        buf, copy_back = self._device_buffer(array, "all_reduce")
        ptr = buf.data.ptr
        done = self._launch(lambda s: self.comm.allReduce(ptr, ptr, buf.size, dtype, nccl_op, s))

        def mean():
            array[...] /= self.size      # queued on the compute stream, after the wait
        return self._work(done, (copy_back, mean if op == "mean" else None))

    def all_reduce(self, array, op="sum"):
        self.iall_reduce(array, op).wait()
        return array

    def ibroadcast(self, array, root=0):
        dtype = self._dtype(array, "broadcast")
        buf, copy_back = self._device_buffer(array, "broadcast")
        ptr = buf.data.ptr
        done = self._launch(lambda s: self.comm.bcast(ptr, buf.size, dtype, root, s))
        return self._work(done, (copy_back,))

    def broadcast(self, array, root=0):
        self.ibroadcast(array, root).wait()
        return array

    def all_gather(self, array):
        dtype = self._dtype(array, "all_gather")
        buf, _ = self._device_buffer(array, "all_gather")
        out = self.cupy.empty((self.size,) + tuple(buf.shape), dtype=buf.dtype)
        done = self._launch(lambda s: self.comm.allGather(buf.data.ptr, out.data.ptr, buf.size,
                                                          dtype, s))
        self._work(done, ()).wait()
        return out

    def barrier(self):
        """Every rank's queued GPU work and collectives are finished, then an MPI barrier."""
        self.cupy.cuda.get_current_stream().synchronize()
        self.stream.synchronize()
        self.mpi.barrier()

    def abort(self, errorcode=1):
        try:
            self.comm.abort()
        finally:
            self.mpi.abort(errorcode)

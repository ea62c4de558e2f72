"""NCCLCommunicator above the NCCL calls, on a fake CuPy and a fake NCCL.

No GPU is needed: the fakes record what the communicator asks of CuPy and NCCL
(which device, which stream, which pointer, count, dtype and op, in which
order), and the fake NCCL acts on the host memory behind the pointer as a
world whose ranks hold different data would: rank j holds this rank's values plus
10 * (j - rank) (`peer_data`), so a reduction or gather that mixes up ranks, skips
some, or treats them as equal gives a wrong result.
"""
import ctypes
from types import SimpleNamespace

import numpy as np
import pytest

import minigrad as mg
import minigrad.distributed as dist
from minigrad.distributed import nccl as nccl_module
from minigrad.distributed.communicator import Communicator

CODES = dict(NCCL_INT8=0, NCCL_UINT8=1, NCCL_INT32=2, NCCL_UINT32=3, NCCL_INT64=4,
             NCCL_UINT64=5, NCCL_FLOAT16=6, NCCL_FLOAT32=7, NCCL_FLOAT64=8,
             NCCL_SUM=0, NCCL_PROD=1, NCCL_MAX=2, NCCL_MIN=3)
NUMPY_OF = {0: np.int8, 1: np.uint8, 2: np.int32, 3: np.uint32, 4: np.int64, 5: np.uint64,
            6: np.float16, 7: np.float32, 8: np.float64}


SHIFT = 10


def peer_data(own, j, rank):
    """What rank j holds when this rank (`rank`) holds `own`."""
    return (own + SHIFT * (j - rank)).astype(own.dtype)


REDUCE = {CODES["NCCL_SUM"]: np.sum, CODES["NCCL_PROD"]: np.prod, CODES["NCCL_MAX"]: np.max,
          CODES["NCCL_MIN"]: np.min}


def host_view(ptr, count, code):
    dtype = np.dtype(NUMPY_OF[code])
    raw = (ctypes.c_char * (count * dtype.itemsize)).from_address(ptr)
    return np.frombuffer(raw, dtype=dtype)


class FakeGpuArray:
    """Enough of a cupy.ndarray: host memory behind `.data.ptr`, a device id."""

    def __init__(self, array, device_id=0):
        self.a, self.device = array, SimpleNamespace(id=device_id)

    data = property(lambda self: SimpleNamespace(ptr=self.a.ctypes.data))
    size = property(lambda self: self.a.size)
    shape = property(lambda self: self.a.shape)
    dtype = property(lambda self: self.a.dtype)
    flags = property(lambda self: self.a.flags)

    def __getitem__(self, key):
        return self.a[key]

    def __setitem__(self, key, value):
        self.a[key] = value.a if isinstance(value, FakeGpuArray) else value


class FakeStream:
    def __init__(self, log, ptr):
        self.log, self.ptr = log, ptr

    def wait_event(self, event):
        self.log.append(("wait_event", self.ptr, event.id))

    def synchronize(self):
        self.log.append(("synchronize", self.ptr))


class FakeWorld:
    """Fake cupy and cupy.cuda.nccl sharing one log."""

    def __init__(self, size, gpus=2):
        self.log = []
        self.compute = FakeStream(self.log, ptr=1)
        log, events = self.log, [0]

        class Event:
            def __init__(self):
                events[0] += 1
                self.id, self.done = events[0], True

            def record(self, stream=None):
                log.append(("record", self.id, stream.ptr))

        class Device:
            def __init__(self, index):
                self.index = index

            def use(self):
                log.append(("use_device", self.index))

        cuda = SimpleNamespace(Device=Device, Event=Event,
                               runtime=SimpleNamespace(getDeviceCount=lambda: gpus),
                               Stream=lambda non_blocking=False: FakeStream(log, ptr=2),
                               get_current_stream=lambda: self.compute)
        self.cupy = SimpleNamespace(
            cuda=cuda,
            ascontiguousarray=lambda x: FakeGpuArray(np.ascontiguousarray(x.a), x.device.id),
            empty=lambda shape, dtype: FakeGpuArray(np.empty(shape, dtype)))

        class NcclCommunicator:
            def __init__(comm, ndev, uid, rank):
                log.append(("nccl_init", ndev, uid, rank))
                comm.rank = rank

            def allReduce(comm, send, recv, count, dtype, op, stream):
                log.append(("allReduce", send, recv, count, dtype, op, stream))
                own = host_view(send, count, dtype).copy()
                every = np.stack([peer_data(own, j, comm.rank) for j in range(size)])
                host_view(recv, count, dtype)[:] = REDUCE[op](every, axis=0)

            def bcast(comm, buf, count, dtype, root, stream):
                log.append(("bcast", buf, count, dtype, root, stream))

            def allGather(comm, send, recv, count, dtype, stream):
                log.append(("allGather", count, dtype, stream))
                src = host_view(send, count, dtype).copy()
                dst = host_view(recv, count * size, dtype)
                dst[:] = np.concatenate([peer_data(src, j, comm.rank) for j in range(size)])

            def abort(comm):
                log.append(("nccl_abort",))

        self.nccl = SimpleNamespace(NcclCommunicator=NcclCommunicator,
                                    get_unique_id=self.get_unique_id, **CODES)

    def get_unique_id(self):
        self.log.append(("get_unique_id",))
        return tuple(range(-64, 64))


class FakeMPI(Communicator):
    """The MPI side: carries the unique id; rank != 0 receives rank 0's."""

    def __init__(self, rank, size, local=(0, 1)):
        super().__init__(rank, size)
        self.local, self.calls = local, []

    def local_rank_and_size(self):
        return self.local

    def broadcast(self, array, root=0):
        self.calls.append(("broadcast", array.dtype, array.shape, root))
        if self.rank != root:
            array[:] = np.arange(100, 228)
        return array

    def all_reduce(self, array, op="sum"):
        raise AssertionError("NCCL must not reduce through MPI")

    def all_gather(self, array):
        raise AssertionError("NCCL must not gather through MPI")

    def barrier(self):
        self.calls.append(("barrier",))

    def abort(self, errorcode=1):
        self.calls.append(("abort", errorcode))


def make(monkeypatch, rank=0, size=2, local=(0, 1), gpus=2, device_index=None):
    world = FakeWorld(size, gpus)
    monkeypatch.setattr(nccl_module, "import_nccl", lambda: (world.cupy, world.nccl))
    mpi = FakeMPI(rank, size, local)
    comm = dist.NCCLCommunicator(mpi, device_index=device_index)
    return comm, world, mpi


# ------------------------------------------------------------------ set-up
def test_rank0_makes_the_unique_id_and_mpi_broadcasts_it(monkeypatch):
    comm, world, mpi = make(monkeypatch, rank=0, size=2)
    assert ("get_unique_id",) in world.log
    assert mpi.calls == [("broadcast", np.dtype(np.int64), (128,), 0)]
    assert ("nccl_init", 2, tuple(range(-64, 64)), 0) in world.log
    assert (comm.rank, comm.size, comm.supports_async) == (0, 2, True)


def test_other_ranks_receive_the_unique_id_over_mpi(monkeypatch):
    comm, world, mpi = make(monkeypatch, rank=1, size=2)
    assert ("get_unique_id",) not in world.log
    assert ("nccl_init", 2, tuple(range(100, 228)), 1) in world.log


def test_the_local_rank_picks_the_gpu(monkeypatch):
    comm, world, _ = make(monkeypatch, rank=5, size=8, local=(3, 4), gpus=2)
    assert comm.device == "cuda:1" and ("use_device", 1) in world.log
    comm, world, _ = make(monkeypatch, rank=5, size=8, local=(3, 4), device_index=0)
    assert comm.device == "cuda:0" and ("use_device", 0) in world.log


# ------------------------------------------------------------------ collectives
def test_all_reduce_is_queued_on_the_communication_stream_in_order(monkeypatch):
    comm, world, _ = make(monkeypatch, size=4)
    x = FakeGpuArray(np.arange(6, dtype=np.float32).reshape(2, 3))
    world.log.clear()
    work = comm.iall_reduce(x, op="sum")
    ptr = x.data.ptr
    (rec1, e1, s1), wait1, call, (rec2, e2, s2) = world.log
    assert (rec1, s1) == ("record", 1)                     # compute stream's work so far...
    assert wait1 == ("wait_event", 2, e1)                  # ...before the NCCL stream goes on
    assert call == ("allReduce", ptr, ptr, 6, CODES["NCCL_FLOAT32"], CODES["NCCL_SUM"], 2)
    assert (rec2, s2) == ("record", 2)
    work.wait()
    assert world.log[-1] == ("wait_event", 1, e2)          # compute stream waits, host does not
    # the sum over ranks 0..3 holding x, x + 10, x + 20, x + 30
    np.testing.assert_array_equal(x.a, 4 * np.arange(6).reshape(2, 3) + 60)


@pytest.mark.parametrize("op, want", [("sum", [4 * 7 + 20, 4 * -2 + 20]),
                                      ("max", [7 + 20, -2 + 20]), ("min", [7 - 10, -2 - 10]),
                                      ("prod", [-3 * 7 * 17 * 27, -12 * -2 * 8 * 18])])
def test_every_reduction_combines_the_ranks_different_data(monkeypatch, op, want):
    comm, world, _ = make(monkeypatch, rank=1, size=4)      # x - 10, x, x + 10, x + 20
    x = FakeGpuArray(np.array([7, -2], dtype=np.int64))
    comm.all_reduce(x, op=op)
    np.testing.assert_array_equal(x.a, want)


def test_mean_divides_after_the_sum(monkeypatch):
    comm, world, _ = make(monkeypatch, size=4)
    x = FakeGpuArray(np.array([1.0, 2.0], dtype=np.float64))
    comm.all_reduce(x, op="mean")
    np.testing.assert_allclose(x.a, [1.0 + 15, 2.0 + 15])     # mean of x, x+10, x+20, x+30
    assert [e for e in world.log if e[0] == "allReduce"][0][4:6] == (CODES["NCCL_FLOAT64"],
                                                                     CODES["NCCL_SUM"])


def test_a_strided_array_goes_through_a_contiguous_copy(monkeypatch):
    comm, world, _ = make(monkeypatch, size=2)
    base = np.arange(8, dtype=np.int32).reshape(2, 4)
    x = FakeGpuArray(base[:, ::2])
    comm.all_reduce(x, op="max")
    call = [e for e in world.log if e[0] == "allReduce"][0]
    assert call[1] != base.ctypes.data and call[3] == 4 and call[5] == CODES["NCCL_MAX"]
    # the result (rank 1's x + 10) is written back into the strided elements only
    want = np.arange(8).reshape(2, 4)
    want[:, ::2] += 10
    np.testing.assert_array_equal(base, want)


def test_broadcast_all_gather_barrier_abort(monkeypatch):
    comm, world, mpi = make(monkeypatch, size=3)
    x = FakeGpuArray(np.ones(5, dtype=np.float16))
    comm.broadcast(x, root=2)
    assert ("bcast", x.data.ptr, 5, CODES["NCCL_FLOAT16"], 2, 2) in world.log
    g = comm.all_gather(FakeGpuArray(np.array([1, 2], dtype=np.int64)))
    np.testing.assert_array_equal(g.a, [[1, 2], [11, 12], [21, 22]])    # in rank order
    world.log.clear()
    comm.barrier()
    assert world.log == [("synchronize", 1), ("synchronize", 2)] and mpi.calls[-1] == ("barrier",)
    comm.abort(3)
    assert world.log[-1] == ("nccl_abort",) and mpi.calls[-1] == ("abort", 3)


def test_errors_name_what_was_wrong(monkeypatch):
    comm, _, _ = make(monkeypatch)
    with pytest.raises(mg.DTypeError, match="NCCL cannot communicate dtype complex64"):
        comm.all_reduce(FakeGpuArray(np.zeros(2, dtype=np.complex64)))
    with pytest.raises(mg.DeviceError, match=r"NCCL on cuda:0 got an array on cpu"):
        comm.all_reduce(np.zeros(2, dtype=np.float32))
    with pytest.raises(mg.DeviceError, match="got an array on cuda:1"):
        comm.broadcast(FakeGpuArray(np.zeros(2, dtype=np.float32), device_id=1))
    with pytest.raises(dist.DistributedError, match="unknown reduction 'avg'"):
        comm.all_reduce(FakeGpuArray(np.zeros(2, dtype=np.float32)), op="avg")
    with pytest.raises(mg.DTypeError, match="op 'mean' needs a floating point array, got int32"):
        comm.all_reduce(FakeGpuArray(np.zeros(2, dtype=np.int32)), op="mean")


def test_missing_cupy_says_what_to_install(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "cupy", None)      # import cupy -> ImportError
    with pytest.raises(dist.DistributedError, match=r"needs CuPy with NCCL: pip install"):
        nccl_module.import_nccl()

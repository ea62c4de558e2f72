"""DistributedDataParallel, the process-group functions and the training-loop
helpers, in one process, on a fake communicator that records every call.

The fake is a world whose ranks all hold this process's data, so a sum is
`size * x` and a mean gives `x` back: DDP's gradients must then equal the
plain model's exactly, whatever the bucketing. The real averaging across
processes is checked under mpirun (test_mpirun.py).
"""
import sys

import numpy as np
import pytest

import minigrad as mg
import minigrad.distributed as dist
from minigrad import autograd, nn
from minigrad.distributed.communicator import Communicator, Work, check_op


class LoopbackCommunicator(Communicator):
    def __init__(self, size=2, rank=0, supports_async=True, device="cpu", root_value=None,
                 gather_rows=None):
        super().__init__(rank, size)
        self.supports_async = supports_async
        self.device = device
        self.root_value = root_value          # what a broadcast from another rank delivers
        self.gather_rows = gather_rows        # override what all_gather returns
        self.log = []
        self.aborted = None

    def _reduce(self, array, op):
        if op == "sum":
            array *= self.size
        elif op == "prod":
            array **= self.size

    def all_reduce(self, array, op="sum"):
        check_op(op, "all_reduce")
        self.log.append(("all_reduce", array.size, op))
        self._reduce(array, op)
        return array

    def iall_reduce(self, array, op="sum"):
        if not self.supports_async:
            return super().iall_reduce(array, op)
        check_op(op, "iall_reduce")
        self.log.append(("start", array.size, op))
        return Work(wait=lambda: self.log.append(("wait", array.size)), test=lambda: False,
                    finish=lambda: self._reduce(array, op))

    def broadcast(self, array, root=0):
        self.log.append(("broadcast", array.size, root))
        if self.rank != root and self.root_value is not None:
            array[...] = self.root_value
        return array

    def all_gather(self, array):
        self.log.append(("all_gather", array.size))
        if self.gather_rows is not None:
            return np.asarray(self.gather_rows, dtype=array.dtype)
        return np.stack([array] * self.size)

    def barrier(self):
        self.log.append(("barrier",))

    def abort(self, errorcode=1):
        self.aborted = errorcode


@pytest.fixture(autouse=True)
def _clean_world():
    dist.destroy()
    yield
    dist.destroy()


def mlp():
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 7), nn.Tanh(),
                         nn.Linear(7, 3))


def batch(n=6, seed=0):
    rng = np.random.default_rng(seed)
    return mg.tensor(rng.standard_normal((n, 5)).astype(np.float32)), \
        mg.tensor(rng.integers(0, 3, size=n))


def loss_of(model, x, y):
    return mg.cross_entropy(model(x), y)


def plain_grads(model, x, y):
    clone = mlp()
    clone.load_state_dict(model.state_dict())
    loss_of(clone, x, y).backward()
    return {n: p.grad.numpy() for n, p in clone.named_parameters()}


# ------------------------------------------------------------------ averaging and buckets
@pytest.mark.parametrize("bucket_mb", [1e-6, 2e-4, 10.0])
@pytest.mark.parametrize("supports_async", [True, False])
def test_gradients_are_the_plain_models_in_an_identical_world(bucket_mb, supports_async):
    comm = LoopbackCommunicator(supports_async=supports_async)
    model = mlp()
    ddp = dist.DistributedDataParallel(model, bucket_size_mb=bucket_mb, communicator=comm)
    x, y = batch()
    expected = plain_grads(model, x, y)
    comm.log.clear()
    loss_of(ddp, x, y).backward()
    for n, p in model.named_parameters():
        np.testing.assert_array_equal(p.grad.numpy(), expected[n], err_msg=n)
        assert p.grad.dtype == np.float32 and p.grad.shape == p.shape
    kind = "start" if supports_async else "all_reduce"
    reductions = [e for e in comm.log if e[0] == kind]
    assert len(reductions) == len(ddp.buckets)
    assert all(op == "mean" for _, _, op in reductions)
    assert sum(size for _, size, _ in reductions) == model.num_parameters()


def test_bucket_layout_follows_reverse_registration_order_and_size():
    names = [n for n, _ in mlp().named_parameters()]
    one_each = dist.DistributedDataParallel(mlp(), bucket_size_mb=1e-6,
                                            communicator=LoopbackCommunicator())
    assert one_each.bucket_parameter_names() == [[n] for n in reversed(names)]
    together = dist.DistributedDataParallel(mlp(), bucket_size_mb=10,
                                            communicator=LoopbackCommunicator())
    assert together.bucket_parameter_names() == [list(reversed(names))]
    # 4.bias (3) + 4.weight (21) + 2.bias (7) floats = 124 bytes fit in 128; 2.weight does not
    cap = dist.DistributedDataParallel(mlp(), bucket_size_mb=128 / 2 ** 20,
                                       communicator=LoopbackCommunicator())
    assert cap.bucket_parameter_names()[0] == ["4.bias", "4.weight", "2.bias"]


def test_reductions_start_while_backward_is_still_running():
    comm = LoopbackCommunicator(supports_async=True)
    model = mlp()
    ddp = dist.DistributedDataParallel(model, bucket_size_mb=1e-6, communicator=comm)
    # probe: the first layer's weight is the last gradient backward finishes
    probe = autograd.register_post_accumulate_grad_hook(
        model[0].weight, lambda t: comm.log.append(("first layer done",)))
    comm.log.clear()
    loss_of(ddp, *batch()).backward()
    probe.remove()
    events = [e[0] for e in comm.log]
    first_done = events.index("first layer done")
    assert events.index("start") < first_done, "the last layer's bucket should start early"
    assert events.count("start") == len(ddp.buckets)
    assert all(i > first_done for i, e in enumerate(events) if e == "wait")


def test_blocking_communicator_reduces_after_backward():
    comm = LoopbackCommunicator(supports_async=False)
    model = mlp()
    ddp = dist.DistributedDataParallel(model, bucket_size_mb=1e-6, communicator=comm)
    probe = autograd.register_post_accumulate_grad_hook(
        model[0].weight, lambda t: comm.log.append(("first layer done",)))
    comm.log.clear()
    loss_of(ddp, *batch()).backward()
    probe.remove()
    events = [e[0] for e in comm.log]
    assert events[0] == "first layer done" and events.count("all_reduce") == len(ddp.buckets)


def test_no_sync_accumulates_locally_then_one_reduction_per_bucket():
    comm = LoopbackCommunicator()
    model = mlp()
    ddp = dist.DistributedDataParallel(model, bucket_size_mb=2e-4, communicator=comm)
    (x1, y1), (x2, y2) = batch(seed=1), batch(seed=2)
    comm.log.clear()
    with ddp.no_sync():
        loss_of(ddp, x1, y1).backward()
    assert comm.log == []
    loss_of(ddp, x2, y2).backward()
    assert [e[0] for e in comm.log].count("start") == len(ddp.buckets)
    g1, g2 = plain_grads(model, x1, y1), plain_grads(model, x2, y2)
    for n, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), g1[n] + g2[n], rtol=1e-6, atol=1e-7)


def test_only_a_forward_through_the_wrapper_arms_a_synchronisation():
    comm = LoopbackCommunicator()
    model = mlp()
    ddp = dist.DistributedDataParallel(model, communicator=comm)
    comm.log.clear()
    loss_of(model, *batch()).backward()          # the bare module: local only
    with mg.no_grad():
        ddp(batch()[0])                          # evaluation: nothing to synchronise
    assert comm.log == []
    loss = loss_of(ddp, *batch())
    loss.backward(retain_graph=True)
    n = len(comm.log)
    assert n > 0
    loss.backward()                              # a second backward of one forward: local
    assert len(comm.log) == n
    ddp.finish_gradient_synchronization()        # nothing pending: does nothing
    assert len(comm.log) == n


def test_unused_parameter_gets_a_zero_gradient():
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.used = nn.Linear(4, 2)
            self.unused = nn.Linear(4, 2)

        def forward(self, x):
            return self.used(x)

    model = TwoHeads()
    ddp = dist.DistributedDataParallel(model, bucket_size_mb=1e-6,
                                       communicator=LoopbackCommunicator())
    ddp(mg.randn(3, 4)).sum().backward()
    np.testing.assert_array_equal(model.unused.weight.grad.numpy(), np.zeros((2, 4)))
    assert np.abs(model.used.weight.grad.numpy()).sum() > 0


def test_works_with_every_optimizer_unchanged():
    x, y = batch()
    for make in (lambda ps: mg.optim.SGD(ps, lr=0.1, momentum=0.9),
                 lambda ps: mg.optim.Adam(ps, lr=1e-2), lambda ps: mg.optim.AdamW(ps, lr=1e-2)):
        mg.manual_seed(0)
        plain = mlp()
        mg.manual_seed(0)
        wrapped = dist.DistributedDataParallel(mlp(), communicator=LoopbackCommunicator())
        for model in (plain, wrapped):
            opt = make(model.parameters())
            for _ in range(3):
                loss = loss_of(model, x, y)
                opt.zero_grad()
                loss.backward()
                opt.step()
        for (n, a), (_, b) in zip(plain.named_parameters(), wrapped.named_parameters()):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=n)


# ------------------------------------------------------------------ construction
def test_rank0_parameters_are_copied_in_place():
    model = mlp()
    before = list(model.parameters())
    dist.DistributedDataParallel(model, communicator=LoopbackCommunicator(rank=1,
                                                                          root_value=0.5))
    assert list(model.parameters()) == before          # the same objects (optimizers keep them)
    for p in model.parameters():
        np.testing.assert_array_equal(p.numpy(), np.full(p.shape, 0.5, dtype=np.float32))


def test_ranks_with_different_models_are_refused():
    rows = [[6, 100, 12345], [6, 101, 999]]
    with pytest.raises(dist.DistributedError, match="ranks hold different models.*rank 1: 6 "
                                                    "parameters, 101 elements"):
        dist.DistributedDataParallel(mlp(), communicator=LoopbackCommunicator(gather_rows=rows))


def test_model_on_another_device_than_the_communicator_is_refused():
    with pytest.raises(mg.DeviceError, match=r"parameter 0.weight is on cpu.*module.to\('cuda:0'\)"):
        dist.DistributedDataParallel(mlp(), communicator=LoopbackCommunicator(device="cuda:0"))


def test_bad_bucket_size():
    with pytest.raises(mg.ShapeError, match="bucket_size_mb must be positive, got 0"):
        dist.DistributedDataParallel(mlp(), bucket_size_mb=0, communicator=LoopbackCommunicator())


def test_wrapper_exposes_the_module():
    model = mlp()
    ddp = dist.DistributedDataParallel(model, communicator=LoopbackCommunicator())
    assert list(ddp.state_dict()) == list(model.state_dict())
    assert list(ddp.parameters()) == list(model.parameters())
    ddp.eval()
    assert not model.training
    ddp.train()
    assert model.training and ddp.module is model
    assert "DistributedDataParallel(rank=0, world_size=2" in repr(ddp)


def test_remove_hooks_detaches_from_autograd():
    comm = LoopbackCommunicator()
    before = autograd.hooked_leaves()
    ddp = dist.DistributedDataParallel(mlp(), communicator=comm)
    assert autograd.hooked_leaves() == before + 6
    ddp.remove_hooks()
    assert autograd.hooked_leaves() == before
    comm.log.clear()
    loss_of(ddp, *batch()).backward()
    assert comm.log == []


# ------------------------------------------------------------------ the process group
def test_before_init_the_world_is_this_process():
    assert not dist.is_initialized()
    assert (dist.get_rank(), dist.get_world_size(), dist.get_local_rank()) == (0, 1, 0)
    assert dist.get_device() == "cpu" and dist.is_main_process()
    with pytest.raises(dist.DistributedError, match=r"call minigrad.distributed.init\(\) first"):
        dist.all_reduce(mg.ones(2))
    with pytest.raises(dist.DistributedError, match="init"):
        dist.DistributedDataParallel(mlp())


def test_collectives_on_the_default_communicator():
    comm = LoopbackCommunicator(size=3, rank=2)
    assert dist.init(communicator=comm, abort_on_exception=False) is comm
    assert dist.init() is comm                       # already initialised
    assert (dist.get_rank(), dist.get_world_size(), dist.is_main_process()) == (2, 3, False)
    t = mg.tensor([1.0, 2.0])
    assert dist.all_reduce(t) is t
    np.testing.assert_array_equal(t.numpy(), [3.0, 6.0])
    gathered = dist.all_gather(mg.tensor([1.0]))
    assert isinstance(gathered, mg.Tensor) and gathered.shape == (3, 1)
    a = np.zeros(2)
    assert dist.all_gather(a).shape == (3, 2)
    comm.root_value = 7.0
    dist.broadcast(a, src=0)
    np.testing.assert_array_equal(a, [7.0, 7.0])
    dist.barrier()
    assert comm.log[-1] == ("barrier",)
    with pytest.raises(dist.DistributedError, match="unknown reduction 'avg'"):
        dist.all_reduce(t, op="avg")


def test_an_uncaught_exception_aborts_the_job(capsys):
    comm = LoopbackCommunicator(size=4, rank=3)
    previous = sys.excepthook
    dist.init(communicator=comm)                     # abort_on_exception=True
    assert sys.excepthook is not previous
    try:
        raise KeyError("boom")
    except KeyError:
        sys.excepthook(*sys.exc_info())
    err = capsys.readouterr().err
    assert "rank 3 of 4 raised KeyError: 'boom'" in err
    assert "aborting all 4 processes" in err and "Traceback" in err
    assert comm.aborted == 1
    dist.destroy()
    assert sys.excepthook is previous


# ------------------------------------------------------------------ helpers
def test_helpers_on_rank_0_and_rank_1(capsys, tmp_path):
    for rank in (0, 1):
        dist.destroy()
        comm = LoopbackCommunicator(size=2, rank=rank)
        dist.init(communicator=comm, abort_on_exception=False)
        assert dist.seed_per_rank(10) == 10 + rank
        dist.print_main("hello from", rank)
        calls = []
        result = dist.save_on_main(lambda p: calls.append(p) or "saved", tmp_path / "x")
        assert calls == ([tmp_path / "x"] if rank == 0 else [])
        assert result == ("saved" if rank == 0 else None)
        assert comm.log[-1] == ("barrier",)
    assert capsys.readouterr().out == "hello from 0\n"


def test_seed_per_rank_gives_different_dropout_masks():
    masks = []
    for rank in (0, 1):
        dist.destroy()
        dist.init(communicator=LoopbackCommunicator(rank=rank), abort_on_exception=False)
        dist.seed_per_rank(3)
        masks.append(mg.dropout(mg.ones(64), 0.5, training=True).numpy())
    assert not np.array_equal(masks[0], masks[1])


def test_metric_reductions():
    assert dist.average_metrics({"loss": 2.0}) == {"loss": 2.0}      # before init: this process
    comm = LoopbackCommunicator(size=4)
    dist.init(communicator=comm, abort_on_exception=False)
    out = dist.average_metrics({"loss": mg.tensor(1.5), "acc": 0.25}, weight=10)
    assert out == pytest.approx({"loss": 1.5, "acc": 0.25})
    assert comm.log[-1] == ("all_reduce", 3, "sum")                  # one message for all
    assert dist.reduce_metrics({"tokens": 100}, op="sum") == {"tokens": 400.0}
    assert dist.reduce_metrics({"secs": 2.0}, op="max") == {"secs": 2.0}

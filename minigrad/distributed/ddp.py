"""DistributedDataParallel: one replica of the model per process, gradients averaged.

Every rank runs forward and backward on its own equal share of the global
batch. The global batch's mean loss is the mean of the ranks' mean losses, so
its gradient is the mean of the ranks' gradients: averaging the gradients after
backward gives every rank the gradient of the whole batch. Every rank then makes
the same optimizer step from the same weights, and the replicas stay identical,
whatever the optimizer.

    import minigrad.distributed as dist
    dist.init()
    model = dist.DistributedDataParallel(make_model().to(dist.get_device()))
    opt = minigrad.optim.Adam(model.parameters())
    for x, y in my_shard_of_the_batches:
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        loss.backward()            # gradients are averaged across ranks when it returns
        opt.step()

Buckets. Gradients travel in buckets of about `bucket_size_mb`: a bucket's
gradients are copied into one flat buffer that a single all-reduce averages,
since one large message costs far less than many small ones. Buckets take the
parameters in reverse registration order, roughly the order in which backward
finishes them. Autograd calls a hook when a parameter's gradient is final;
when a bucket's last gradient is final and the communicator is non-blocking
(MPI 3 `Iallreduce`, NCCL on its own stream), the bucket's all-reduce starts at
once and runs while backward computes the earlier layers. Buckets start strictly
in order, the same order on every rank, as collectives must. When backward
ends, DDP waits for every bucket and writes the averages into `.grad`.
"""
import contextlib
import weakref
import zlib

import numpy as np

from ..autograd import is_grad_enabled, queue_callback, register_post_accumulate_grad_hook
from ..backend import to_device, to_numpy, xp_for
from ..errors import DeviceError, ShapeError
from ..tensor import Tensor
from .communicator import DistributedError
from .world import get_communicator


class _Bucket:
    """Parameters whose gradients are averaged by one all-reduce of one flat buffer."""

    def __init__(self, params):
        self.params = params
        self.dtype = params[0].dtype
        self.device = params[0].device
        self.offsets = np.cumsum([0] + [p.numel() for p in params]).tolist()
        self.numel = self.offsets[-1]
        self.ready = set()         # ids of the parameters whose gradient is final
        self.work = None           # the running all-reduce
        self.buffer = None

    def flatten_grads(self):
        """One buffer holding every gradient of the bucket (zeros for a parameter
        that received none, so every rank reduces buffers of the same layout)."""
        xp = xp_for(self.device)
        parts = [p.grad.array.reshape(-1) if p.grad is not None
                 else xp.zeros(p.numel(), dtype=self.dtype) for p in self.params]
        return xp.concatenate(parts).astype(self.dtype, copy=False)

    def write_grads(self):
        """Each parameter's `.grad` becomes its slice of the averaged buffer."""
        for p, lo, hi in zip(self.params, self.offsets, self.offsets[1:]):
            p.grad = Tensor._make(self.buffer[lo:hi].reshape(p.shape), False, None)


def _group(tensors, cap_bytes):
    """Consecutive runs of tensors of one dtype and device, each up to `cap_bytes`
    (a tensor larger than the cap gets a run of its own)."""
    groups, current, size = [], [], 0
    for t in tensors:
        nbytes = t.numel() * t.dtype.itemsize
        if current and (t.dtype != current[0].dtype or t.device != current[0].device
                        or size + nbytes > cap_bytes):
            groups.append(current)
            current, size = [], 0
        current.append(t)
        size += nbytes
    if current:
        groups.append(current)
    return groups


class DistributedDataParallel:
    """Wrap `module` so that backward averages its gradients across ranks.

    module: a minigrad.nn.Module, already on this process's device
        (`module.to(dist.get_device())`).
    bucket_size_mb: the size of one gradient all-reduce.
    communicator: defaults to the one `minigrad.distributed.init()` made.

    The wrapper is not itself a Module (minigrad's core does not import nn):
    calling it runs `module`, and every other attribute (`parameters()`,
    `state_dict()`, `train()`, ...) is the module's, so a checkpoint of the
    wrapped model loads into the plain model and back. Rank 0's parameters and
    buffers are copied to every rank on construction.

    One forward through the wrapper arms one gradient synchronisation, carried out
    by the next backward; under `no_sync()` gradients only accumulate locally.
    Parameters that received no gradient on any rank get a zero gradient.
    """

    def __init__(self, module, bucket_size_mb=4.0, communicator=None):
        if not bucket_size_mb > 0:
            raise ShapeError(f"DistributedDataParallel: bucket_size_mb must be positive, "
                             f"got {bucket_size_mb}")
        self.module = module
        self.comm = communicator if communicator is not None else get_communicator()
        self.bucket_size_mb = bucket_size_mb
        named = list(module.named_parameters())
        self._check_devices(named)
        self._check_same_model_everywhere(named)
        self._broadcast_from_rank0()
        trainable = [p for _, p in named if p.requires_grad]
        cap = int(bucket_size_mb * 2 ** 20)
        self.buckets = [_Bucket(ps) for ps in _group(trainable[::-1], cap)]
        self._bucket_of = {id(p): b for b in self.buckets for p in b.params}
        self._names = {id(p): n for n, p in named}
        self._sync_enabled = True
        self._armed = False            # a forward happened; its backward must synchronise
        self._reset_round()
        me = weakref.ref(self)         # hooks must not keep the wrapper alive

        def hook(param):
            ddp = me()
            if ddp is not None:
                ddp._grad_ready(param)
        self._hook_handles = [register_post_accumulate_grad_hook(p, hook) for p in trainable]

    # ---------------------------------------------------------------- set-up checks
    def _check_devices(self, named):
        for name, p in named:
            if p.device != self.comm.device:
                raise DeviceError(
                    f"DistributedDataParallel: parameter {name} is on {p.device} but the "
                    f"communicator works on {self.comm.device}; call "
                    f"module.to({self.comm.device!r}) before wrapping it")

    def _check_same_model_everywhere(self, named):
        """Every rank must hold the same parameter names, shapes and dtypes, or the
        bucket all-reduces would mix unrelated numbers (or wait forever)."""
        signature = ";".join(f"{n}:{tuple(p.shape)}:{p.dtype}" for n, p in named)
        mine = np.array([len(named), sum(p.numel() for _, p in named),
                         zlib.crc32(signature.encode())], dtype=np.int64)
        everyone = self.comm.all_gather(to_device(mine, self.comm.device))
        everyone = to_numpy(everyone)
        if not (everyone == everyone[0]).all():
            rows = "; ".join(f"rank {r}: {row[0]} parameters, {row[1]} elements, "
                             f"signature {row[2]:#x}" for r, row in enumerate(everyone.tolist()))
            raise DistributedError(f"DistributedDataParallel: the ranks hold different models "
                                   f"({rows}); build the same model on every rank")

    def _broadcast_from_rank0(self):
        """Rank 0's parameters and buffers, copied in place into every rank's."""
        tensors = [t for t in self.module.state_dict().values() if t.numel()]
        for group in _group(tensors, int(self.bucket_size_mb * 2 ** 20)):
            xp = xp_for(group[0].device)
            flat = xp.concatenate([t.array.reshape(-1) for t in group])
            self.comm.broadcast(flat, root=0)
            lo = 0
            for t in group:
                t.array[...] = flat[lo:lo + t.numel()].reshape(t.shape)
                lo += t.numel()

    # ---------------------------------------------------------------- running the module
    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        if self._queued:               # the last synchronised backward never finished
            self._reset_round()
        self._armed = self._sync_enabled and is_grad_enabled()
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Gradient accumulation: backward after a forward run inside this context
        only adds to the local `.grad`. The first forward/backward outside it
        averages the accumulated sum, so k micro-batches of b cost one all-reduce
        and give the gradient of one batch of k*b per rank (scale the loss by 1/k)."""
        previous = self._sync_enabled
        self._sync_enabled = False
        try:
            yield
        finally:
            self._sync_enabled = previous

    def __getattr__(self, name):
        module = self.__dict__.get("module")
        if module is None:
            raise AttributeError(name)
        return getattr(module, name)

    def __repr__(self):
        return (f"DistributedDataParallel(rank={self.comm.rank}, world_size={self.comm.size}, "
                f"buckets={len(self.buckets)}, module={self.module!r})")

    # ---------------------------------------------------------------- gradient averaging
    def _reset_round(self):
        for b in self.buckets:
            b.ready.clear()
            b.work = None
        self._next_bucket = 0          # buckets start in this order on every rank
        self._queued = False

    def _grad_ready(self, param):
        """Autograd's hook: `param.grad` is final for this backward."""
        if not self._armed:
            return
        if not self._queued:
            queue_callback(self.finish_gradient_synchronization)
            self._queued = True
        bucket = self._bucket_of[id(param)]
        bucket.ready.add(id(param))
        if self.comm.supports_async:
            while (self._next_bucket < len(self.buckets)
                   and len(self.buckets[self._next_bucket].ready)
                   == len(self.buckets[self._next_bucket].params)):
                self._start(self.buckets[self._next_bucket])
                self._next_bucket += 1
            for b in self.buckets[:self._next_bucket]:
                b.work.is_completed()  # lets MPI move the running messages along

    def _start(self, bucket):
        bucket.buffer = bucket.flatten_grads()
        bucket.work = self.comm.iall_reduce(bucket.buffer, op="mean")

    def finish_gradient_synchronization(self):
        """Start the buckets not started yet, wait for all, write the averages into
        `.grad`. Autograd calls it when a synchronised backward ends; calling it
        again does nothing."""
        if not self._queued:
            return
        for b in self.buckets[self._next_bucket:]:
            self._start(b)
        self._next_bucket = len(self.buckets)
        for b in self.buckets:
            b.work.wait()
            b.write_grads()
        self._reset_round()
        self._armed = False

    def bucket_parameter_names(self):
        """The parameter names of each bucket, in the order they are reduced."""
        return [[self._names[id(p)] for p in b.params] for b in self.buckets]

    def remove_hooks(self):
        """Detach from autograd: the module trains alone again."""
        for h in self._hook_handles:
            h.remove()
        self._hook_handles = []

"""What the example scripts share: devices on the command line, batches, the
training loop with its progress bar and log lines, evaluation, pictures and
checkpoints. A script defines its data and its model; everything else is here.

    device = common.resolve_device(args.device)          # clear error for a bad --device
    run = common.Run(args.out)                           # the run folder
    history = common.train(model, optimizer, scheduler, next_batch, steps=400)
    common.plot_loss_curve(history, run.path("loss.png"))
    common.save_checkpoint(run.checkpoint, model, optimizer, scheduler, history, config)

With --distributed (launched as `mpirun -n N python examples/copy_task.py
--distributed`) the same loop trains data-parallel: every rank builds the same
global batch of --batch-size sequences from the step's seed and trains on its
own equal share of it (minigrad.distributed.shard_batch), DistributedDataParallel
averages the gradients, and the logged loss and token counts are reduced over
the ranks. The run therefore follows the single-process run step for step (the
same batches, the same loss curve up to rounding); only its speed changes.
Rank 0 alone prints, draws, evaluates and writes files.

Import this module before anything that imports NumPy (the scripts do): it
chooses one BLAS thread for their small matrices, unless the environment says
otherwise.
"""
import os

# The examples multiply small matrices (a few hundred rows by 64-256 columns).
# For those a second BLAS thread costs more than it gives, and on a machine shared
# with other jobs a waiting BLAS thread can slow every matmul several times over.
# One thread unless the user chose otherwise; this works only when it runs before
# NumPy is first imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import contextlib  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402
import minigrad.distributed as dist  # noqa: E402
from minigrad.errors import DeviceError, MinigradError  # noqa: E402
from minigrad.tensor import Tensor  # noqa: E402

PAD, START, END = 0, 1, 2          # the special token ids every example uses


class ExampleError(Exception):
    """A problem the user can fix (a bad flag, a missing file): one line, no traceback."""


def run_main(main, argv=None):
    """Call main(argv) and turn user errors into one line on stderr and exit status 1.

    Library errors (MinigradError) raised while checking the input are user errors
    too; anything else is a bug and keeps its traceback. In a distributed job of
    several processes the error also ends the other ranks (MPI_Abort), which
    would otherwise wait for this one in their next collective forever.
    """
    prog = os.path.basename(sys.argv[0]) or "example"
    try:
        return main(argv) or 0
    except (ExampleError, MinigradError) as e:
        if not (dist.is_initialized() and dist.get_world_size() > 1):
            print(f"{prog}: error: {e}", file=sys.stderr)
            return 1
        print(f"{prog}: error (rank {dist.get_rank()} of {dist.get_world_size()}): {e}",
              file=sys.stderr, flush=True)
        sys.stdout.flush()
        dist.get_communicator().abort(1)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


# ------------------------------------------------------------------ command line
def add_common_arguments(parser, defaults):
    """The flags every training example has; `defaults` gives each script's values
    (keys: steps, batch_size, d_model, nhead, layers, d_ff, dropout, norm, warmup,
    lr_factor, label_smoothing, log_every, seed, out)."""
    d = defaults
    add = parser.add_argument
    add("--device", default="cpu", help="cpu (default), cuda or cuda:N (needs CuPy and a GPU)")
    add("--steps", type=int, default=d["steps"],
        help=f"total training steps, counted from the start of the run (default {d['steps']})")
    add("--batch-size", type=int, default=d["batch_size"],
        help=f"sequences per step (default {d['batch_size']})")
    add("--d-model", type=int, default=d["d_model"], help=f"model width (default {d['d_model']})")
    add("--nhead", type=int, default=d["nhead"], help=f"attention heads (default {d['nhead']})")
    add("--layers", type=int, default=d["layers"],
        help=f"encoder and decoder layers each (default {d['layers']})")
    add("--d-ff", type=int, default=d["d_ff"],
        help=f"feed-forward width (default {d['d_ff']})")
    add("--dropout", type=float, default=d["dropout"], help=f"dropout (default {d['dropout']})")
    add("--norm", choices=("pre", "post"), default=d["norm"],
        help="layer norm before each sublayer (pre, norm_first=True) or after the residual "
             f"add as in the paper (post) (default {d['norm']})")
    add("--warmup", type=int, default=d["warmup"],
        help=f"Noam schedule warmup steps (default {d['warmup']})")
    add("--lr-factor", type=float, default=d["lr_factor"],
        help="Noam schedule factor: lr = factor * d_model^-0.5 * min(step^-0.5, "
             f"step * warmup^-1.5) (default {d['lr_factor']})")
    add("--label-smoothing", type=float, default=d["label_smoothing"],
        help=f"label smoothing of the loss (default {d['label_smoothing']})")
    add("--log-every", type=int, default=d["log_every"],
        help=f"print a log line every N steps (default {d['log_every']})")
    add("--seed", type=int, default=d["seed"], help=f"random seed (default {d['seed']})")
    add("--out", default=d["out"], help=f"run folder (default {d['out']})")
    add("--resume", metavar="CHECKPOINT",
        help="continue training from this checkpoint (its model settings are used)")
    add("--checkpoint-every", type=int, default=0, metavar="N",
        help="also save the checkpoint every N steps, so a killed run resumes from there "
             "(default 0: only at the end)")
    add("--no-progress", action="store_true", help="no progress bar (log lines only)")
    add("--distributed", action="store_true",
        help="data-parallel training in a job started with mpirun -n N (MPI between CPU "
             "processes; NCCL with --device cuda, one GPU per process); --batch-size is the "
             "global batch, split evenly over the processes")


MODEL_KEYS = ("d_model", "nhead", "layers", "d_ff", "dropout", "norm")
# What a resumed run takes from its checkpoint rather than from the flags.
RESUMED_KEYS = MODEL_KEYS + ("seed", "batch_size", "warmup", "lr_factor", "label_smoothing")


def check_common_arguments(args):
    check_positive(args, "steps", "batch_size", "d_model", "nhead", "layers", "d_ff", "warmup",
                   "lr_factor", "log_every")
    if not 0.0 <= args.dropout < 1.0 or not 0.0 <= args.label_smoothing < 1.0:
        raise ExampleError(f"--dropout and --label-smoothing must be in [0, 1), got "
                           f"{args.dropout} and {args.label_smoothing}")


def run_config(args, defaults):
    """The run's settings: from the flags, and for a resumed run from its checkpoint."""
    config = {k: getattr(args, k) for k in defaults if k not in ("steps", "out", "log_every")}
    if args.resume:
        saved = read_checkpoint_config(args.resume)
        config.update({k: saved[k] for k in RESUMED_KEYS if k in saved})
    return config


def check_positive(args, *names):
    """One clear error for a flag that must be a positive number."""
    for name in names:
        value = getattr(args, name)
        if value is None or value <= 0:
            raise ExampleError(f"--{name.replace('_', '-')} must be > 0, got {value}")


def resolve_device(name):
    """'cpu', 'cuda' or 'cuda:N' -> the device string, after checking that it is usable.

    Errors are ExampleError with one line that says what to do.
    """
    try:
        device = mg.parse_device(name)
    except DeviceError:
        raise ExampleError(f"unknown device {name!r}: use cpu, cuda or cuda:N") from None
    if device == "cpu":
        return device
    try:
        import cupy  # noqa: F401
    except ImportError:
        raise ExampleError(f"--device {name} needs CuPy, which is not installed: "
                           "pip install -e \".[gpu]\" (or the cupy-cudaXXx wheel that matches "
                           "your CUDA), or use --device cpu") from None
    except Exception as e:           # a broken CUDA install fails at import
        raise ExampleError(f"--device {name}: CuPy failed to load ({type(e).__name__}: "
                           f"{str(e).splitlines()[0] if str(e) else ''}); use --device cpu") \
            from None
    if not mg.cuda_is_available():
        raise ExampleError(f"--device {name}: CuPy is installed but sees no GPU "
                           "(no NVIDIA driver or device); use --device cpu")
    index = int(device.split(":")[1])
    count = cupy.cuda.runtime.getDeviceCount()
    if index >= count:
        raise ExampleError(f"--device {name}: there are only {count} GPU(s) (cuda:0 to "
                           f"cuda:{count - 1})")
    return device


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


def check_resume_path(path):
    """A --resume path that cannot be read gives one clear line, before any work."""
    if path is None:
        return None
    if not os.path.exists(path):
        raise ExampleError(f"--resume: no such file: {path}")
    if os.path.isdir(path):
        raise ExampleError(f"--resume: {path} is a folder; give the checkpoint file "
                           "(e.g. runs/copy_task/checkpoint.safetensors)")
    if not os.access(path, os.R_OK):
        raise ExampleError(f"--resume: {path} is not readable (permission denied)")
    return path


# ------------------------------------------------------------------ run folder
class Run:
    """The folder that holds one run's pictures, checkpoint and results (made by
    rank 0 only in a distributed job: the other ranks write nothing)."""

    def __init__(self, folder):
        self.folder = folder
        if not dist.is_main_process():
            return
        try:
            os.makedirs(folder, exist_ok=True)
        except OSError as e:
            raise ExampleError(f"--out: cannot create the run folder {folder}: "
                               f"{e.strerror}") from None

    def path(self, name):
        return os.path.join(self.folder, name)

    @property
    def checkpoint(self):
        return self.path("checkpoint.safetensors")

    def write_results(self, results):
        """results.json: the measured numbers of the run, for people and for tests."""
        with open(self.path("results.json"), "w") as f:
            json.dump(results, f, indent=2)
            f.write("\n")


def data_rng(seed, stream, index=0):
    """An independent random generator per (seed, stream, index).

    Training draws batch `step` from stream 0 with index `step`, so a resumed run
    sees exactly the batches the uninterrupted run would have seen; evaluation
    draws from other streams, which training never touches.
    """
    return np.random.default_rng([seed, stream, index])


# ------------------------------------------------------------------ batches
def pad_sequences(sequences, pad=PAD, length=None):
    """A list of token-id lists -> (B, L) int64 array, padded on the right with `pad`."""
    length = length or max(len(s) for s in sequences)
    out = np.full((len(sequences), length), pad, dtype=np.int64)
    for i, s in enumerate(sequences):
        out[i, :len(s)] = s
    return out


class Batch:
    """One teacher-forcing batch on the device.

    tgt (B, T) starts with the start symbol. The decoder reads tgt[:, :-1] and must
    predict tgt[:, 1:] (the same sequence shifted by one). Masks are not built here:
    the model derives padding masks from its pad_idx, and the decoder adds its own
    causal mask.
    """

    def __init__(self, src, tgt, device="cpu", pad=PAD):
        src, tgt = np.asarray(src, dtype=np.int64), np.asarray(tgt, dtype=np.int64)
        self.src_ids, self.tgt_ids, self.device, self.pad = src, tgt, device, pad
        self.src = Tensor(src, device=device)
        self.tgt_in = Tensor(tgt[:, :-1], device=device)
        self.tgt_out = Tensor(tgt[:, 1:], device=device)
        self.n_tokens = int((tgt[:, 1:] != pad).sum())     # tokens the loss is taken over

    def shard(self, rank=None, world_size=None):
        """This rank's equal, contiguous share of the batch (data parallelism)."""
        src, tgt = dist.shard_batch(self.src_ids, self.tgt_ids, rank=rank, world_size=world_size)
        return Batch(src, tgt, device=self.device, pad=self.pad)


# ------------------------------------------------------------------ training
class History:
    """The loss and learning rate of every training step; saved with the checkpoint,
    so a resumed run extends the same curve. `resumed_at` lists the steps where
    a run started again from a checkpoint."""

    def __init__(self, losses=(), lrs=(), resumed_at=()):
        self.losses = list(losses)
        self.lrs = list(lrs)
        self.resumed_at = list(resumed_at)
        # Target tokens per second of the last call to train(), all ranks together;
        # it describes this run's machine, so it is not saved with the checkpoint.
        self.tokens_per_second = None

    def __len__(self):
        return len(self.losses)

    def append(self, loss, lr):
        self.losses.append(float(loss))
        self.lrs.append(float(lr))

    def to_json(self):
        return {"losses": self.losses, "lrs": self.lrs, "resumed_at": self.resumed_at}

    @classmethod
    def from_json(cls, d):
        return cls(d.get("losses", ()), d.get("lrs", ()), d.get("resumed_at", ()))


def make_training(config, build_model, device, resume=None):
    """The model, the paper's optimizer (Adam, betas 0.9 and 0.98, eps 1e-9) and its Noam
    schedule; restored from the checkpoint `resume` when given.

    In a distributed job every rank loads the same checkpoint, and the model is
    wrapped in DistributedDataParallel, which starts every rank from rank 0's
    weights and averages the gradients.

    Returns (model, optimizer, scheduler, start step, History).
    """
    world = dist.get_world_size()
    if config["batch_size"] % world:
        raise ExampleError(f"--batch-size {config['batch_size']} (the global batch) does not "
                           f"split evenly over {world} processes; use a multiple of {world}")
    # seed + rank: rank 0 (or the single process) builds the weights every rank starts
    # from, and each rank draws dropout masks of its own.
    dist.seed_per_rank(config["seed"])
    model = build_model(config).to(device)
    optimizer = mg.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    scheduler = mg.optim.NoamLR(optimizer, d_model=config["d_model"],
                                warmup_steps=config["warmup"], factor=config["lr_factor"])
    history, start = History(), 0
    if resume:
        start, history = load_checkpoint(resume, model, optimizer, scheduler)
        history.resumed_at.append(start)
        if world > 1:     # the checkpoint holds rank 0's generator: one stream per rank again
            dist.seed_per_rank(config["seed"] + world * start)
        dist.print_main(f"resumed from {resume} at step {start}")
    if dist.is_initialized():
        model = dist.DistributedDataParallel(model)
    return model, optimizer, scheduler, start, history


def loss_fn(model, batch, label_smoothing):
    """Cross-entropy of the next-token logits, padding ignored, labels smoothed."""
    logits = model(batch.src, batch.tgt_in)
    return mg.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch.tgt_out.reshape(-1),
                            ignore_index=PAD, label_smoothing=label_smoothing)


def _progress_bar(total, initial, enabled):
    """A tqdm bar when asked for and stderr is a terminal (tqdm's own test), else None."""
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    bar = tqdm(total=total, initial=initial, unit="step", desc="train", dynamic_ncols=True,
               disable=None, leave=True)
    return None if bar.disable else bar


def _print(bar, line):
    """A log line, on rank 0 only (the others train silently)."""
    if not dist.is_main_process():
        return
    if bar is not None:
        bar.write(line)
    else:
        print(line, flush=True)


def format_log_line(step, steps, loss, lr, grad_norm, ms_per_step, tokens_per_s):
    """A nanoGPT-style line: step, loss, learning rate, gradient norm, speed."""
    width = len(str(steps))
    return (f"step {step:>{width}}/{steps} | loss {loss:.4f} | lr {lr:.2e} | "
            f"grad norm {grad_norm:.3f} | {ms_per_step:6.1f} ms/step | "
            f"{tokens_per_s:,.0f} tok/s")


def train(model, optimizer, scheduler, next_batch, steps, start_step=0, history=None,
          label_smoothing=0.1, clip=1.0, log_every=50, progress=True, after_step=None):
    """Train from `start_step` up to `steps`; return the History (extended in place).

    next_batch(step) -> Batch for step number `step` (1-based). Each step: forward,
    loss, backward, gradient clipping to norm `clip`, optimizer step, schedule step.
    Shows a progress bar (loss, lr, tokens/s) and prints a log line every
    `log_every` steps and at the last step. Tokens are target tokens, the ones
    the loss is taken over (as the Annotated Transformer counts them).
    after_step(step, history), when given, runs after every step (e.g. to save a checkpoint).

    With several processes each trains on its shard of the step's batch; the
    recorded loss is the per-token loss of the whole batch and tokens/s counts
    the tokens of every rank (one small all-reduce per step, which also makes
    each step's time the slowest rank's).
    """
    history = history if history is not None else History()
    if start_step >= steps:
        dist.print_main(f"the run is at step {start_step} and --steps is {steps}: nothing to "
                        "train (raise --steps to train further)")
        return history
    world = dist.get_world_size()
    model.train()
    bar = _progress_bar(steps, start_step, progress and dist.is_main_process())
    window_time, window_tokens, window_steps = 0.0, 0, 0
    run_time, run_tokens = 0.0, 0
    try:
        for step in range(start_step + 1, steps + 1):
            t0 = time.perf_counter()
            batch = next_batch(step)
            if world > 1:
                batch = batch.shard()
            lr = optimizer.param_groups[0]["lr"]
            loss = loss_fn(model, batch, label_smoothing)
            optimizer.zero_grad()
            loss.backward()
            grad_norm = float(mg.optim.clip_grad_norm_(model.parameters(), clip))
            optimizer.step()
            scheduler.step()
            loss_value = loss.item()            # waits for the device: the step is done
            n_tokens = batch.n_tokens
            if world > 1:                       # the whole batch's per-token loss, all tokens
                total = dist.reduce_metrics({"loss": loss_value * n_tokens, "tokens": n_tokens})
                loss_value, n_tokens = total["loss"] / total["tokens"], int(total["tokens"])
            dt = time.perf_counter() - t0
            if not math.isfinite(loss_value):
                raise ExampleError(f"training diverged at step {step}: the loss is {loss_value}; "
                                   "try a smaller --lr-factor or a longer --warmup")
            history.append(loss_value, lr)
            window_time += dt
            window_tokens += n_tokens
            window_steps += 1
            run_time += dt
            run_tokens += n_tokens
            if bar is not None:
                bar.update(1)
                bar.set_postfix({"loss": f"{loss_value:.4f}", "lr": f"{lr:.2e}",
                                 "tok/s": f"{n_tokens / dt:,.0f}"}, refresh=False)
            if step % log_every == 0 or step == steps:
                _print(bar, format_log_line(step, steps, loss_value, lr, grad_norm,
                                            1000 * window_time / window_steps,
                                            window_tokens / window_time))
                window_time, window_tokens, window_steps = 0.0, 0, 0
            if after_step is not None:
                after_step(step, history)
    finally:
        if bar is not None:
            bar.close()
    history.tokens_per_second = run_tokens / run_time
    dist.print_main(format_throughput(steps - start_step, run_time, history.tokens_per_second,
                                      world))
    return history


def format_throughput(steps, seconds, tokens_per_second, world_size=1):
    """The run's speed: target tokens per second of all processes together."""
    line = (f"throughput: {tokens_per_second:,.0f} tok/s over {steps} steps "
            f"({1000 * seconds / steps:.1f} ms/step)")
    if world_size > 1:
        line += (f", global over {world_size} processes "
                 f"({tokens_per_second / world_size:,.0f} tok/s per process)")
    return line


# ------------------------------------------------------------------ evaluation
def sequence_accuracy(predicted, target, pad=PAD):
    """(exact-match rate, token accuracy) of predicted against target ids, both (B, L).

    A sequence matches exactly when every position agrees, padding included (a
    prediction that runs on past the target's end is wrong). Token accuracy counts
    the target's non-padding positions that the prediction got right.
    """
    predicted, target = np.asarray(predicted), np.asarray(target)
    width = max(predicted.shape[1], target.shape[1])
    p = np.full((len(predicted), width), pad, dtype=np.int64)
    t = np.full((len(target), width), pad, dtype=np.int64)
    p[:, :predicted.shape[1]] = predicted
    t[:, :target.shape[1]] = target
    same = p == t
    real = t != pad
    return float(same.all(axis=1).mean()), float(same[real].mean())


@contextlib.contextmanager
def capture_attention(attention):
    """Record the per-head weights of a MultiheadAttention while the block runs.

    Yields a list that receives one (B, heads, T, S) NumPy array per call. The
    module's forward is wrapped for the duration (asking for need_weights=True,
    average_attn_weights=False) and restored afterwards.
    """
    records = []
    forward = attention.forward

    def recording_forward(*args, **kwargs):
        kwargs.update(need_weights=True, average_attn_weights=False)
        out, weights = forward(*args, **kwargs)
        records.append(weights.numpy().copy())
        return out, weights

    object.__setattr__(attention, "forward", recording_forward)
    try:
        yield records
    finally:
        object.__delattr__(attention, "forward")


def cross_attention(model, src, tgt, layer=-1):
    """Per-head cross-attention weights (heads, T, S) of decoder layer `layer` for one
    example: src (S,) ids, tgt (T+1,) ids starting with the start symbol (e.g. the
    model's own greedy output). Row t says where the decoder looked in the source
    while predicting tgt[t + 1]."""
    device = next(iter(model.parameters())).device
    block = model.transformer.decoder.layers[layer].multihead_attn
    was_training = model.training
    model.eval()
    try:
        with mg.no_grad(), capture_attention(block) as records:
            model(Tensor(np.asarray(src)[None], device=device),
                  Tensor(np.asarray(tgt)[None, :-1], device=device))
    finally:
        model.train(was_training)
    return records[-1][0]


# ------------------------------------------------------------------ pictures
def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed: figures go to files)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def moving_average(values, window):
    """Trailing mean over `window` values (shorter at the start)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return values
    c = np.cumsum(np.concatenate([[0.0], values]))
    idx = np.arange(1, len(values) + 1)
    lo = np.maximum(idx - window, 0)
    return (c[idx] - c[lo]) / (idx - lo)


def label_smoothing_floor(vocab_size, label_smoothing):
    """The lowest loss label smoothing allows: the entropy of the smoothed target.

    The target puts 1 - eps + eps/V on the right token and eps/V on each other
    one; a perfect model predicts exactly that and still pays its entropy.
    """
    eps, v = float(label_smoothing), int(vocab_size)
    if eps <= 0:
        return 0.0
    right, other = 1.0 - eps + eps / v, eps / v
    return -(right * math.log(right) + (v - 1) * other * math.log(other))


def plot_loss_curve(history, path, title="Training loss", floor=None):
    """Loss per step (light), its moving average (dark) and the learning rate, in one PNG.

    Dashed vertical lines mark where the run was resumed from a checkpoint;
    `floor` (e.g. label_smoothing_floor(...)) is drawn as a dotted line.
    """
    plt = pyplot()
    steps = np.arange(1, len(history) + 1)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, history.losses, color="tab:blue", alpha=0.25, lw=0.8, label="loss per step")
    window = max(1, len(history) // 50)
    ax.plot(steps, moving_average(history.losses, window), color="tab:blue", lw=1.8,
            label=f"moving average ({window} steps)")
    if floor:
        ax.axhline(floor, color="black", ls=":", lw=1,
                   label=f"lowest possible with label smoothing ({floor:.3f})")
    for i, s in enumerate(history.resumed_at):
        ax.axvline(s, color="gray", ls="--", lw=1, label="resumed" if i == 0 else None)
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    lr_ax = ax.twinx()
    lr_ax.plot(steps, history.lrs, color="tab:orange", lw=1.2, label="learning rate")
    lr_ax.set_ylabel("learning rate", color="tab:orange")
    lr_ax.tick_params(axis="y", colors="tab:orange")
    lines = ax.get_legend_handles_labels()
    lr_lines = lr_ax.get_legend_handles_labels()
    ax.legend(lines[0] + lr_lines[0], lines[1] + lr_lines[1], loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_attention_heads(weights, src_labels, tgt_labels, path, title="Attention"):
    """One heat map per head: rows are output positions, columns source positions.

    weights: (heads, T, S) array of attention probabilities (each row sums to 1).
    Labels name the tokens along each axis. Long sources get two panels per row.
    """
    plt = pyplot()
    weights = np.asarray(weights)
    heads, t, s = weights.shape
    cols = min(heads, 4 if s <= 12 else 2)
    rows = math.ceil(heads / cols)
    cell = 0.3
    w, h = max(2.5, cell * s + 1.0), max(2.5, cell * t + 1.0)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * w + 0.8, rows * h + 0.7),
                             squeeze=False, constrained_layout=True)
    image = None
    for i, ax in enumerate(axes.flat):
        if i >= heads:
            ax.axis("off")
            continue
        image = ax.imshow(weights[i], cmap="viridis", vmin=0.0, vmax=1.0, aspect="equal")
        ax.set_title(f"head {i}", fontsize=9)
        ax.set_xticks(range(s))
        ax.set_xticklabels(src_labels, fontsize=7, rotation=90 if s <= 12 else 0)
        ax.set_yticks(range(t))
        ax.set_yticklabels(tgt_labels, fontsize=7)
        if i % cols == 0:
            ax.set_ylabel("output token")
        if i // cols == rows - 1 or i + cols >= heads:
            ax.set_xlabel("source token")
    fig.suptitle(title, fontsize=10)
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="attention weight")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def render_block_pictures(folder, blocks=("attention", "ffn"), fmt="svg", suffix="",
                          **block_args):
    """Draw Transformer blocks with minigrad.graph.render_block into `folder`, as
    BLOCK{suffix}.{fmt}; `block_args` go to render_block (d_model, nhead, backward...).

    Returns [(picture name, path written, note or None)]. Without Graphviz's `dot`
    program the DOT text is written instead and the note says how to get pictures;
    a missing `graphviz` Python package is a note too: pictures never stop a run.
    """
    try:
        from minigrad.graph import GraphvizNotFoundError, render_block
    except ImportError as e:
        return [(b, None, f"graph pictures skipped: {e}") for b in blocks]
    written = []
    for block in blocks:
        name = block + suffix
        path = os.path.join(folder, f"{name}.{fmt}")
        try:
            written.append((name, render_block(block, path=path, **block_args), None))
        except GraphvizNotFoundError:
            dot = os.path.splitext(path)[0] + ".dot"
            written.append((name, dot, "Graphviz's `dot` program is missing, so the graph was "
                                        "written as DOT text; install Graphviz (apt-get install "
                                        "graphviz / brew install graphviz) for "
                                        f"{fmt.upper()}"))
        except ImportError as e:
            written.append((name, None, f"graph pictures need the graphviz package ({e}): "
                                         "pip install graphviz"))
    return written


# ------------------------------------------------------------------ checkpoints
def save_checkpoint(path, model, optimizer, scheduler, history, config):
    """Model, optimizer, schedule, step, loss history and settings in one
    safetensors file, written atomically (minigrad.io.Checkpoint).

    In a distributed job rank 0 writes it (the replicas are identical) and every
    rank waits until it is complete."""
    checkpoint = mg.io.Checkpoint(unwrap(model), optimizer, scheduler)
    dist.save_on_main(checkpoint.save, path, step=len(history),
                      extra={"config": config, "history": history.to_json()})


def train_and_checkpoint(run, model, optimizer, scheduler, config, next_batch, args, start,
                         history):
    """Train from `start` to `args.steps` with the script's flags (logging, progress,
    periodic checkpoints), then write the final checkpoint. Returns the training seconds."""
    t_train = time.perf_counter()
    train(model, optimizer, scheduler, next_batch, args.steps, start_step=start,
          history=history, label_smoothing=config["label_smoothing"],
          log_every=args.log_every, progress=not args.no_progress,
          after_step=periodic_checkpoint(run, model, optimizer, scheduler, config,
                                         args.checkpoint_every))
    train_seconds = time.perf_counter() - t_train
    save_checkpoint(run.checkpoint, model, optimizer, scheduler, history, config)
    return train_seconds


def periodic_checkpoint(run, model, optimizer, scheduler, config, every):
    """An after_step callback for `train` that saves the checkpoint every `every` steps
    (None when every <= 0)."""
    if every <= 0:
        return None

    def save(step, history):
        if step % every == 0:
            save_checkpoint(run.checkpoint, model, optimizer, scheduler, history, config)
    return save


def read_checkpoint_config(path):
    """The settings a checkpoint was trained with (to rebuild its model before loading)."""
    check_resume_path(path)
    try:
        meta = mg.io.load_metadata(path)
        extra = json.loads(meta["extra"])
        return extra["config"]
    except MinigradError as e:
        raise ExampleError(f"--resume {path}: {e}") from None
    except (KeyError, TypeError, ValueError):
        raise ExampleError(f"--resume {path}: not a checkpoint written by these examples "
                           "(no settings in its metadata)") from None


def load_checkpoint(path, model, optimizer, scheduler):
    """Restore a run; returns (step, History). Mismatches are one-line errors."""
    try:
        info = mg.io.Checkpoint(model, optimizer, scheduler).load(path)
    except MinigradError as e:
        raise ExampleError(f"--resume {path}: {e}") from None
    history = History.from_json(info["extra"]["history"])
    step = int(info["step"])
    if len(history) != step:
        raise ExampleError(f"--resume {path}: the checkpoint is at step {step} but holds "
                           f"{len(history)} loss values")
    return step, history


def finish_run(run, files, results, started, train_seconds, start, history, device, config):
    """Write results.json (the task's numbers plus what every run reports) and print the
    list of files written and the wall time."""
    wall = time.perf_counter() - started
    results = dict(results, steps=len(history), trained_steps_this_run=len(history) - start,
                   train_seconds=train_seconds, wall_seconds=wall, device=device,
                   world_size=dist.get_world_size(),
                   tokens_per_second=history.tokens_per_second, config=config)
    run.write_results(results)
    print_summary(files + [run.path("results.json")], wall, train_seconds)


def print_summary(files, wall_seconds, train_seconds):
    print("\nwritten:\n" + "\n".join(f"  {f}" for f in files))
    print(f"wall time {format_seconds(wall_seconds)} "
          f"(training {format_seconds(train_seconds)})")


def format_seconds(seconds):
    m, s = divmod(seconds, 60)
    return f"{int(m)} min {s:.1f} s" if m else f"{s:.1f} s"

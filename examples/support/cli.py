"""The command line every training example shares: flags, their checks, the device,
and turning a user's mistake into one line on stderr (run_main)."""
import argparse
import math
import os
import sys

import minigrad as mg
import minigrad.distributed as dist
from minigrad.errors import DeviceError, MinigradError

BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


class ExampleError(Exception):
    """A problem the user can fix (a bad flag, a missing file): one line, no traceback."""


# What to undo when main stops with an error (undo_on_error), newest first.
_UNDO = []


def undo_on_error(action):
    """Have run_main call `action()` if this main stops with an error (e.g. remove the run
    folder it created while that is still empty)."""
    _UNDO.append(action)


def run_main(main, argv=None):
    """Call main(argv) and turn user errors into one line on stderr and exit status 1.

    Library errors (MinigradError, e.g. minigrad.training.DivergenceError) are
    user errors too; anything else is a bug and keeps its traceback. In a
    distributed job of several processes the error also ends the other ranks
    (MPI_Abort), which would otherwise wait for this one in their next collective.
    Whatever the error, what main registered with undo_on_error is undone first.
    """
    prog = os.path.basename(sys.argv[0]) or "example"
    try:
        return _call_undoing_on_error(main, argv)
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


def _call_undoing_on_error(main, argv):
    _UNDO.clear()
    try:
        return main(argv) or 0
    except BaseException:
        while _UNDO:
            _UNDO.pop()()
        raise
    finally:
        _UNDO.clear()


def one_blas_thread_unless_chosen():
    """One BLAS thread for the examples' small matrices, unless the environment chose.

    A few hundred rows by 64-256 columns gain nothing from a second thread, and on a
    machine shared with other jobs a waiting BLAS thread can slow every matmul
    several times over. Set at run time (minigrad.set_num_threads), not through
    environment variables at import, so the order of imports does not matter.
    """
    if not any(os.environ.get(v) for v in BLAS_THREAD_VARIABLES):
        mg.set_num_threads(1)


def add_common_arguments(parser, defaults, batch_size_help="sequences per step"):
    """The flags every training example has; `defaults` gives each script's values
    (keys: steps, batch_size, d_model, nhead, layers, d_ff, dropout, norm, warmup,
    lr_factor, label_smoothing, log_every, checkpoint_every, seed, out), and
    `batch_size_help` says what --batch-size counts (e.g. "tokens per batch")."""
    d = defaults
    add = parser.add_argument
    add_run_arguments(parser, defaults)
    add("--steps", type=int, default=d["steps"],
        help=f"total training steps, counted from the start of the run (default {d['steps']})")
    add("--batch-size", type=int, default=d["batch_size"],
        help=f"{batch_size_help} (default {d['batch_size']})")
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
    add("--distributed", action="store_true",
        help="data-parallel training in a job started with mpirun -n N (MPI between CPU "
             "processes; NCCL with --device cuda, one GPU per process); --batch-size is the "
             "global batch, split evenly over the processes")


def add_run_arguments(parser, defaults):
    """The flags of any training run (the seq2seq examples' add_common_arguments and
    shakespeare.py): --device, --log-every, --seed, --out, --resume, --overwrite,
    --checkpoint-every, --no-progress, --amp, --amp-dtype; `defaults` gives log_every,
    seed, out and checkpoint_every."""
    d = defaults
    add = parser.add_argument
    add("--device", default="cpu", help="cpu (default), cuda or cuda:N (needs CuPy and a GPU)")
    add("--log-every", type=int, default=d["log_every"],
        help=f"print a log line every N steps (default {d['log_every']})")
    add("--seed", type=int, default=d["seed"], help=f"random seed (default {d['seed']})")
    add("--out", default=d["out"], help=f"run folder (default {d['out']})")
    add("--resume", metavar="CHECKPOINT",
        help="continue training from this checkpoint (its model settings are used)")
    add("--overwrite", action="store_true",
        help="start a new run even though the run folder holds a checkpoint, replacing it "
             "(without it such a run is refused)")
    add("--checkpoint-every", type=int, default=d["checkpoint_every"], metavar="N",
        help="save the checkpoint every N steps as well as at the end, on Ctrl-C and on "
             f"SIGTERM (default {d['checkpoint_every']}; 0: only at the end and on a signal)")
    add("--no-progress", action="store_true", help="no progress bar (log lines only)")
    add("--amp", action="store_true",
        help="mixed precision (support/mixed_precision.py): matmuls and linear layers in "
             "--amp-dtype under minigrad.autocast, softmax, layer norm and the loss in float32, "
             "float32 master weights, float16 loss scaling by a GradScaler whose state is saved "
             "in the checkpoint (on the CPU it is slower than float32: it pays on a GPU)")
    add("--amp-dtype", choices=("float16", "bfloat16"), default="float16",
        help="the low precision of --amp (default float16; bfloat16 needs ml_dtypes on the CPU "
             "and no loss scaling)")


def check_common_arguments(args):
    check_run_arguments(args)
    check_positive(args, "steps", "batch_size", "d_model", "nhead", "layers", "d_ff", "warmup",
                   "lr_factor", "log_every")
    if not 0.0 <= args.dropout < 1.0 or not 0.0 <= args.label_smoothing < 1.0:
        raise ExampleError(f"--dropout and --label-smoothing must be in [0, 1), got "
                           f"{args.dropout} and {args.label_smoothing}")


def check_run_arguments(args):
    """The checks of add_run_arguments' flags, and of every float flag (check_finite)."""
    check_finite(args)
    if args.checkpoint_every < 0:
        raise ExampleError(f"--checkpoint-every must be >= 0, got {args.checkpoint_every}")
    if args.seed < 0:
        raise ExampleError(f"--seed must be an integer >= 0, got {args.seed}")
    if args.resume and args.overwrite:
        raise ExampleError("--resume and --overwrite contradict each other: --resume goes on "
                           "from the checkpoint, --overwrite starts over")


def check_finite(args):
    """One clear error for any float flag given nan or inf (argparse's float() takes them,
    and every comparison with nan is False, so range checks let it through)."""
    for name, value in vars(args).items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ExampleError(f"--{name.replace('_', '-')} must be a finite number, got "
                               f"{value}")


def parse_args(parser, argv):
    """parser.parse_args(argv), with `given` added: the names of the options given on the
    command line rather than left at their defaults (a resumed run names those its
    checkpoint's settings replace)."""
    args = parser.parse_args(argv)
    unset = object()     # argparse sets a default only where the namespace has no value
    marked = parser.parse_args(argv, argparse.Namespace(**dict.fromkeys(vars(args), unset)))
    args.given = {name for name, value in vars(marked).items() if value is not unset}
    return args


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

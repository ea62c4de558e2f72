"""The run folder and its checkpoint: the loss history, building (or resuming) the
model, optimizer and schedule, and saving and loading them.

A checkpoint is one safetensors file written atomically by minigrad.io.Checkpoint:
model, optimizer, schedule, step and random generator state, plus the run's
settings, loss history and the script that wrote it in its metadata. A run folder's
checkpoint is never replaced by accident (minigrad.training.check_run_folder), the
folder is checked to be writable before any work, and a run that fails before
writing anything leaves no empty folder behind.
"""
import json
import os

import minigrad as mg
import minigrad.distributed as dist
from minigrad.errors import MinigradError
from minigrad.training import RunFolderError, check_run_folder, make_run_folder

from .cli import ExampleError, undo_on_error
from .parallel import unwrap

MODEL_KEYS = ("d_model", "nhead", "layers", "d_ff", "dropout", "norm")
# What a resumed run takes from its checkpoint rather than from the flags.
RESUMED_KEYS = MODEL_KEYS + ("seed", "batch_size", "warmup", "lr_factor", "label_smoothing")
# Flags that steer this invocation only; they are not settings of the run.
NOT_SAVED = ("steps", "out", "log_every", "checkpoint_every")
# The metadata entry naming the script that wrote a checkpoint ("examples/copy_task.py").
SCRIPT_KEY = "script"


class Run:
    """The folder that holds one run's pictures, checkpoint and results (made by
    rank 0 only in a distributed job: the other ranks write nothing), checked to be
    writable. `script` (e.g. "examples/copy_task.py") is recorded in its checkpoints.

    Folders it had to create are removed again if the script stops with an error while
    they are still empty (cli.run_main)."""

    def __init__(self, folder, script=None):
        self.folder, self.script = folder, script
        if not dist.is_main_process():
            return
        created = missing_folders(folder)
        try:
            make_run_folder(folder)
        except RunFolderError as e:
            raise ExampleError(f"--out: {e}") from None
        if created:
            undo_on_error(lambda: remove_empty_folders(created))

    def path(self, name):
        return os.path.join(self.folder, name)

    @property
    def checkpoint(self):
        return self.path("checkpoint.safetensors")

    def save(self, model, optimizer, scheduler, history, config, extra=None):
        """save_checkpoint into this run's checkpoint, naming the script that wrote it."""
        extra = dict(extra or {}, **({SCRIPT_KEY: self.script} if self.script else {}))
        save_checkpoint(self.checkpoint, model, optimizer, scheduler, history, config,
                        extra=extra)

    def write_results(self, results):
        """results.json: the measured numbers of the run, for people and for tests."""
        with open(self.path("results.json"), "w") as f:
            json.dump(results, f, indent=2)
            f.write("\n")


def open_run(args, script):
    """The run folder of training script `script` (e.g. "examples/copy_task.py"), after
    refusing to replace its checkpoint unless --resume names that checkpoint or
    --overwrite is given; created if needed and checked to be writable."""
    run = os.path.join(args.out, "checkpoint.safetensors")
    check_run_folder(args.out, resume=args.resume, overwrite=args.overwrite, create=False,
                     choices=f"resume it with --resume {run}, choose a new --out, or pass "
                             "--overwrite to start over")
    return Run(args.out, script)


def missing_folders(folder):
    """`folder` and those of its parents that do not exist yet, deepest first."""
    missing, folder = [], os.path.abspath(folder)
    while not os.path.lexists(folder):
        missing.append(folder)
        folder = os.path.dirname(folder)
    return missing


def remove_empty_folders(folders):
    """Remove `folders` (deepest first) as long as they are empty."""
    for folder in folders:
        try:
            os.rmdir(folder)
        except OSError:          # not empty (or gone): leave it and its parents
            return


def run_config(args, defaults, script=None, more_resumed=()):
    """The run's settings: from the flags, and for a resumed run from its checkpoint
    (which must be one of `script`'s): RESUMED_KEYS and `more_resumed` (a script's own,
    e.g. translate.py's pair). Flags given on the command line that the checkpoint's
    settings replace are named in a note."""
    config = {k: getattr(args, k) for k in defaults if k not in NOT_SAVED}
    if args.resume:
        saved = read_checkpoint_config(args.resume, script=script)
        lacking = [k for k in ("d_model", "nhead", "layers", "d_ff") if k not in saved]
        if lacking:
            raise ExampleError(f"--resume {args.resume}: not a checkpoint of "
                               f"{script or 'this script'} (its settings have no "
                               f"{', '.join(lacking)})")
        check_saved_config(args.resume, saved)
        resumed = RESUMED_KEYS + tuple(more_resumed)
        note_replaced_flags(args, saved, resumed)
        config.update({k: saved[k] for k in resumed if k in saved})
    return config


def note_replaced_flags(args, saved, keys):
    """One printed note naming each flag given on the command line (args.given, see
    cli.parse_args) that a resumed run ignores: its value differs from the checkpoint's
    saved setting, and the saved one is used."""
    given = getattr(args, "given", ())
    replaced = [f"--{k.replace('_', '-')} {getattr(args, k)} (saved: {saved[k]})" for k in keys
                if k in given and k in saved and getattr(args, k) != saved[k]]
    if replaced:
        dist.print_main(f"note: --resume {args.resume}: the checkpoint's saved settings are "
                        f"used, not {', '.join(replaced)}")


# What a saved setting may be: (kind, low, high). A file can say anything, and a model
# is built from these before any weight is read: d_ff = 2**40 would try to allocate
# terabytes, d_model = -64 would fail deep inside a layer.
SAVED_SETTINGS = {"d_model": (int, 1, 1 << 16), "nhead": (int, 1, 1 << 12),
                  "layers": (int, 1, 1 << 10), "d_ff": (int, 1, 1 << 20),
                  "dropout": (float, 0.0, 0.999), "norm": (str, None, None),
                  "seed": (int, 0, None), "batch_size": (int, 1, 1 << 24),
                  "warmup": (int, 1, None), "lr_factor": (float, 1e-12, None),
                  "label_smoothing": (float, 0.0, 0.999)}
MAX_SAVED_PARAMETERS = 1 << 31       # 8 GiB of float32 weights: far above any example's


def check_saved_config(path, saved):
    """The settings read from checkpoint `path`, checked (kinds, ranges and the size of the
    model they build) before a model is built from them; an ExampleError otherwise."""
    where = f"--resume {path}: its saved settings"
    try:
        mg.io.check_fields(where, saved, {k: v for k, v in SAVED_SETTINGS.items() if k in saved})
    except MinigradError as e:
        raise ExampleError(str(e)) from None
    if all(k in saved for k in ("d_model", "d_ff", "layers")):
        d, layers = saved["d_model"], saved["layers"]
        estimate = 2 * layers * (4 * d * d + 2 * d * saved["d_ff"])   # attention + FFN
        if estimate > MAX_SAVED_PARAMETERS:
            raise ExampleError(f"{where}: d_model={d}, d_ff={saved['d_ff']}, layers={layers} "
                               f"would build about {estimate:,} parameters (at most "
                               f"{MAX_SAVED_PARAMETERS:,}); the file is damaged or not ours")
    if "norm" in saved and saved["norm"] not in ("pre", "post"):
        raise ExampleError(f"{where}: norm must be 'pre' or 'post', got {saved['norm']!r}")
    return saved


def check_resume_path(path, flag="--resume"):
    """A checkpoint path given with `flag` (--resume, --generate, --checkpoint, ...) that
    cannot be read gives one clear line, before any work."""
    if path is None:
        return None
    if not os.path.exists(path):
        raise ExampleError(f"{flag}: no such file: {path}")
    if os.path.isdir(path):
        raise ExampleError(f"{flag}: {path} is a folder; give the checkpoint file "
                           f"(e.g. {os.path.join(path, 'checkpoint.safetensors')})")
    if not os.access(path, os.R_OK):
        raise ExampleError(f"{flag}: {path} is not readable (permission denied)")
    return path


class History:
    """The loss and learning rate of every training step, and the evaluations made along
    the way (dicts such as {"step": ..., "loss": ...}); saved with the checkpoint, so a
    resumed run extends the same curves. `resumed_at` lists the steps where a run started
    again from a checkpoint; `train_seconds` is the training time of the whole run, for
    a script that keeps it (e.g. one that evaluates every N minutes of training)."""

    def __init__(self, losses=(), lrs=(), resumed_at=(), evaluations=(), train_seconds=0.0):
        self.losses = list(losses)
        self.lrs = list(lrs)
        self.resumed_at = list(resumed_at)
        self.evaluations = [dict(e) for e in evaluations]
        self.train_seconds = float(train_seconds)
        # Target tokens per second of this invocation's training, all ranks together;
        # it describes this run's machine, so it is not saved with the checkpoint.
        self.tokens_per_second = None

    def __len__(self):
        return len(self.losses)

    def append(self, loss, lr):
        self.losses.append(float(loss))
        self.lrs.append(float(lr))

    def to_json(self):
        d = {"losses": self.losses, "lrs": self.lrs, "resumed_at": self.resumed_at}
        # (absent when unused: the copy task's checkpoints stay as they were)
        if self.evaluations:
            d["evaluations"] = self.evaluations
        if self.train_seconds:
            d["train_seconds"] = self.train_seconds
        return d

    @classmethod
    def from_json(cls, d, where="history"):
        """The History saved by to_json, checked first (it is read from a file): a
        CheckpointError naming `where` for anything that is not what to_json writes."""
        if not isinstance(d, dict):
            raise mg.io.CheckpointError(f"{where}: no loss history (got {type(d).__name__})")
        check = mg.io.check_numbers
        losses = check(where, "losses", d.get("losses", []))
        lrs = check(where, "lrs", d.get("lrs", []), length=len(losses))
        resumed_at = check(where, "resumed_at", d.get("resumed_at", []), int, 0, len(losses))
        evaluations = d.get("evaluations", [])
        if not isinstance(evaluations, list) or not all(isinstance(e, dict) for e in evaluations):
            raise mg.io.CheckpointError(f"{where}: evaluations must be a list of records")
        seconds = mg.io.check_value(where, "train_seconds", d.get("train_seconds", 0.0), float,
                                    0.0)
        return cls(losses, lrs, resumed_at, evaluations, seconds)


def paper_optimizer(model, config):
    """The paper's optimizer (Adam, betas 0.9 and 0.98, eps 1e-9) and its Noam schedule
    (section 5.3): (optimizer, scheduler)."""
    optimizer = mg.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    scheduler = mg.optim.NoamLR(optimizer, d_model=config["d_model"],
                                warmup_steps=config["warmup"], factor=config["lr_factor"])
    return optimizer, scheduler


def make_training(config, build_model, device, resume=None, build_optimizer=paper_optimizer):
    """The model (build_model(config)), its optimizer and schedule (build_optimizer(model,
    config): by default the paper's, paper_optimizer); restored from the checkpoint
    `resume` when given.

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
    optimizer, scheduler = build_optimizer(model, config)
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


def save_checkpoint(path, model, optimizer, scheduler, history, config, extra=None):
    """Model, optimizer, schedule, step, loss history and settings in one
    safetensors file, written atomically (minigrad.io.Checkpoint). `extra`: more
    JSON-serialisable entries of the run for the metadata (read back with
    read_checkpoint_extra), e.g. its tokenizer.

    In a distributed job rank 0 writes it (the replicas are identical) and every
    rank waits until it is complete."""
    checkpoint = mg.io.Checkpoint(unwrap(model), optimizer, scheduler)
    dist.save_on_main(checkpoint.save, path, step=len(history),
                      extra={"config": config, "history": history.to_json(), **(extra or {})})


def read_checkpoint_extra(path, flag="--resume", needs=("config",), script=None):
    """The metadata a checkpoint of these examples carries (settings, history and what
    save_checkpoint's `extra` added), checked to hold the keys `needs` before use and,
    with `script` (e.g. "examples/shakespeare.py"), to have been written by that script
    when it names its writer (checkpoints written before they did are let through)."""
    check_resume_path(path, flag)
    wanted = f"not a checkpoint of {script or 'these examples'}"
    try:
        extra = json.loads(mg.io.load_metadata(path)["extra"])
        written_by = extra.get(SCRIPT_KEY)
    except MinigradError as e:
        raise ExampleError(f"{flag} {path}: {e}") from None
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ExampleError(f"{flag} {path}: {wanted} (no {' or '.join(needs)} in its "
                           "metadata)") from None
    if script and written_by and written_by != script:
        raise ExampleError(f"{flag} {path}: {wanted} (it was written by {written_by})")
    if not all(key in extra for key in needs):
        raise ExampleError(f"{flag} {path}: {wanted} (no {' or '.join(needs)} in its "
                           "metadata)")
    return extra


def read_checkpoint_config(path, flag="--resume", script=None):
    """The settings a checkpoint was trained with (to rebuild its model before loading)."""
    return read_checkpoint_extra(path, flag, script=script)["config"]


def load_checkpoint(path, model, optimizer, scheduler):
    """Restore a run; returns (step, History). Mismatches are one-line errors."""
    try:
        info = mg.io.Checkpoint(model, optimizer, scheduler).load(path)
        extra = info["extra"] if isinstance(info["extra"], dict) else {}
        history = History.from_json(extra.get("history"), where="its history")
    except MinigradError as e:
        raise ExampleError(f"--resume {path}: {shortened(str(e))}") from None
    step = int(info["step"])
    if len(history) != step:
        raise ExampleError(f"--resume {path}: the checkpoint is at step {step} but holds "
                           f"{len(history)} loss values")
    return step, history


def shortened(message, limit=400):
    """A checkpoint error of many problems ('... does not fit: a; b; ...', every missing
    key of another model) cut to its first ones, with the count and the likely cause."""
    head, sep, rest = message.partition(" does not fit: ")
    if len(message) <= limit or not sep:
        return message
    problems = rest.split("; ")
    first = "; ".join(p if len(p) <= 150 else p[:150] + " ..." for p in problems[:2])
    return (f"{head}{sep}{first}; ... ({len(problems)} problems in all: a checkpoint of other "
            "settings or of another script?)")


def stopped_message(interrupt, step, path):
    """The line a run prints when a signal stopped it after saving its checkpoint."""
    cause = interrupt.signal_name or "a signal to another process of the job"
    return (f"stopped by {cause} after step {step}: checkpoint saved to {path} "
            f"(go on with --resume {path})")

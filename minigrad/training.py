"""Guards for a training loop: a run never overwrites, loses or hides its work.

Three independent pieces that any training loop can call (the examples in
examples/ use all three; nothing here knows a model, a data set or a flag):

    from minigrad.training import DivergenceMonitor, check_run_folder, graceful_interrupt

    checkpoint = check_run_folder("runs/x", resume=args.resume)   # before any work
    monitor = DivergenceMonitor()
    with graceful_interrupt() as interrupt:          # Ctrl-C / SIGTERM: finish the step
        for step in range(start + 1, steps + 1):
            ...                                      # forward, backward, step
            monitor.check(step, loss.item(), grad_norm)   # DivergenceError when it blows up
            if step % checkpoint_every == 0 or interrupt.requested:
                save(checkpoint)
            if interrupt.requested:
                sys.exit(interrupt.exit_code)        # 130 for SIGINT, 143 for SIGTERM

- `check_run_folder` refuses to start a run that would replace a folder's
  checkpoint unless the run resumes from that checkpoint or overwriting was asked for;
  it then creates the folder and checks that a file can be written in it, so a run
  does not train for hours to fail at its first save (`make_run_folder` does only that).
- `graceful_interrupt` turns SIGINT and SIGTERM into a flag the loop reads
  between steps, so the checkpoint it then saves holds a whole step (a signal
  raised inside `optimizer.step()` would leave half the parameters updated).
  A second signal stops at once.
- `DivergenceMonitor` stops a run whose loss or gradient norm is not finite, whose
  (smoothed) loss climbs far above its best, whose gradient norm explodes, or (when
  told the loss of a guessing model) whose loss sits at chance level while it no
  longer improves: the marks of a learning rate far too high.
"""
import math
import os
import signal
import tempfile
import threading

from .errors import MinigradError

CHECKPOINT_NAME = "checkpoint.safetensors"


class TrainingError(MinigradError, RuntimeError):
    """A training run that cannot start or go on (see the subclasses)."""


class RunFolderError(TrainingError):
    """The run folder holds a checkpoint that this run would overwrite, or it cannot be
    created or written to."""


class DivergenceError(TrainingError):
    """Training diverged. Attributes: step, loss, grad_norm, reason (one phrase)."""

    def __init__(self, message, step, loss, grad_norm, reason):
        super().__init__(message)
        self.step, self.loss, self.grad_norm, self.reason = step, loss, grad_norm, reason


# ------------------------------------------------------------------ run folders
def check_run_folder(folder, resume=None, overwrite=False, name=CHECKPOINT_NAME, choices=None,
                     create=True):
    """The checkpoint path of run folder `folder`, after checking that using it loses nothing.

    A run may write `folder/name` when it does not exist yet, when the run resumes
    from that very file (`resume`, compared with os.path.samefile), or when
    `overwrite` is True. Otherwise raises RunFolderError with one line naming the
    folder, the checkpoint's step (when readable) and the choices; `choices`
    replaces the generic wording of those (e.g. to name a program's flags).

    Then, with `create` (the default), makes the folder (and its parents) if needed and
    checks that a file can be created in it (make_run_folder): a RunFolderError naming
    the folder and the system's reason otherwise. `create=False` only checks (reading
    the existing checkpoint's header), e.g. on the processes of a distributed job that
    write nothing.
    """
    path = os.path.join(os.fspath(folder), name)
    resumes_it = (resume is not None and os.path.exists(resume)
                  and os.path.lexists(path) and os.path.samefile(resume, path))
    if not (overwrite or not os.path.lexists(path) or resumes_it):
        if choices is None:
            choices = ("resume from it, write to another run folder, or ask explicitly to "
                       "overwrite it")
        raise RunFolderError(f"the run folder {folder} already holds a checkpoint"
                             f"{_step_note(path)} that this run would overwrite: {choices}")
    if create:
        make_run_folder(folder)
    return path


def make_run_folder(folder):
    """Create `folder` (and its parents) if needed, then create and remove a probe file in
    it: a RunFolderError naming the folder and the system's reason (read-only file
    system, permission denied, a file in the way, ...) when either fails."""
    folder = os.fspath(folder)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise RunFolderError(f"cannot create the run folder {folder}: "
                             f"{e.strerror or e}") from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=folder)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise RunFolderError(f"the run folder {folder} is not writable: {e.strerror or e} "
                             "(creating a file in it failed); choose another folder or "
                             "fix its permissions") from None


def _step_note(path):
    """' (step N)' for a readable minigrad checkpoint, else ''."""
    from . import io           # lazily: io pulls in safetensors
    try:
        step = io.load_metadata(path).get("step")
        return f" (step {int(step)})" if step is not None else ""
    except (MinigradError, OSError, ValueError, TypeError):
        return ""


# ------------------------------------------------------------------ signals
class graceful_interrupt:
    """Context manager: SIGINT and SIGTERM ask the loop to stop instead of killing it.

    Inside the block the first such signal sets `requested` (and `signal`, its
    number); the loop checks the flag between steps, saves and leaves. A second
    signal stops at once: KeyboardInterrupt for SIGINT, SystemExit(143) for
    SIGTERM. The previous handlers come back when the block ends. Outside the
    main thread (where Python cannot install handlers) it does nothing and
    `requested` stays False.

    `exit_code` is the status a shell reports for a process ended by the signal
    (128 + signal number: 130 for Ctrl-C, 143 for SIGTERM). The counterpart of
    PyTorch Lightning's and Hugging Face Trainer's signal handling, in one class.
    """

    def __init__(self, signals=(signal.SIGINT, signal.SIGTERM)):
        self.signals = tuple(signals)
        self.requested = False
        self.signal = None
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in self.signals:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
        return False

    def _handle(self, signum, frame):
        if self.requested:                         # the second signal: stop now
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(128 + signum)
        self.requested, self.signal = True, signum

    @property
    def signal_name(self):
        return signal.Signals(self.signal).name if self.signal is not None else None

    @property
    def exit_code(self):
        return 128 + self.signal if self.signal is not None else 0


# ------------------------------------------------------------------ divergence
DEFAULT_HINT = "the learning rate is probably too high: lower it or lengthen the warmup"


class DivergenceMonitor:
    """Stops a training run that diverges; call `check(step, loss, grad_norm)` every step.

    Raises DivergenceError (naming the step, the loss and `hint`) when
    - the loss or the gradient norm is NaN or infinite (at once);
    - the loss, smoothed over about `smoothing` steps, has stayed above
      `loss_ratio` times its best value (and at least `min_rise` above it) for
      `patience` steps;
    - the gradient norm, smoothed the same way, has stayed above `grad_ratio`
      times its lowest value for `patience` steps;
    - `chance_loss` is given (the loss of a model that guesses, e.g. log(vocabulary)
      for uniform guesses) and after `stall_steps` steps the smoothed loss is still
      at chance (above 0.9 * chance_loss) and has not improved by 1% for
      `stall_steps` steps: far too large steps leave a model stuck guessing. A
      small learning rate does not trigger it: its loss keeps improving slowly.

    Measured on examples/copy_task.py: healthy runs (seeds, pre- and post-norm)
    never trip them, though their smoothed loss falls from 2.9 to 0.51 and their
    gradient norm moves over three decades (3 to 0.003); a learning rate 100x too
    high is stopped at chance level near step 110, 1,000x at step 45 and 10,000x at
    step 14 by the climbing loss (examples/dates.py: steps 126, 59 and 15). After a resume the monitor learns the run's
    levels again (it keeps no state in the checkpoint).
    """

    def __init__(self, loss_ratio=3.0, min_rise=1.0, grad_ratio=1e4, patience=10,
                 smoothing=10, chance_loss=None, stall_steps=100, hint=DEFAULT_HINT):
        for name, value in (("loss_ratio", loss_ratio), ("grad_ratio", grad_ratio)):
            if not (isinstance(value, (int, float)) and value > 1):
                raise ValueError(f"DivergenceMonitor: {name} must be a number > 1, got {value!r}")
        for name, value in (("patience", patience), ("smoothing", smoothing),
                            ("stall_steps", stall_steps)):
            if not (isinstance(value, int) and value >= 1):
                raise ValueError(f"DivergenceMonitor: {name} must be an int >= 1, got {value!r}")
        if chance_loss is not None and not (math.isfinite(chance_loss) and chance_loss > 0):
            raise ValueError(f"DivergenceMonitor: chance_loss must be > 0, got {chance_loss!r}")
        self.loss_ratio, self.min_rise, self.grad_ratio = loss_ratio, min_rise, grad_ratio
        self.patience, self.alpha = patience, 2.0 / (smoothing + 1)
        self.chance_loss, self.stall_steps, self.hint = chance_loss, stall_steps, hint
        self.loss_ema = self.grad_ema = None
        self.best_loss = self.best_grad = math.inf
        self.seen = 0                  # steps checked by this monitor
        self.loss_high = self.grad_high = 0     # consecutive steps over each limit
        self.improved_at = 0           # self.seen when the loss last fell 1% below `anchor`
        self.anchor = math.inf

    def check(self, step, loss, grad_norm=None):
        """Record one step; raise DivergenceError if training has diverged."""
        loss = float(loss)
        grad = None if grad_norm is None else float(grad_norm)
        if not math.isfinite(loss) or (grad is not None and not math.isfinite(grad)):
            what = "the loss" if not math.isfinite(loss) else "the gradient norm"
            self._fail(step, loss, grad, f"{what} is not finite")
        self.seen += 1
        self.loss_ema = loss if self.loss_ema is None else \
            self.loss_ema + self.alpha * (loss - self.loss_ema)
        if self.loss_ema < 0.99 * self.anchor:        # progress: 1% below the last mark
            self.anchor, self.improved_at = self.loss_ema, self.seen
        self.best_loss = min(self.best_loss, self.loss_ema)
        high = self.loss_ema > max(self.loss_ratio * self.best_loss,
                                   self.best_loss + self.min_rise)
        self.loss_high = self.loss_high + 1 if high else 0
        if self.loss_high >= self.patience:
            self._fail(step, loss, grad, f"the loss (smoothed {self.loss_ema:.4g}) has stayed "
                                         f"far above its best ({self.best_loss:.4g}) for "
                                         f"{self.patience} steps")
        if grad is not None:
            self.grad_ema = grad if self.grad_ema is None else \
                self.grad_ema + self.alpha * (grad - self.grad_ema)
            self.best_grad = min(self.best_grad, self.grad_ema)
            high = self.grad_ema > self.grad_ratio * max(self.best_grad, 1e-12)
            self.grad_high = self.grad_high + 1 if high else 0
            if self.grad_high >= self.patience:
                self._fail(step, loss, grad, f"the gradient norm (smoothed {self.grad_ema:.4g}) "
                                             f"has exploded over {self.grad_ratio:g}x its lowest "
                                             f"({self.best_grad:.4g})")
        if self.chance_loss is not None and self.seen >= self.stall_steps \
                and self.seen - self.improved_at >= self.stall_steps \
                and self.loss_ema > 0.9 * self.chance_loss:
            self._fail(step, loss, grad, f"the loss has stayed at chance level "
                                         f"({self.chance_loss:.4g}, a model that guesses) "
                                         f"without improving for {self.stall_steps} steps")

    def _fail(self, step, loss, grad, reason):
        grad_text = "" if grad is None else f", gradient norm {grad:.4g}"
        raise DivergenceError(f"training diverged at step {step} (loss {loss:.4g}{grad_text}): "
                              f"{reason}; {self.hint}", step, loss, grad, reason)

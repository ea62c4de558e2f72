"""--amp in the training examples: autocast and dynamic loss scaling around one step.

    amp = mixed_precision.MixedPrecision.for_run(args, model)   # a pass-through without --amp
    with amp.autocast():
        loss = criterion(model(src, tgt_in), tgt_out)           # matmuls in float16, loss float32
    amp.backward(loss)                                          # scaler.scale(loss).backward()
    grad_norm, skipped = amp.step(optimizer, model.parameters(), clip)
    ... save_checkpoint(..., extra=amp.checkpoint_extra())      # the scaler's state

float16 (the default --amp-dtype) needs a GradScaler: gradients below 6e-8 would round to
zero, so the loss is scaled up before backward and the gradients down before the step; a
step whose gradients overflowed is skipped and the scale halved (minigrad.amp.GradScaler).
bfloat16 has float32's range and needs no scaling (as in PyTorch's recipes). The scaler's
state goes into the checkpoint's metadata, so a resumed run continues with the same scale
and gives the same numbers as one that never stopped.

On the CPU mixed precision is slower than float32 (NumPy has no half-precision GEMM:
minigrad multiplies in float32 and rounds; it pays on a GPU): it is there to test the
same code path the GPU runs.
"""
import math

import minigrad as mg
from minigrad.amp import GradScaler, GradScalerError

from .checkpoints import read_checkpoint_extra
from .cli import ExampleError

SCALER_KEY = "grad_scaler"      # the scaler's state_dict in the checkpoint's `extra`


class MixedPrecision:
    """autocast + GradScaler for one training run; every method is a pass-through (plain
    float32 training) when `enabled` is False."""

    def __init__(self, enabled, dtype="float16", device="cpu"):
        self.enabled = bool(enabled)
        self.device_type = "cuda" if str(device).startswith("cuda") else "cpu"
        try:
            self.dtype = mg.dtype.as_dtype(dtype)
        except mg.DTypeError as e:               # bfloat16 without ml_dtypes
            raise ExampleError(f"--amp-dtype {dtype}: {e}") from None
        self.scaler = GradScaler(self.device_type,
                                 enabled=self.enabled and self.dtype == mg.float16)

    @classmethod
    def for_run(cls, args, model):
        """From the run's flags (--amp, --amp-dtype), on the model's device; the scaler's
        state restored from --resume's checkpoint when it holds one."""
        device = next(iter(model.parameters())).device
        amp = cls(getattr(args, "amp", False), getattr(args, "amp_dtype", "float16"), device)
        if getattr(args, "resume", None):
            amp.load(read_checkpoint_extra(args.resume).get(SCALER_KEY), args.resume)
        return amp

    def autocast(self):
        return mg.autocast(self.device_type, dtype=self.dtype, enabled=self.enabled)

    def backward(self, loss):
        """loss (times the scale, under float16 --amp).backward()."""
        self.scaler.scale(loss).backward()

    def step(self, optimizer, parameters, max_norm):
        """Unscale the gradients, clip their norm to `max_norm`, step the optimizer (skipped
        when a gradient is inf or NaN under loss scaling) and update the scale.
        Returns (gradient norm before clipping, whether the step was skipped)."""
        self.scaler.unscale_(optimizer)
        grad_norm = float(mg.optim.clip_grad_norm_(parameters, max_norm))
        skipped = self.scaler.is_enabled() and not math.isfinite(grad_norm)
        self.scaler.step(optimizer)
        self.scaler.update()
        return grad_norm, skipped

    def checkpoint_extra(self):
        """{'grad_scaler': state} for save_checkpoint's `extra` ({} without a scaler)."""
        state = self.scaler.state_dict()
        return {SCALER_KEY: state} if state else {}

    def load(self, state, path):
        """Restore the scaler from a checkpoint's saved state (None: the checkpoint had no
        scaler, e.g. a float32 run resumed with --amp: the scaler starts afresh)."""
        if state is None or not self.scaler.is_enabled():
            return
        try:
            self.scaler.load_state_dict(state)
        except GradScalerError as e:
            raise ExampleError(f"--resume {path}: its {SCALER_KEY} state: {e}") from None

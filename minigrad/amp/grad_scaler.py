"""Dynamic loss scaling for float16 training, as torch.amp.GradScaler.

float16 gradients below 6e-8 round to zero. Multiplying the loss by a large factor S
before backward lifts the small gradients into float16's range (backward is linear in
the loss, so every gradient is S times larger); `unscale_` divides them by S again, in
the parameters' float32, before the optimizer sees them. If S was too large some
gradient overflows to inf: that step is skipped and S halves (`backoff_factor`); after
`growth_interval` clean steps S doubles (`growth_factor`). The usual loop:

    scaler = minigrad.amp.GradScaler()
    for src, tgt in batches:
        with minigrad.autocast("cuda"):
            loss = criterion(model(src), tgt)
        optimizer.zero_grad()
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)               # optional: before clipping the gradients
        minigrad.optim.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)                   # skipped if a gradient is inf or NaN
        scaler.update()

The scale is kept in float32 and each update is computed in float64 and rounded once,
as PyTorch's CPU kernel does, so a run gives the same scales as PyTorch's (its CUDA
kernel multiplies in float32: the default factors 2 and 0.5 are exact either way). Save `scaler.state_dict()` with the checkpoint.
"""
import numpy as np

from ..backend import xp_of
from ..errors import MinigradError
from ..tensor import Tensor, constant

_READY, _UNSCALED, _STEPPED = "ready", "unscaled", "stepped"


class GradScalerError(MinigradError):
    """A GradScaler method called out of order (unscale_ twice, step twice, ...)."""


class GradScaler:
    """Dynamic loss scaling (torch.amp.GradScaler).

    device: 'cpu' or 'cuda' (kept for PyTorch's signature: the scale lives on the host).
    init_scale: the first scale factor (2**16). growth_factor (> 1) multiplies the scale
        after growth_interval consecutive steps without inf/NaN gradients;
        backoff_factor (in (0, 1)) multiplies it after a step with one (which is skipped).
    enabled: False makes every method a pass-through (scale returns the loss unchanged,
        step calls optimizer.step()), so one loop serves float32 and mixed precision.
    Raises MinigradError for factors out of range.
    """

    def __init__(self, device="cuda", init_scale=2.0 ** 16, growth_factor=2.0,
                 backoff_factor=0.5, growth_interval=2000, enabled=True):
        if not growth_factor > 1.0:
            raise MinigradError(f"GradScaler: growth_factor must be > 1, got {growth_factor}")
        if not 0.0 < backoff_factor < 1.0:
            raise MinigradError(f"GradScaler: backoff_factor must be in (0, 1), got {backoff_factor}")
        if int(growth_interval) != growth_interval or growth_interval < 1:
            raise MinigradError(f"GradScaler: growth_interval must be a positive integer, "
                                f"got {growth_interval}")
        self.device = device
        self._enabled = bool(enabled)
        self._scale = np.float32(init_scale)
        self._growth_factor = float(growth_factor)
        self._backoff_factor = float(backoff_factor)
        self._growth_interval = int(growth_interval)
        self._growth_tracker = 0
        self._per_optimizer = {}     # id(optimizer) -> {"stage": ..., "found_inf": bool}

    # ------------------------------------------------------------ the loop
    def scale(self, outputs):
        """outputs (a Tensor, or a list/tuple of them) times the scale; unchanged if disabled."""
        if not self._enabled:
            return outputs
        if isinstance(outputs, Tensor):
            with np.errstate(over="ignore"):     # an overflow to inf is what step() looks for
                return outputs * float(self._scale)
        if isinstance(outputs, (list, tuple)):
            return type(outputs)(self.scale(o) for o in outputs)
        raise MinigradError(f"GradScaler.scale: expected a Tensor or a list/tuple of Tensors, "
                            f"got {type(outputs).__name__}")

    def _state(self, optimizer):
        return self._per_optimizer.setdefault(id(optimizer), {"stage": _READY, "found_inf": False})

    def unscale_(self, optimizer):
        """Divide the gradients of `optimizer`'s parameters by the scale, in place, and note
        whether any is inf or NaN. At most once per optimizer between update() calls, and
        before step(); raises GradScalerError otherwise."""
        if not self._enabled:
            return
        state = self._state(optimizer)
        if state["stage"] == _UNSCALED:
            raise GradScalerError("GradScaler.unscale_: already called on this optimizer "
                                  "since the last update()")
        if state["stage"] == _STEPPED:
            raise GradScalerError("GradScaler.unscale_: called after step(); call it before")
        inv_scale = np.float32(np.float64(1.0) / np.float64(self._scale))   # as torch: in double
        finite = []
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.array
                # in float32 (float16 gradients are scaled in float32 and rounded once); a
                # new array, as a gradient may be a read-only broadcast view
                scaled = g.astype(np.float32, copy=False) * inv_scale
                finite.append(xp_of(g).isfinite(scaled).all())
                p.grad = constant(scaled.astype(g.dtype, copy=False))
        # one device-to-host transfer for all parameters (a sync per gradient is slow on a GPU)
        state["found_inf"] = bool(finite) and not bool(xp_of(finite[0]).stack(finite).all())
        state["stage"] = _UNSCALED

    def step(self, optimizer, *args, **kwargs):
        """unscale_ (if not done yet), then optimizer.step(*args, **kwargs) unless a gradient
        is inf or NaN (the step is skipped: returns None). Once per optimizer between
        update() calls; raises GradScalerError otherwise."""
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        state = self._state(optimizer)
        if state["stage"] == _STEPPED:
            raise GradScalerError("GradScaler.step: already called on this optimizer since "
                                  "the last update()")
        if state["stage"] == _READY:
            self.unscale_(optimizer)
        result = None if state["found_inf"] else optimizer.step(*args, **kwargs)
        state["stage"] = _STEPPED
        return result

    def update(self, new_scale=None):
        """Set the scale for the next step: backoff if any optimizer saw inf/NaN gradients
        this step, growth after growth_interval clean steps in a row (or `new_scale`, a
        float, if given). Raises GradScalerError if no optimizer was unscaled or stepped."""
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = np.float32(float(new_scale))
        else:
            checked = [s for s in self._per_optimizer.values() if s["stage"] != _READY]
            if not checked:
                raise GradScalerError("GradScaler.update: no inf checks were recorded: call "
                                      "step(optimizer) (or unscale_) before update()")
            if any(s["found_inf"] for s in checked):
                self._scale = np.float32(float(self._scale) * self._backoff_factor)
                self._growth_tracker = 0
            else:
                self._growth_tracker += 1
                if self._growth_tracker == self._growth_interval:
                    with np.errstate(over="ignore"):     # past float32's range: inf, kept out
                        grown = np.float32(float(self._scale) * self._growth_factor)
                    if np.isfinite(grown):     # never grow into inf (as torch)
                        self._scale = grown
                    self._growth_tracker = 0
        self._per_optimizer = {}

    # ------------------------------------------------------------ inspection and saving
    def get_scale(self):
        """The current scale as a Python float (1.0 when disabled)."""
        return float(self._scale) if self._enabled else 1.0

    def get_growth_factor(self):
        return self._growth_factor

    def get_backoff_factor(self):
        return self._backoff_factor

    def get_growth_interval(self):
        return self._growth_interval

    def is_enabled(self):
        return self._enabled

    def state_dict(self):
        """{'scale', 'growth_factor', 'backoff_factor', 'growth_interval', '_growth_tracker'}
        (PyTorch's keys), plain Python numbers; {} when disabled."""
        if not self._enabled:
            return {}
        return {"scale": float(self._scale), "growth_factor": self._growth_factor,
                "backoff_factor": self._backoff_factor, "growth_interval": self._growth_interval,
                "_growth_tracker": int(self._growth_tracker)}

    def load_state_dict(self, state_dict):
        """Restore a state_dict() (a resumed run continues with the same scales). Raises
        GradScalerError for an empty dict (saved from a disabled scaler) or missing or
        ill-typed entries. Does nothing when this scaler is disabled."""
        if not self._enabled:
            return
        if not isinstance(state_dict, dict) or not state_dict:
            raise GradScalerError("GradScaler.load_state_dict: the state dict is empty or not a "
                                  "dict (saved from a disabled GradScaler?)")
        keys = ("scale", "growth_factor", "backoff_factor", "growth_interval", "_growth_tracker")
        missing = [k for k in keys if k not in state_dict]
        if missing:
            raise GradScalerError(f"GradScaler.load_state_dict: missing {', '.join(missing)}")
        try:
            values = {k: float(np.asarray(state_dict[k]).reshape(())) for k in keys}
        except (TypeError, ValueError) as e:
            raise GradScalerError(f"GradScaler.load_state_dict: entries must be numbers ({e})") from e
        for k in ("growth_interval", "_growth_tracker"):
            if values[k] != int(values[k]) or values[k] < 0:
                raise GradScalerError(f"GradScaler.load_state_dict: {k} must be a non-negative "
                                      f"integer, got {state_dict[k]!r}")
        self._scale = np.float32(values["scale"])
        self._growth_factor = values["growth_factor"]
        self._backoff_factor = values["backoff_factor"]
        self._growth_interval = int(values["growth_interval"])
        self._growth_tracker = int(values["_growth_tracker"])

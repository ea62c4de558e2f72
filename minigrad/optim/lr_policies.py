"""Schedules that are more than one closed-form rule: OneCycleLR (two or three phases,
and the momentum cycled against the rate), CyclicLR (triangular cycles, the momentum
against the rate), SequentialLR (hands over from one schedule to the next at
milestones) and ReduceLROnPlateau (driven by a measured metric).
Imported into (and used through) `minigrad.optim.lr_scheduler`, as in torch.
"""
import bisect
import math

from ..errors import MinigradError
from .lr_scheduler import LRScheduler
from .optimizer import Optimizer, check_int, check_number


class _CycledMomentum:
    """For schedules that move the momentum against the rate (OneCycleLR, CyclicLR)."""

    use_beta1 = False                # True: the optimizer has betas (Adam), not momentum (SGD)

    def _set_momentum(self, group, value):
        """Write the cycled momentum: beta1 of an Adam-like group, else its momentum."""
        if self.use_beta1:
            group["betas"] = (value, group["betas"][1])
        else:
            group["momentum"] = value


class OneCycleLR(_CycledMomentum, LRScheduler):
    """The 1cycle policy (Smith and Topin, 2018), as torch.optim.lr_scheduler.OneCycleLR.

    The rate rises from max_lr / div_factor to max_lr over the first pct_start of
    `total_steps` (= epochs * steps_per_epoch when not given), then anneals to
    initial_lr / final_div_factor ('cos' or 'linear'); three_phase=True comes back to
    the initial rate first. With cycle_momentum, momentum (SGD) or beta1 (Adam) moves
    the opposite way, between base_momentum and max_momentum. Stepping past
    total_steps raises an error, as in torch.
    """

    def __init__(self, optimizer, max_lr, total_steps=None, epochs=None, steps_per_epoch=None,
                 pct_start=0.3, anneal_strategy="cos", cycle_momentum=True, base_momentum=0.85,
                 max_momentum=0.95, div_factor=25.0, final_div_factor=1e4, three_phase=False,
                 last_epoch=-1):
        name = "OneCycleLR"
        if not isinstance(optimizer, Optimizer):
            raise MinigradError(f"{name}: expected an Optimizer, got {type(optimizer).__name__}")
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise MinigradError(f"{name}: give total_steps, or epochs and steps_per_epoch")
            total_steps = check_int(name, "epochs", epochs, 1) * \
                check_int(name, "steps_per_epoch", steps_per_epoch, 1)
        self.total_steps = check_int(name, "total_steps", total_steps, low=1)
        pct_start = check_number(name, "pct_start", pct_start, 0.0, 1.0)
        if anneal_strategy not in ("cos", "linear"):
            raise MinigradError(f"{name}: anneal_strategy must be 'cos' or 'linear', "
                                f"got {anneal_strategy!r}")
        self.anneal_strategy, self.cycle_momentum = anneal_strategy, bool(cycle_momentum)
        n = len(optimizer.param_groups)
        max_lrs = list(max_lr) if isinstance(max_lr, (list, tuple)) else [max_lr] * n
        if len(max_lrs) != n:
            raise MinigradError(f"{name}: got {len(max_lrs)} max_lr values for {n} parameter groups")
        div = check_number(name, "div_factor", div_factor)
        final_div = check_number(name, "final_div_factor", final_div_factor)
        end1 = float(pct_start * self.total_steps) - 1
        if three_phase:     # (start, end, lr from, lr to, momentum from, momentum to)
            self.phases = [(end1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                           (float(2 * pct_start * self.total_steps) - 2, "max_lr", "initial_lr",
                            "base_momentum", "max_momentum"),
                           (self.total_steps - 1, "initial_lr", "min_lr", "max_momentum",
                            "max_momentum")]
        else:
            self.phases = [(end1, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                           (self.total_steps - 1, "max_lr", "min_lr", "base_momentum",
                            "max_momentum")]
        self.use_beta1 = "betas" in optimizer.defaults
        if self.cycle_momentum and "momentum" not in optimizer.defaults and not self.use_beta1:
            raise MinigradError(f"{name}: cycle_momentum needs an optimizer with momentum or "
                                f"betas, got {type(optimizer).__name__}")
        for g, top in zip(optimizer.param_groups, max_lrs):
            top = check_number(name, "max_lr", top, low=0.0)
            if last_epoch == -1:
                g["initial_lr"], g["max_lr"] = top / div, top
                g["min_lr"] = g["initial_lr"] / final_div
            if self.cycle_momentum:
                low = check_number(name, "base_momentum", base_momentum, 0.0, 1.0)
                high = check_number(name, "max_momentum", max_momentum, 0.0, 1.0)
                if last_epoch == -1:
                    self._set_momentum(g, high)
                    g["base_momentum"], g["max_momentum"] = low, high
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _at(self, group, step):
        """(lr, momentum) of `group` at `step`, phase by phase as torch computes them."""
        start = 0.0
        for i, (end, lr0, lr1, m0, m1) in enumerate(self.phases):
            if step <= end or i == len(self.phases) - 1:
                pct = (step - start) / (end - start)
                momentum = self._anneal(group[m0], group[m1], pct) if self.cycle_momentum else None
                return self._anneal(group[lr0], group[lr1], pct), momentum
            start = end

    def lr_at(self, step):
        if step > self.total_steps:
            raise MinigradError(f"OneCycleLR: stepped {step} times, more than total_steps="
                                f"{self.total_steps}")
        lrs = []
        for g in self.optimizer.param_groups:
            lr, momentum = self._at(g, step)
            if momentum is not None:
                self._set_momentum(g, momentum)
            lrs.append(lr)
        return lrs


def _per_group(name, key, value, optimizer):
    """One value per parameter group: a list or tuple of that many, or one for all."""
    n = len(optimizer.param_groups)
    values = list(value) if isinstance(value, (list, tuple)) else [value] * n
    if len(values) != n:
        raise MinigradError(f"{name}: got {len(values)} {key} values for {n} parameter groups")
    return [check_number(name, key, v, low=0.0) for v in values]


class CyclicLR(_CycledMomentum, LRScheduler):
    """Cyclical learning rates (Smith, 2017), as torch.optim.lr_scheduler.CyclicLR.

    The rate climbs from base_lr to max_lr over step_size_up steps and comes back over
    step_size_down (default: the same), for ever. mode 'triangular' keeps the height,
    'triangular2' halves it every cycle, 'exp_range' scales it by gamma**step; or a
    custom scale_fn of the cycle number (scale_mode 'cycle') or of the step ('iterations').
    With cycle_momentum, momentum (SGD) or beta1 (Adam) moves the opposite way, between
    base_momentum and max_momentum. base_lr, max_lr and the momenta take one value per
    parameter group or one for all.
    """

    def __init__(self, optimizer, base_lr, max_lr, step_size_up=2000, step_size_down=None,
                 mode="triangular", gamma=1.0, scale_fn=None, scale_mode="cycle",
                 cycle_momentum=True, base_momentum=0.8, max_momentum=0.9, last_epoch=-1):
        name = "CyclicLR"
        if not isinstance(optimizer, Optimizer):
            raise MinigradError(f"{name}: expected an Optimizer, got {type(optimizer).__name__}")
        base_lrs = _per_group(name, "base_lr", base_lr, optimizer)
        if last_epoch == -1:
            for g, lr in zip(optimizer.param_groups, base_lrs):
                g["lr"] = g["initial_lr"] = lr
        self.max_lrs = _per_group(name, "max_lr", max_lr, optimizer)
        up = check_number(name, "step_size_up", step_size_up, low=0.0)
        down = up if step_size_down is None else check_number(name, "step_size_down",
                                                              step_size_down, low=0.0)
        if up + down <= 0:
            raise MinigradError(f"{name}: step_size_up + step_size_down must be > 0")
        self.total_size, self.step_ratio = up + down, up / (up + down)
        if scale_fn is None and mode not in ("triangular", "triangular2", "exp_range"):
            raise MinigradError(f"{name}: mode must be 'triangular', 'triangular2' or "
                                f"'exp_range' (or give scale_fn), got {mode!r}")
        if scale_mode not in ("cycle", "iterations"):
            raise MinigradError(f"{name}: scale_mode must be 'cycle' or 'iterations', got "
                                f"{scale_mode!r}")
        self.mode, self.gamma = mode, check_number(name, "gamma", gamma, low=0.0)
        self._scale_fn_custom = scale_fn
        self.scale_mode = scale_mode if scale_fn is not None else \
            ("iterations" if mode == "exp_range" else "cycle")
        self.cycle_momentum = bool(cycle_momentum)
        if self.cycle_momentum:
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise MinigradError(f"{name}: cycle_momentum needs an optimizer with momentum or "
                                    f"betas, got {type(optimizer).__name__}")
            self.use_beta1 = "betas" in optimizer.defaults
            self.base_momentums = _per_group(name, "base_momentum", base_momentum, optimizer)
            self.max_momentums = _per_group(name, "max_momentum", max_momentum, optimizer)
            if last_epoch == -1:
                for g, top in zip(optimizer.param_groups, self.max_momentums):
                    self._set_momentum(g, top)
        super().__init__(optimizer, last_epoch)


    def scale_fn(self, x):
        """The height's factor for cycle number (or step) x."""
        if self._scale_fn_custom is not None:
            return self._scale_fn_custom(x)
        if self.mode == "triangular":
            return 1.0
        if self.mode == "triangular2":
            return 1 / (2.0 ** (x - 1))
        return self.gamma ** x

    def lr_at(self, step):
        cycle = math.floor(1 + step / self.total_size)
        x = 1.0 + step / self.total_size - cycle           # where in the cycle, in [0, 1)
        scale = x / self.step_ratio if x <= self.step_ratio else (x - 1) / (self.step_ratio - 1)
        factor = self.scale_fn(cycle if self.scale_mode == "cycle" else step)
        lrs = [base + (top - base) * scale * factor for base, top in zip(self.base_lrs,
                                                                          self.max_lrs)]
        if self.cycle_momentum:
            for g, low, top in zip(self.optimizer.param_groups, self.base_momentums,
                                   self.max_momentums):
                self._set_momentum(g, top - (top - low) * scale * factor)
        return lrs

    def _unsaved(self):
        return ("optimizer", "_scale_fn_custom")


class SequentialLR(LRScheduler):
    """Run schedulers[0] until milestones[0], then schedulers[1] (restarted at its step 0),
    and so on (torch.optim.lr_scheduler.SequentialLR). The schedulers must drive this
    optimizer; their own construction-time step is undone, as torch does."""

    def __init__(self, optimizer, schedulers, milestones, last_epoch=-1):
        name = "SequentialLR"
        schedulers = list(schedulers)
        if not schedulers or any(not isinstance(s, LRScheduler) or s.optimizer is not optimizer
                                 for s in schedulers):
            raise MinigradError(f"{name}: expected one or more schedulers of this optimizer")
        milestones = [check_int(name, "milestones[i]", m, low=0) for m in milestones]
        if len(milestones) != len(schedulers) - 1 or milestones != sorted(milestones):
            raise MinigradError(f"{name}: expected {len(schedulers) - 1} increasing milestones for "
                                f"{len(schedulers)} schedulers, got {milestones}")
        self.optimizer, self._schedulers, self._milestones = optimizer, schedulers, milestones
        self.last_epoch = last_epoch + 1
        for g in optimizer.param_groups:
            g["lr"] = g["initial_lr"]
        for s in schedulers:               # undo the step each took when it was built
            s.last_epoch -= 1
        schedulers[0].step()
        self._last_lr = schedulers[0].get_last_lr()

    def step(self):
        self.last_epoch += 1
        idx = bisect.bisect_right(self._milestones, self.last_epoch)
        scheduler = self._schedulers[idx]
        if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
            scheduler.step(0)              # a fresh start for the next scheduler
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()

    def state_dict(self):
        return {"last_epoch": self.last_epoch, "_milestones": list(self._milestones),
                "_last_lr": list(self._last_lr),
                "_schedulers": [s.state_dict() for s in self._schedulers]}

    def load_state_dict(self, state_dict):
        saved = state_dict.get("_schedulers")
        if not isinstance(saved, list) or len(saved) != len(self._schedulers):
            raise MinigradError(f"SequentialLR.load_state_dict: expected {len(self._schedulers)} "
                                f"scheduler states, got {saved!r:.80}")
        for s, st in zip(self._schedulers, saved):
            s.load_state_dict(st)
        self.last_epoch = check_int("SequentialLR", "last_epoch", state_dict["last_epoch"], -1)
        self._milestones = list(state_dict["_milestones"])
        self._last_lr = list(state_dict["_last_lr"])


class ReduceLROnPlateau(LRScheduler):
    """Multiply the rate by `factor` when `metric` (passed to step) has not improved for
    `patience` steps (torch.optim.lr_scheduler.ReduceLROnPlateau).

    Improvement: mode 'min' with threshold_mode 'rel' means metric < best * (1 - threshold)
    ('abs': < best - threshold; mode 'max' the mirror). After a reduction, `cooldown`
    steps pass before bad steps count again; no rate goes below min_lr, and a change
    smaller than eps is skipped.
    """

    def __init__(self, optimizer, mode="min", factor=0.1, patience=10, threshold=1e-4,
                 threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8):
        name = "ReduceLROnPlateau"
        if not isinstance(optimizer, Optimizer):
            raise MinigradError(f"{name}: expected an Optimizer, got {type(optimizer).__name__}")
        if mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise MinigradError(f"{name}: mode must be 'min' or 'max' and threshold_mode 'rel' or "
                                f"'abs', got {mode!r} and {threshold_mode!r}")
        self.factor = check_number(name, "factor", factor, 0.0, 1.0, high_open=True)
        n = len(optimizer.param_groups)
        mins = list(min_lr) if isinstance(min_lr, (list, tuple)) else [min_lr] * n
        if len(mins) != n:
            raise MinigradError(f"{name}: got {len(mins)} min_lr values for {n} parameter groups")
        self.min_lrs = [check_number(name, "min_lr", m, low=0.0) for m in mins]
        self.patience = check_int(name, "patience", patience, low=0)
        self.cooldown = check_int(name, "cooldown", cooldown, low=0)
        self.threshold = check_number(name, "threshold", threshold, low=0.0)
        self.eps = check_number(name, "eps", eps, low=0.0)
        self.optimizer, self.mode, self.threshold_mode = optimizer, mode, threshold_mode
        self.last_epoch, self.cooldown_counter, self.num_bad_epochs = 0, 0, 0
        self.best = math.inf if mode == "min" else -math.inf
        self._last_lr = [g["lr"] for g in optimizer.param_groups]

    def _is_better(self, a):
        if self.mode == "min":
            bar = self.best * (1 - self.threshold) if self.threshold_mode == "rel" else \
                self.best - self.threshold
            return a < bar
        bar = self.best * (1 + self.threshold) if self.threshold_mode == "rel" else \
            self.best + self.threshold
        return a > bar

    def step(self, metrics):
        try:
            current = float(metrics)
        except (TypeError, ValueError):
            raise MinigradError(f"ReduceLROnPlateau.step: metrics must be a number, got "
                                f"{metrics!r}") from None
        self.last_epoch += 1
        if self._is_better(current):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for g, floor in zip(self.optimizer.param_groups, self.min_lrs):
                new = max(float(g["lr"]) * self.factor, floor)
                if float(g["lr"]) - new > self.eps:
                    g["lr"] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [g["lr"] for g in self.optimizer.param_groups]


class CosineAnnealingWarmRestarts(LRScheduler):
    """Cosine annealing with warm restarts (SGDR, Loshchilov and Hutter, 2017), as
    torch.optim.lr_scheduler.CosineAnnealingWarmRestarts:

        lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2

    T_cur counts steps since the last restart; the first period lasts T_0 steps and each
    next one T_mult times longer. step(epoch) accepts a fractional epoch (as in
    `scheduler.step(epoch + i / iters)` inside the batch loop), as torch does.
    """

    def __init__(self, optimizer, T_0, T_mult=1, eta_min=0.0, last_epoch=-1):
        name = "CosineAnnealingWarmRestarts"
        self.T_0 = check_int(name, "T_0", T_0, low=1)
        self.T_mult = check_int(name, "T_mult", T_mult, low=1)
        self.eta_min = check_number(name, "eta_min", eta_min)
        self.T_i, self.T_cur = self.T_0, last_epoch
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step):
        return [self.eta_min + (base - self.eta_min) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
                for base in self.base_lrs]

    def step(self, epoch=None):
        """Advance one step, or go to `epoch` (a float is fine) and set the rates."""
        if epoch is None and self.last_epoch < 0:
            epoch = 0
        if epoch is None:
            epoch = self.last_epoch + 1
            self.T_cur += 1
            if self.T_cur >= self.T_i:
                self.T_cur -= self.T_i
                self.T_i *= self.T_mult
        else:
            epoch = check_number(type(self).__name__, "epoch", epoch, low=0.0)
            if epoch >= self.T_0:
                if self.T_mult == 1:
                    self.T_cur = epoch % self.T_0
                else:
                    n = int(math.log(epoch / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
                    self.T_cur = epoch - self.T_0 * (self.T_mult ** n - 1) / (self.T_mult - 1)
                    self.T_i = self.T_0 * self.T_mult ** n
            else:
                self.T_i, self.T_cur = self.T_0, epoch
        self.last_epoch = math.floor(epoch)
        lrs = [float(lr) for lr in self.lr_at(self.last_epoch)]
        for g, lr in zip(self.optimizer.param_groups, lrs):
            g["lr"] = lr
        self._last_lr = lrs

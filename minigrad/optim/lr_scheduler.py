"""Learning-rate schedules: the learning rate as a function of the step number.

Each schedule is a closed-form rule `lr_at(step)` per parameter group. As in
PyTorch, building a schedule applies the rate for step 0, and every `step()`
(called after `optimizer.step()`) moves to the next step and writes the new
rate into the optimizer's groups. `last_epoch` counts the `step()` calls (the
PyTorch name; here it counts optimizer steps, not epochs).

The state (`state_dict`) is a small JSON-able dict, so a checkpoint keeps it
in its metadata.
"""
import bisect
import math

from ..errors import MinigradError
from .optimizer import Optimizer, check_int, check_number


class LRScheduler:
    """Base class: subclasses define `lr_at(step)` -> one rate per parameter group."""

    def __init__(self, optimizer, last_epoch=-1):
        if not isinstance(optimizer, Optimizer):
            raise MinigradError(f"{type(self).__name__}: expected an Optimizer, got "
                                f"{type(optimizer).__name__}")
        check_int(type(self).__name__, "last_epoch", last_epoch, low=-1)
        self.optimizer = optimizer
        for i, g in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                g.setdefault("initial_lr", g["lr"])
            elif "initial_lr" not in g:
                raise MinigradError(f"{type(self).__name__}: resuming at last_epoch={last_epoch} "
                                    f"needs 'initial_lr' in parameter group {i}")
        self.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        self.last_epoch = last_epoch
        if last_epoch == -1 and self._keeps_rates_at_start():
            # torch's recursive schedules (StepLR, ExponentialLR, ...) leave the groups'
            # rates as they are at step 0: on a resumed optimizer, the rates it was saved with
            self.last_epoch = 0
            self._set_rates([g["lr"] for g in optimizer.param_groups])
        else:
            self.step()

    # True where torch's schedule is recursive and returns the groups' rates at step 0
    _recursive_in_torch = False

    def _keeps_rates_at_start(self):
        """Whether step 0 keeps the groups' current rates instead of setting lr_at(0)."""
        return self._recursive_in_torch

    def lr_at(self, step):
        """The rates at `step`. A subclass written for torch defines get_lr() instead
        (reading self.last_epoch, self.base_lrs or the groups' current 'lr'): it is used."""
        if type(self).get_lr is LRScheduler.get_lr:
            raise NotImplementedError(f"{type(self).__name__} defines neither lr_at(step) nor "
                                      "get_lr()")
        return self.get_lr()

    def get_lr(self):
        """The rates for the current step (torch's name; prefer get_last_lr())."""
        return self.lr_at(self.last_epoch)

    def step(self, epoch=None):
        """Advance one step (or jump to `epoch`, torch's deprecated form) and set the
        optimizer's learning rates for it."""
        self.last_epoch = self.last_epoch + 1 if epoch is None else \
            check_int(type(self).__name__, "epoch", epoch, low=0)
        self._set_rates(self.lr_at(self.last_epoch))

    def _set_rates(self, lrs):
        lrs = [float(lr) for lr in lrs]
        for g, lr in zip(self.optimizer.param_groups, lrs):
            g["lr"] = lr
        self._last_lr = lrs

    def get_last_lr(self):
        """The learning rates (one per group) that the last `step()` set."""
        return list(self._last_lr)

    def _unsaved(self):
        return ("optimizer",)

    def state_dict(self):
        """Everything but the optimizer (and functions): JSON-able numbers and lists."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()
                if k not in self._unsaved()}

    def load_state_dict(self, state_dict):
        own = self.state_dict()
        unknown = sorted(set(state_dict) - set(own))
        missing = sorted(set(own) - set(state_dict))
        if unknown or missing:
            raise MinigradError(f"{type(self).__name__}.load_state_dict: missing keys {missing}; "
                                f"unexpected keys {unknown}")
        self.__dict__.update(state_dict)

    def __repr__(self):
        args = ", ".join(f"{k}={v}" for k, v in self.state_dict().items()
                         if k not in ("base_lrs", "_last_lr"))
        return f"{type(self).__name__}({args})"


_LRScheduler = LRScheduler          # torch's older name, still used by many programs


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(step); one function, or one per parameter group."""

    def __init__(self, optimizer, lr_lambda, last_epoch=-1):
        n = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise MinigradError(f"LambdaLR: got {len(lr_lambda)} lr_lambdas for {n} "
                                    "parameter groups")
            self.lr_lambdas = list(lr_lambda)
        else:
            self.lr_lambdas = [lr_lambda] * n
        for f in self.lr_lambdas:
            if not callable(f):
                raise MinigradError(f"LambdaLR: lr_lambda must be a function of the step, got {f!r}")
        super().__init__(optimizer, last_epoch)

    def _unsaved(self):
        return ("optimizer", "lr_lambdas")

    def lr_at(self, step):
        return [base * f(step) for base, f in zip(self.base_lrs, self.lr_lambdas)]


class MultiplicativeLR(LambdaLR):
    """lr = previous lr * lr_lambda(step) for step > 0 (torch.optim.lr_scheduler.MultiplicativeLR).

    Unlike the closed-form schedules, this one builds on the groups' current rates, as
    torch's does (a rate changed by hand between steps is multiplied on from there).
    """

    def lr_at(self, step):
        if step > 0:
            return [g["lr"] * f(step) for g, f in zip(self.optimizer.param_groups, self.lr_lambdas)]
        return [g["lr"] for g in self.optimizer.param_groups]


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (step // step_size) (torch.optim.lr_scheduler.StepLR)."""

    def __init__(self, optimizer, step_size, gamma=0.1, last_epoch=-1):
        self.step_size = check_int("StepLR", "step_size", step_size, low=1)
        self.gamma = check_number("StepLR", "gamma", gamma, low=0.0)
        super().__init__(optimizer, last_epoch)

    _recursive_in_torch = True

    def lr_at(self, step):
        return [base * self.gamma ** (step // self.step_size) for base in self.base_lrs]


class MultiStepLR(LRScheduler):
    """lr = base_lr * gamma ** (number of milestones <= step) (torch's MultiStepLR; a
    milestone given twice counts twice, as there)."""

    def __init__(self, optimizer, milestones, gamma=0.1, last_epoch=-1):
        self.milestones = sorted(check_int("MultiStepLR", "milestones[i]", m, low=0)
                                 for m in milestones)
        self.gamma = check_number("MultiStepLR", "gamma", gamma, low=0.0)
        super().__init__(optimizer, last_epoch)

    def _keeps_rates_at_start(self):
        return 0 not in self.milestones

    def lr_at(self, step):
        passed = bisect.bisect_right(self.milestones, step)
        return [base * self.gamma ** passed for base in self.base_lrs]


class ExponentialLR(LRScheduler):
    """lr = base_lr * gamma ** step (torch.optim.lr_scheduler.ExponentialLR)."""

    def __init__(self, optimizer, gamma, last_epoch=-1):
        self.gamma = check_number("ExponentialLR", "gamma", gamma, low=0.0)
        super().__init__(optimizer, last_epoch)

    _recursive_in_torch = True

    def lr_at(self, step):
        return [base * self.gamma ** step for base in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (base_lr - eta_min) * (1 + cos(pi * step / T_max)) / 2
    (Loshchilov and Hutter, 2017, without restarts; torch's CosineAnnealingLR: past
    T_max the cosine goes on, back up). torch computes it recursively; the closed
    form here agrees to rounding."""

    def __init__(self, optimizer, T_max, eta_min=0.0, last_epoch=-1):
        self.T_max = check_int("CosineAnnealingLR", "T_max", T_max, low=1)
        self.eta_min = check_number("CosineAnnealingLR", "eta_min", eta_min, low=0.0)
        super().__init__(optimizer, last_epoch)

    _recursive_in_torch = True

    def lr_at(self, step):
        cosine = (1 + math.cos(math.pi * step / self.T_max)) / 2
        return [self.eta_min + (base - self.eta_min) * cosine for base in self.base_lrs]


class LinearLR(LRScheduler):
    """lr = base_lr * factor, the factor going linearly from start_factor to end_factor
    over total_iters steps, then staying (torch.optim.lr_scheduler.LinearLR)."""

    def __init__(self, optimizer, start_factor=1.0 / 3, end_factor=1.0, total_iters=5,
                 last_epoch=-1):
        self.start_factor = check_number("LinearLR", "start_factor", start_factor, 0.0, 1.0)
        if self.start_factor == 0:
            raise MinigradError("LinearLR: start_factor must be > 0 (torch refuses 0 too)")
        self.end_factor = check_number("LinearLR", "end_factor", end_factor, 0.0, 1.0)
        self.total_iters = check_int("LinearLR", "total_iters", total_iters, low=0)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step):
        done = min(step, self.total_iters) / self.total_iters if self.total_iters else 1.0
        factor = self.start_factor + (self.end_factor - self.start_factor) * done
        return [base * factor for base in self.base_lrs]


class PolynomialLR(LRScheduler):
    """lr = base_lr * (1 - min(step, total_iters) / total_iters) ** power (torch's PolynomialLR)."""

    def __init__(self, optimizer, total_iters=5, power=1.0, last_epoch=-1):
        self.total_iters = check_int("PolynomialLR", "total_iters", total_iters, low=1)
        self.power = check_number("PolynomialLR", "power", power)
        super().__init__(optimizer, last_epoch)

    _recursive_in_torch = True

    def lr_at(self, step):
        factor = (1.0 - min(step, self.total_iters) / self.total_iters) ** self.power
        return [base * factor for base in self.base_lrs]


class NoamLR(LRScheduler):
    """The Transformer paper's schedule (Vaswani et al., 2017, section 5.3):

        lr = factor * d_model^-0.5 * min(step^-0.5, step * warmup_steps^-1.5)

    Linear warmup for `warmup_steps`, then decay as the inverse square root of
    the step. Step 0 counts as step 1 (as in the Annotated Transformer), so the
    first update is not made at rate zero. The rate is absolute: it replaces the
    optimizer's lr in every group (use `factor` to scale it).
    """

    def __init__(self, optimizer, d_model, warmup_steps, factor=1.0, last_epoch=-1):
        if d_model <= 0 or warmup_steps <= 0:
            raise MinigradError(f"NoamLR: d_model and warmup_steps must be > 0, got "
                                f"d_model={d_model}, warmup_steps={warmup_steps}")
        self.d_model, self.warmup_steps, self.factor = d_model, warmup_steps, factor
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step):
        step = max(step, 1)
        lr = self.factor * (self.d_model ** (-0.5) *
                            min(step ** (-0.5), step * self.warmup_steps ** (-1.5)))
        return [lr] * len(self.base_lrs)


class CosineWithWarmup(LRScheduler):
    """Linear warmup from 0 to base_lr over `warmup_steps`, then half a cosine
    from base_lr down to `min_lr` at `total_steps`, constant after that.

    The warmup follows the common convention lr = base_lr * step / warmup_steps,
    so step 0 has rate 0 (as Hugging Face's get_cosine_schedule_with_warmup).
    """

    def __init__(self, optimizer, warmup_steps, total_steps, min_lr=0.0, last_epoch=-1):
        if warmup_steps < 0 or total_steps < warmup_steps:
            raise MinigradError(f"CosineWithWarmup: need 0 <= warmup_steps <= total_steps, got "
                                f"warmup_steps={warmup_steps}, total_steps={total_steps}")
        self.warmup_steps, self.total_steps, self.min_lr = warmup_steps, total_steps, min_lr
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step):
        if step < self.warmup_steps:
            return [base * step / max(1, self.warmup_steps) for base in self.base_lrs]
        progress = min(1.0, (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps))
        cosine = 0.5 * (1.0 + math.cos(math.pi * progress))
        return [self.min_lr + (base - self.min_lr) * cosine for base in self.base_lrs]


class ConstantLR(LRScheduler):
    """lr = base_lr * factor for the first `total_iters` steps, then base_lr (as
    torch.optim.lr_scheduler.ConstantLR). factor=1 gives a constant rate."""

    def __init__(self, optimizer, factor=1.0 / 3, total_iters=5, last_epoch=-1):
        factor = check_number("ConstantLR", "factor", factor, 0.0, 1.0)
        if factor == 0:
            raise MinigradError(f"ConstantLR: factor must be in (0, 1], got {factor}")
        self.factor = factor
        self.total_iters = check_int("ConstantLR", "total_iters", total_iters, low=0)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, step):
        scale = self.factor if step < self.total_iters else 1.0
        return [base * scale for base in self.base_lrs]


from .lr_policies import (CosineAnnealingWarmRestarts, CyclicLR, OneCycleLR,  # noqa: E402,F401
                          ReduceLROnPlateau, SequentialLR)

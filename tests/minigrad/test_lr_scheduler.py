"""minigrad.optim.lr_scheduler against torch.optim.lr_scheduler: the same rates (and
momentum, for OneCycleLR) over many steps, state dicts that resume, argument checks."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from minigrad.optim import lr_scheduler as sched
from testutil import require_torch

STEPS = 120

# (name, kwargs, optimizer name, optimizer kwargs); every schedule torch has and we have
CASES = [
    ("LambdaLR", dict(lr_lambda=lambda s: 0.97 ** s + 0.01 * (s % 7)), "SGD", {}),
    ("StepLR", dict(step_size=13, gamma=0.5), "SGD", {}),
    ("MultiStepLR", dict(milestones=[10, 30, 30, 75], gamma=0.3), "SGD", {}),
    ("ExponentialLR", dict(gamma=0.97), "Adam", {}),
    ("CosineAnnealingLR", dict(T_max=40, eta_min=1e-4), "SGD", {}),
    ("LinearLR", dict(start_factor=0.1, end_factor=0.9, total_iters=25), "SGD", {}),
    ("ConstantLR", dict(factor=0.5, total_iters=9), "SGD", {}),
    ("PolynomialLR", dict(total_iters=80, power=2.0), "SGD", {}),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=STEPS), "SGD", dict(momentum=0.9)),
    ("OneCycleLR", dict(max_lr=[0.5], total_steps=STEPS, three_phase=True,
                        anneal_strategy="linear"), "Adam", {}),
    ("OneCycleLR", dict(max_lr=0.01, epochs=4, steps_per_epoch=30, pct_start=0.25,
                        cycle_momentum=False), "Adam", {}),
    ("CosineAnnealingWarmRestarts", dict(T_0=7), "SGD", {}),
    ("MultiplicativeLR", dict(lr_lambda=lambda s: 0.97 if s % 3 else 1.01), "SGD", {}),
    ("CosineAnnealingWarmRestarts", dict(T_0=5, T_mult=2, eta_min=1e-3), "Adam", {}),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=7), "SGD", dict(momentum=0.5)),
    ("CyclicLR", dict(base_lr=0.01, max_lr=0.1, step_size_up=4, step_size_down=9,
                      mode="triangular2"), "Adam", {}),
    ("CyclicLR", dict(base_lr=[0.01], max_lr=0.2, step_size_up=5, mode="exp_range", gamma=0.97,
                      base_momentum=0.7, max_momentum=0.95), "SGD", dict(momentum=0.9)),
    ("CyclicLR", dict(base_lr=0.001, max_lr=0.01, step_size_up=3, cycle_momentum=False,
                      scale_fn=lambda x: 1 / (1 + x), scale_mode="iterations"), "Adam", {}),
]


def _pair(opt_name, opt_kwargs, lr=0.1):
    torch = require_torch()
    w = mg.zeros(3, requires_grad=True)
    tw = torch.zeros(3, requires_grad=True)
    return (getattr(optim, opt_name)([w], lr=lr, **opt_kwargs),
            getattr(torch.optim, opt_name)([tw], lr=lr, **opt_kwargs))


def _momentum(group):
    return group["betas"][0] if "betas" in group else group.get("momentum")


@pytest.mark.torch
@pytest.mark.parametrize("name,kwargs,opt_name,opt_kwargs", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rates_match_torch_over_many_steps(name, kwargs, opt_name, opt_kwargs):
    torch = require_torch()
    opt, topt = _pair(opt_name, opt_kwargs)
    mine = getattr(sched, name)(opt, **kwargs)
    theirs = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    steps = STEPS - 1 if name == "OneCycleLR" else STEPS
    for step in range(steps):
        assert mine.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-9, abs=1e-15), step
        assert opt.param_groups[0]["lr"] == pytest.approx(topt.param_groups[0]["lr"], rel=1e-9)
        assert _momentum(opt.param_groups[0]) == pytest.approx(_momentum(topt.param_groups[0]))
        opt.step(), topt.step()
        mine.step(), theirs.step()


@pytest.mark.torch
def test_sequential_lr_matches_torch():
    torch = require_torch()
    opt, topt = _pair("SGD", {})
    mine = sched.SequentialLR(opt, [sched.LinearLR(opt, 0.01, 1.0, 10),
                                    sched.ExponentialLR(opt, 0.9),
                                    sched.CosineAnnealingLR(opt, 30)], milestones=[10, 40])
    tl = torch.optim.lr_scheduler
    theirs = tl.SequentialLR(topt, [tl.LinearLR(topt, 0.01, 1.0, 10), tl.ExponentialLR(topt, 0.9),
                                    tl.CosineAnnealingLR(topt, 30)], milestones=[10, 40])
    for step in range(90):
        assert mine.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-9, abs=1e-15), step
        assert opt.param_groups[0]["lr"] == pytest.approx(topt.param_groups[0]["lr"], rel=1e-9,
                                                          abs=1e-15)
        opt.step(), topt.step()
        mine.step(), theirs.step()


@pytest.mark.torch
@pytest.mark.parametrize("kwargs", [dict(), dict(mode="max", factor=0.5, patience=2, cooldown=3),
                                    dict(threshold_mode="abs", threshold=0.05, min_lr=0.02,
                                         patience=0)])
def test_reduce_on_plateau_matches_torch(kwargs):
    torch = require_torch()
    opt, topt = _pair("SGD", dict(momentum=0.5))
    mine = sched.ReduceLROnPlateau(opt, **kwargs)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    rng = np.random.default_rng(0)
    metric = 1.0
    for step in range(150):
        metric = metric * float(rng.choice([0.9, 1.0, 1.0, 1.01]))
        mine.step(metric), theirs.step(metric)
        assert mine.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12), step


@pytest.mark.parametrize("schedule", ["OneCycleLR", "CyclicLR"])
def test_state_dict_resumes_the_same_rates(schedule):
    def build():
        w = mg.zeros(2, requires_grad=True)
        opt = optim.SGD([w], lr=0.1, momentum=0.9)
        if schedule == "CyclicLR":
            return opt, sched.CyclicLR(opt, 0.01, 0.5, step_size_up=6, mode="triangular2")
        return opt, sched.OneCycleLR(opt, max_lr=1.0, total_steps=50)
    opt, s = build()
    for _ in range(17):
        s.step()
    saved_opt, saved = opt.state_dict(), s.state_dict()
    expected = []
    for _ in range(20):
        s.step()
        expected.append(s.get_last_lr()[0])
    opt2, s2 = build()
    opt2.load_state_dict(saved_opt)
    s2.load_state_dict(saved)
    got = []
    for _ in range(20):
        s2.step()
        got.append(s2.get_last_lr()[0])
    assert got == expected


def test_sequential_state_dict_round_trip():
    w = mg.zeros(2, requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    s = sched.SequentialLR(opt, [sched.ConstantLR(opt, 0.5, 5), sched.StepLR(opt, 3)], [5])
    for _ in range(8):
        s.step()
    state = s.state_dict()
    lr_next = (s.step(), s.get_last_lr())[1]
    opt2 = optim.SGD([mg.zeros(2, requires_grad=True)], lr=0.1)
    s2 = sched.SequentialLR(opt2, [sched.ConstantLR(opt2, 0.5, 5), sched.StepLR(opt2, 3)], [5])
    s2.load_state_dict(state)
    s2.step()
    assert s2.get_last_lr() == lr_next


@pytest.mark.parametrize("build,match", [
    (lambda o: sched.StepLR(o, step_size=0), "step_size"),
    (lambda o: sched.StepLR(o, step_size=2.5), "step_size"),
    (lambda o: sched.ExponentialLR(o, gamma=float("nan")), "gamma"),
    (lambda o: sched.MultiStepLR(o, milestones=["3"]), "milestones"),
    (lambda o: sched.CosineAnnealingLR(o, T_max=0), "T_max"),
    (lambda o: sched.LinearLR(o, start_factor=0), "start_factor"),
    (lambda o: sched.LambdaLR(o, lr_lambda=0.5), "lr_lambda"),
    (lambda o: sched.OneCycleLR(o, max_lr=1.0), "total_steps"),
    (lambda o: sched.OneCycleLR(o, max_lr="1", total_steps=3), "max_lr"),
    (lambda o: sched.ReduceLROnPlateau(o, factor=1.0), "factor"),
    (lambda o: sched.ReduceLROnPlateau(o, mode="up"), "mode"),
    (lambda o: sched.StepLR(None, 3), "Optimizer"),
])
def test_bad_arguments_raise_named_errors(build, match):
    opt = optim.SGD([mg.zeros(2, requires_grad=True)], lr=0.1, momentum=0.9)
    with pytest.raises(mg.MinigradError, match=match):
        build(opt)


def test_one_cycle_refuses_stepping_past_the_end():
    opt = optim.SGD([mg.zeros(2, requires_grad=True)], lr=0.1, momentum=0.9)
    s = sched.OneCycleLR(opt, max_lr=1.0, total_steps=3)
    s.step(), s.step(), s.step()
    with pytest.raises(mg.MinigradError, match="total_steps"):
        s.step()
    assert math.isfinite(opt.param_groups[0]["lr"])


@pytest.mark.torch
def test_a_scheduler_subclass_written_for_torch_runs_the_same():
    torch = require_torch()

    def make(base):
        class Halving(base):            # chainable, as torch's own are written
            def get_lr(self):
                if self.last_epoch == 0 or self.last_epoch % 3:
                    return [g["lr"] for g in self.optimizer.param_groups]
                return [g["lr"] * 0.5 for g in self.optimizer.param_groups]
        return Halving
    opt, topt = _pair("SGD", {})
    mine, theirs = make(sched.LRScheduler)(opt), make(torch.optim.lr_scheduler.LRScheduler)(topt)
    for _ in range(12):
        opt.step(), topt.step()
        mine.step(), theirs.step()
        assert mine.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12)
    with pytest.raises(NotImplementedError, match="neither"):
        sched.LRScheduler(opt)


@pytest.mark.torch
@pytest.mark.parametrize("t_mult", [1, 2, 3])
def test_warm_restarts_with_fractional_epochs_match_torch(t_mult):
    """The documented loop: scheduler.step(epoch + i / iters) after every batch."""
    torch = require_torch()
    opt, topt = _pair("SGD", dict(momentum=0.9))
    mine = sched.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=t_mult, eta_min=0.01)
    theirs = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(topt, T_0=2, T_mult=t_mult,
                                                                  eta_min=0.01)
    iters = 5
    for epoch in range(12):
        for i in range(iters):
            opt.step(), topt.step()
            mine.step(epoch + i / iters), theirs.step(epoch + i / iters)
            assert mine.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-9)
            assert mine.last_epoch == theirs.last_epoch
    restored = sched.CosineAnnealingWarmRestarts(opt, T_0=2, T_mult=t_mult, eta_min=0.01)
    restored.load_state_dict(mine.state_dict())
    restored.step(), theirs.step()
    assert restored.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-9)


SCHEDULES = {
    "StepLR": lambda lib, o: lib.optim.lr_scheduler.StepLR(o, 4, 0.5),
    "MultiStepLR": lambda lib, o: lib.optim.lr_scheduler.MultiStepLR(o, [2, 5], 0.3),
    "ExponentialLR": lambda lib, o: lib.optim.lr_scheduler.ExponentialLR(o, 0.9),
    "CosineAnnealingLR": lambda lib, o: lib.optim.lr_scheduler.CosineAnnealingLR(o, 10),
    "PolynomialLR": lambda lib, o: lib.optim.lr_scheduler.PolynomialLR(o, 10, 2.0),
    "LambdaLR": lambda lib, o: lib.optim.lr_scheduler.LambdaLR(o, lambda e: 1 / (e + 1)),
}                   # (LinearLR: see docs/torch_compat.md, schedulers)


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_resuming_optimizer_then_a_new_scheduler_keeps_torchs_rates(name):
    """Resume in the common order (load the optimizer, build the scheduler, load it):
    the rate before and after the next step is torch's (a new StepLR once reset the
    groups to the initial rate while get_last_lr() said otherwise)."""
    torch = require_torch()
    seen = []
    for lib in (torch, mg):
        p = lib.nn.Parameter(lib.zeros(2))
        opt = lib.optim.SGD([p], lr=0.1)
        schedule = SCHEDULES[name](lib, opt)
        for _ in range(6):
            opt.step()
            schedule.step()
        saved_opt, saved_schedule = opt.state_dict(), schedule.state_dict()
        p2 = lib.nn.Parameter(lib.zeros(2))
        opt2 = lib.optim.SGD([p2], lr=0.1)
        opt2.load_state_dict(saved_opt)
        schedule2 = SCHEDULES[name](lib, opt2)
        schedule2.load_state_dict(saved_schedule)
        rates = [opt2.param_groups[0]["lr"]]
        for _ in range(3):
            opt2.step()
            schedule2.step()
            rates += [opt2.param_groups[0]["lr"], schedule2.get_last_lr()[0]]
        seen.append(rates)
    np.testing.assert_allclose(seen[1], seen[0], rtol=1e-9)

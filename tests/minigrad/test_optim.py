"""Optimizers, schedules and gradient clipping against torch.optim."""
import math

import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
import minigrad.optim as optim
from testutil import require_torch

SHAPES = [(5, 4), (4,), (3, 2, 2), (257, 300)]     # the last one large enough for rounding


def _problem(steps, seed=0):
    """Starting weights and a fixed sequence of gradients (float32)."""
    rng = np.random.default_rng(seed)
    w0 = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in SHAPES] for _ in range(steps)]
    return w0, grads


def _run_minigrad(make, w0, grads, groups=False):
    params = [nn.Parameter(mg.tensor(w.copy())) for w in w0]
    opt = make([{"params": params[:1], "lr": 0.05}, {"params": params[1:]}] if groups else params)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = mg.tensor(g.copy())
        opt.step()
        opt.zero_grad()
    return [p.numpy() for p in params], opt


def _run_torch(make, w0, grads, groups=False):
    torch = require_torch()
    params = [torch.nn.Parameter(torch.tensor(w.copy())) for w in w0]
    opt = make([{"params": params[:1], "lr": 0.05}, {"params": params[1:]}] if groups else params)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = torch.tensor(g.copy())
        opt.step()
        opt.zero_grad()
    return [p.detach().numpy() for p in params]


OPTIMIZERS = {
    "sgd": ("SGD", dict(lr=0.1)),
    "sgd_momentum": ("SGD", dict(lr=0.1, momentum=0.9)),
    "sgd_dampening": ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    "sgd_nesterov": ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    "sgd_weight_decay": ("SGD", dict(lr=0.1, momentum=0.5, weight_decay=0.01)),
    "adam": ("Adam", dict(lr=0.01)),
    "adam_weight_decay": ("Adam", dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    "adam_amsgrad": ("Adam", dict(lr=0.01, amsgrad=True)),
    "adamw": ("AdamW", dict(lr=0.01)),
    "adamw_amsgrad": ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    "rmsprop": ("RMSprop", dict(lr=0.01)),
    "rmsprop_all": ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6, weight_decay=0.1, momentum=0.8,
                                    centered=True)),
    "rmsprop_momentum": ("RMSprop", dict(lr=0.01, momentum=0.5)),
    "adagrad": ("Adagrad", dict(lr=0.1)),
    "adagrad_all": ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.01,
                                    initial_accumulator_value=0.5, eps=1e-8)),
    "nadam": ("NAdam", dict(lr=0.01)),
    "nadam_all": ("NAdam", dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1,
                                momentum_decay=0.01)),
    "nadam_decoupled": ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    # beta2 0.9: rho_t passes 5 at step 6, so twenty steps cover both of RAdam's branches
    "radam": ("RAdam", dict(lr=0.01, betas=(0.9, 0.9))),
    "radam_default_betas": ("RAdam", dict(lr=0.01)),
    "radam_all": ("RAdam", dict(lr=0.01, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1)),
    "radam_decoupled": ("RAdam", dict(lr=0.01, betas=(0.9, 0.9), weight_decay=0.1,
                                      decoupled_weight_decay=True)),
    "adamax": ("Adamax", dict(lr=0.01)),
    "adamax_all": ("Adamax", dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    "adadelta": ("Adadelta", dict()),
    "adadelta_all": ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.1)),
    # maximize=True: each ascends (the gradient negated), with torch's implementation flags
    **{f"{name.lower()}_maximize": (name, dict(lr=0.01, weight_decay=0.1, maximize=True,
                                               foreach=False))
       for name in ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "NAdam", "RAdam", "Adamax",
                    "Adadelta"]},
    "adam_maximize_amsgrad_fused": ("Adam", dict(lr=0.01, amsgrad=True, maximize=True,
                                                 fused=None)),
}


@pytest.mark.torch
@pytest.mark.parametrize("name", list(OPTIMIZERS))
@pytest.mark.parametrize("groups", [False, True], ids=["one_group", "two_groups"])
def test_twenty_steps_equal_torch(name, groups):
    torch = require_torch()
    cls, kwargs = OPTIMIZERS[name]
    w0, grads = _problem(20)
    ours, _ = _run_minigrad(lambda p: getattr(optim, cls)(p, **kwargs), w0, grads, groups)
    theirs = _run_torch(lambda p: getattr(torch.optim, cls)(p, **kwargs), w0, grads, groups)
    for a, b, w in zip(ours, theirs, w0):
        assert not np.allclose(a, w)                   # the weights did move
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
        assert a.dtype == np.float32


@pytest.mark.parametrize("name", ["sgd_nesterov", "adam_amsgrad", "adamw", "rmsprop_all",
                                  "adagrad_all", "nadam_all", "radam", "adamax_all",
                                  "adadelta_all"])
def test_state_dict_resume_equals_uninterrupted_run(name):
    cls, kwargs = OPTIMIZERS[name]
    make = lambda p: getattr(optim, cls)(p, **kwargs)            # noqa: E731
    w0, grads = _problem(20)
    straight, _ = _run_minigrad(make, w0, grads)
    half, opt = _run_minigrad(make, w0, grads[:10])
    sd = opt.state_dict()
    assert sd["param_groups"][0]["params"] == [0, 1, 2, 3] and set(sd["state"]) == {0, 1, 2, 3}
    snapshot = {i: {k: (v.numpy().copy() if isinstance(v, mg.Tensor) else v)
                    for k, v in s.items()} for i, s in sd["state"].items()}
    params = [nn.Parameter(mg.tensor(w)) for w in half]
    fresh = make(params)
    fresh.load_state_dict({"state": {i: {k: (mg.tensor(v) if isinstance(v, np.ndarray) else v)
                                         for k, v in s.items()} for i, s in snapshot.items()},
                           "param_groups": sd["param_groups"]})
    for step_grads in grads[10:]:
        for p, g in zip(params, step_grads):
            p.grad = mg.tensor(g.copy())
        fresh.step()
    for a, b in zip(straight, params):
        np.testing.assert_array_equal(a, b.numpy())


def test_load_state_dict_reports_every_problem():
    params = [nn.Parameter(mg.zeros(*s)) for s in SHAPES]
    opt = optim.Adam(params)
    for p in params:
        p.grad = mg.ones(*p.shape)
    opt.step()
    sd = opt.state_dict()
    sd["state"][0]["exp_avg"] = mg.zeros(9, 9)
    sd["state"][2]["exp_avg_sq"] = mg.zeros(1, 2)
    with pytest.raises(mg.MinigradError) as e:
        opt.load_state_dict(sd)
    assert "state 0.exp_avg: checkpoint (9, 9), parameter (5, 4)" in str(e.value)
    assert "state 2.exp_avg_sq: checkpoint (1, 2), parameter (3, 2, 2)" in str(e.value)
    other = optim.Adam([nn.Parameter(mg.zeros(2))])
    with pytest.raises(mg.MinigradError, match="group 0 has 4 parameters in the checkpoint, 1"):
        other.load_state_dict(opt.state_dict())


def test_zero_grad_and_argument_checks():
    p = nn.Parameter(mg.ones(3))
    opt = optim.SGD([p], lr=0.1)
    p.grad = mg.ones(3)
    opt.zero_grad(set_to_none=False)
    assert np.all(p.grad.numpy() == 0)
    opt.zero_grad()
    assert p.grad is None
    opt.step()                                          # no gradient: nothing moves
    assert np.all(p.numpy() == 1)
    with pytest.raises(mg.MinigradError, match="nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(mg.MinigradError, match="betas"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(mg.MinigradError, match="learning rate"):
        optim.AdamW([p], lr=-1)
    with pytest.raises(mg.MinigradError, match="more than one place"):
        optim.Adam([p, p])
    with pytest.raises(mg.MinigradError, match="empty"):
        optim.Adam([])


@pytest.mark.parametrize("cls", [optim.SGD, optim.Adam, optim.AdamW])
def test_non_contiguous_gradients_give_the_same_step(cls):
    """A gradient that is a transposed view gives the same step as a contiguous one."""
    g = mg.randn(300, 257).numpy()
    a, b = nn.Parameter(mg.ones(257, 300)), nn.Parameter(mg.ones(257, 300))
    opt_a, opt_b = cls([a], lr=0.1), cls([b], lr=0.1)
    for _ in range(3):
        a.grad = mg.tensor(np.ascontiguousarray(g.T))
        b.grad = mg.from_numpy(g.T)                  # shares the transposed view
        assert not b.grad.array.flags.c_contiguous
        opt_a.step()
        opt_b.step()
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_updates_are_in_place():
    p = nn.Parameter(mg.ones(4))
    array = p.array
    opt = optim.Adam([p], lr=0.1)
    p.grad = mg.ones(4)
    opt.step()
    assert p.array is array and np.all(array < 1)


# ------------------------------------------------------------------ schedules
def _lrs(sched, opt, steps):
    out = [sched.get_last_lr()[0]]
    for _ in range(steps):
        opt.step()
        sched.step()
        out.append(sched.get_last_lr()[0])
    return np.array(out)


def _torch_lambda_lrs(lam, base_lr, steps):
    torch = require_torch()
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base_lr)
    return _lrs(torch.optim.lr_scheduler.LambdaLR(opt, lam), opt, steps)


def _noam(step, d_model=512, warmup=400, factor=2.0):
    step = max(step, 1)
    return factor * (d_model ** (-0.5) * min(step ** (-0.5), step * warmup ** (-1.5)))


def _cosine(step, base, warmup=100, total=800, min_lr=0.0):
    if step < warmup:
        return step / max(1, warmup)
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return (min_lr + (base - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))) / base


def _sgd(lr):
    return optim.SGD([nn.Parameter(mg.zeros(1))], lr=lr)


@pytest.mark.torch
def test_lambda_lr_equals_torch_over_1000_steps():
    lam = lambda s: 0.95 ** (s // 10) * (1 + math.sin(s / 50.0))    # noqa: E731
    opt = _sgd(0.3)
    ours = _lrs(optim.LambdaLR(opt, lam), opt, 1000)
    np.testing.assert_allclose(ours, _torch_lambda_lrs(lam, 0.3, 1000), rtol=1e-12, atol=0)


@pytest.mark.torch
def test_noam_equals_torch_lambda_lr_with_the_paper_rate():
    opt = _sgd(1.0)
    sched = optim.NoamLR(opt, d_model=512, warmup_steps=400, factor=2.0)
    ours = _lrs(sched, opt, 1000)
    np.testing.assert_allclose(ours, _torch_lambda_lrs(_noam, 1.0, 1000), rtol=1e-12, atol=0)
    assert ours[0] == ours[1] > 0                        # step 0 is counted as step 1
    assert ours.argmax() == 400                          # peak at the end of warmup
    assert opt.param_groups[0]["lr"] == ours[-1]


@pytest.mark.torch
@pytest.mark.parametrize("min_lr", [0.0, 0.01])
def test_cosine_with_warmup_equals_torch_lambda_lr(min_lr):
    opt = _sgd(0.5)
    ours = _lrs(optim.CosineWithWarmup(opt, 100, 800, min_lr=min_lr), opt, 1000)
    theirs = _torch_lambda_lrs(lambda s: _cosine(s, 0.5, min_lr=min_lr), 0.5, 1000)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    assert ours[0] == 0 and ours[100] == pytest.approx(0.5) and ours[-1] == pytest.approx(min_lr)


@pytest.mark.torch
def test_constant_lr_equals_torch():
    torch = require_torch()
    topt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.2)
    theirs = _lrs(torch.optim.lr_scheduler.ConstantLR(topt, factor=0.25, total_iters=7), topt, 50)
    opt = _sgd(0.2)
    ours = _lrs(optim.ConstantLR(opt, factor=0.25, total_iters=7), opt, 50)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_schedule_state_dict_resumes():
    opt = _sgd(1.0)
    sched = optim.NoamLR(opt, 64, 10)
    for _ in range(25):
        sched.step()
    state = sched.state_dict()
    opt2 = _sgd(1.0)
    sched2 = optim.NoamLR(opt2, 64, 10)
    sched2.load_state_dict(state)
    sched.step()
    sched2.step()
    assert sched2.last_epoch == 26 and sched2.get_last_lr() == sched.get_last_lr()
    assert opt2.param_groups[0]["lr"] == sched.get_last_lr()[0]
    with pytest.raises(mg.MinigradError, match="unexpected keys"):
        sched2.load_state_dict({**state, "gamma": 0.1})


def test_lambda_lr_per_group():
    a, b = nn.Parameter(mg.zeros(1)), nn.Parameter(mg.zeros(1))
    opt = optim.SGD([{"params": [a], "lr": 1.0}, {"params": [b], "lr": 0.1}])
    sched = optim.LambdaLR(opt, [lambda s: s, lambda s: 2.0])
    sched.step()
    sched.step()
    assert sched.get_last_lr() == [2.0, 0.2]


# ------------------------------------------------------------------ clipping
@pytest.mark.torch
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_equals_torch(norm_type, max_norm):
    torch = require_torch()
    _, grads = _problem(1)
    ours = [nn.Parameter(mg.zeros(*s)) for s in SHAPES]
    theirs = [torch.nn.Parameter(torch.zeros(s)) for s in SHAPES]
    for p, q, g in zip(ours, theirs, grads[0]):
        p.grad = mg.tensor(g.copy())
        q.grad = torch.tensor(g.copy())
    total = optim.clip_grad_norm_(ours, max_norm, norm_type)
    total_t = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert total.shape == () and total.dtype == np.float32
    # float32 sums of 77K terms in a different order: NumPy's pairwise sum is within
    # 1e-7 of the float64 value, torch's within 3e-6 for the 1- and 3-norms
    exact = sum(float((np.abs(g.astype(np.float64)) ** norm_type).sum()) for g in grads[0]) ** (
        1 / norm_type) if math.isfinite(norm_type) else max(float(np.abs(g).max()) for g in grads[0])
    np.testing.assert_allclose(float(total), exact, rtol=1e-6)
    np.testing.assert_allclose(float(total), float(total_t), rtol=1e-5)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7)
    clipped = math.isfinite(norm_type) and max_norm < float(total)
    new_norm = sum(float((np.abs(p.grad.numpy()) ** norm_type).sum()) for p in ours) ** (
        1 / norm_type) if math.isfinite(norm_type) else None
    if clipped:
        assert new_norm == pytest.approx(max_norm, rel=1e-4)


def test_clip_grad_norm_does_not_scale_a_shared_gradient_twice():
    a, b = nn.Parameter(mg.ones(3)), nn.Parameter(mg.ones(3))
    (a + b).sum().backward()                            # a.grad and b.grad are one array
    optim.clip_grad_norm_([a, b], 1.0)
    expected = 1.0 / (math.sqrt(6) + 1e-6)
    np.testing.assert_allclose(a.grad.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), expected, rtol=1e-6)


def test_clip_grad_norm_nonfinite():
    p = nn.Parameter(mg.zeros(2))
    p.grad = mg.tensor([np.inf, 1.0])
    with pytest.raises(mg.MinigradError, match="norm of the gradients is inf"):
        optim.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)


# ------------------------------------------------------------------ training
def _spirals(n_per_class=40, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for c in range(classes):
        r = np.linspace(0.1, 1.0, n_per_class)
        t = np.linspace(c * 4.0, (c + 1) * 4.0, n_per_class) + rng.normal(0, 0.1, n_per_class)
        xs.append(np.stack([r * np.sin(t), r * np.cos(t)], 1))
        ys.append(np.full(n_per_class, c))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys)


def test_mlp_with_adam_fits_spirals_exactly():
    x, y = _spirals()
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                          nn.Linear(64, 3))
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.Adam(model.parameters(), lr=0.01)
    xt, yt = mg.tensor(x), mg.tensor(y)
    for step in range(600):
        loss = loss_fn(model(xt), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 49 and (model(xt).numpy().argmax(1) == y).all():
            break
    accuracy = (model(xt).numpy().argmax(1) == y).mean()
    assert accuracy == 1.0, f"train accuracy {accuracy:.3f} after {step + 1} steps"


@pytest.mark.torch
@pytest.mark.parametrize("name", ["rmsprop_all", "adagrad_all"])
def test_adaptive_state_is_named_as_torch(name):
    torch = require_torch()
    cls, kwargs = OPTIMIZERS[name]
    w0, grads = _problem(2)
    _, ours = _run_minigrad(lambda p: getattr(optim, cls)(p, **kwargs), w0, grads)
    params = [torch.nn.Parameter(torch.tensor(w)) for w in w0]
    theirs = getattr(torch.optim, cls)(params, **kwargs)
    for p in params:
        p.grad = torch.zeros_like(p)
    theirs.step()
    mine, ref = ours.state_dict(), theirs.state_dict()
    assert sorted(mine["state"][0]) == sorted(ref["state"][0])
    assert sorted(mine["param_groups"][0]) == sorted(
        k for k in ref["param_groups"][0] if k in mine["param_groups"][0])


@pytest.mark.parametrize("cls,kw", [(mg.optim.Adam, dict(weight_decay=0.01)),
                                    (mg.optim.AdamW, dict(weight_decay=0.1, amsgrad=True)),
                                    (mg.optim.Adam, {})])
@pytest.mark.parametrize("threads", [1, 2])
def test_adam_in_blocks_on_threads_gives_the_same_bits(cls, kw, threads, monkeypatch):
    """The CPU update runs parameters in blocks of Adam.BLOCK elements spread over the
    threads (forced here: small blocks, threads from any size); elementwise, so the
    weights and moments equal a whole-parameter update bit for bit."""
    monkeypatch.setattr(mg.optim.Adam, "BLOCK", 1000)
    monkeypatch.setattr(mg.optim.Adam, "PARALLEL_MIN", 0)
    monkeypatch.setattr(mg.parallel, "get_num_threads", lambda: threads)
    shapes = [(30, 70), (5,), (7001,), (3, 4, 5)]
    results = []
    for blocked in (True, False):
        ps = [mg.tensor(np.random.default_rng(1).standard_normal(s).astype(np.float32),
                        requires_grad=True) for s in shapes]
        ps.append(mg.tensor(np.ones((6, 4), np.float32), requires_grad=True))
        opt = cls(ps, lr=1e-2, **kw)
        if not blocked:
            opt._blocks = lambda w, g, state, h: [((w, g, state["exp_avg"], state["exp_avg_sq"],
                                                    state.get("max_exp_avg_sq")), h)]
        for step in range(3):
            for i, p in enumerate(ps):
                grad = np.random.default_rng(step * 10 + i).standard_normal(p.shape)
                p.grad = mg.tensor(grad.astype(np.float32))
            ps[-1].grad = mg.tensor(np.ones((4, 6), np.float32)).T    # a strided gradient
            opt.step()
        results.append([p.numpy() for p in ps] +
                       [opt.state[p]["exp_avg_sq"].numpy().copy() for p in ps])
    for a, b in zip(*results):
        assert np.array_equal(a, b)


def test_adam_updates_strided_state_in_place():
    """A moment array that is not C-ordered (as one could load it) is updated in place,
    not through a flat copy, and gives the same weights as a C-ordered one."""
    results = []
    for fortran in (False, True):
        p = mg.tensor(np.arange(24, dtype=np.float32).reshape(4, 6) / 10, requires_grad=True)
        opt = mg.optim.Adam([p], lr=0.1)
        p.grad = mg.ones(4, 6)
        opt.step()
        if fortran:
            opt.state[p]["exp_avg"] = np.asfortranarray(opt.state[p]["exp_avg"])
        p.grad = mg.tensor(np.linspace(-1, 1, 24, dtype=np.float32).reshape(4, 6))
        opt.step()
        results.append((p.numpy().copy(), np.array(opt.state[p]["exp_avg"])))
    assert np.array_equal(results[0][0], results[1][0])
    assert np.array_equal(results[0][1], results[1][1])


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "NAdam",
                                  "RAdam", "Adamax", "Adadelta"])
def test_step_takes_a_closure_and_returns_its_loss_as_torch(name):
    torch = require_torch()
    seen = []
    for lib in (torch, mg):
        w = lib.nn.Parameter(lib.tensor([1.0, -2.0], dtype=lib.float64))
        x = lib.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=lib.float64)
        opt = getattr(lib.optim, name)([w], lr=0.05)

        def closure():
            opt.zero_grad()
            loss = ((x @ w - 1.0) ** 2).mean()
            loss.backward()
            return loss
        seen.append([float(opt.step(closure)) for _ in range(3)] + w.detach().numpy().tolist())
        assert opt.step() is None
    np.testing.assert_allclose(seen[1], seen[0], rtol=1e-9)


def test_optimizer_state_holds_tensors_that_share_its_memory_as_torch():
    """opt.state[p][name] is a Tensor over the optimizer's own array: torch code reads it
    with tensor methods, changes it in place, or assigns it; a torch-style optimizer
    subclass keeps its own buffers there."""
    torch = require_torch()
    seen = []
    for lib in (torch, mg):
        p = lib.nn.Parameter(lib.ones(3, dtype=lib.float64))
        opt = lib.optim.SGD([p], lr=0.1, momentum=0.9)
        p.grad = lib.ones(3, dtype=lib.float64)
        opt.step()
        buf = opt.state[p]["momentum_buffer"]
        buf.mul_(2.0)                              # in place: the next step sees it
        opt.step()
        after = opt.state[p]["momentum_buffer"].abs().sum().item()
        opt.state[p]["momentum_buffer"] = lib.zeros(3, dtype=lib.float64)
        opt.step()

        class HeavyBall(lib.optim.Optimizer):      # the torch way of writing an optimizer
            def __init__(self, params, lr=0.1):
                super().__init__(params, dict(lr=lr))

            def step(self):
                for group in self.param_groups:
                    for q in group["params"]:
                        state = self.state[q]
                        if len(state) == 0:
                            state["velocity"] = lib.zeros_like(q)
                        state["velocity"].mul_(0.5).add_(q.grad)
                        with lib.no_grad():
                            q -= group["lr"] * state["velocity"]
        q = lib.nn.Parameter(lib.ones(2, dtype=lib.float64))
        heavy = HeavyBall([q])
        for _ in range(3):
            q.grad = q.detach() * 2
            heavy.step()
        seen.append([after, *p.detach().numpy().tolist(), *q.detach().numpy().tolist(),
                     float(heavy.state[q]["velocity"].sum())])
    np.testing.assert_allclose(seen[1], seen[0], rtol=1e-12)


def test_adam_relatives_check_their_hyperparameters():
    p = nn.Parameter(mg.ones(3))
    for cls in (optim.NAdam, optim.RAdam, optim.Adamax):
        with pytest.raises(mg.MinigradError, match=f"{cls.__name__}: betas"):
            cls([p], betas=(0.9,))
        with pytest.raises(mg.MinigradError, match=rf"{cls.__name__}: betas\[1\] must be in"):
            cls([p], betas=(0.9, 1.0))
        with pytest.raises(mg.MinigradError, match=f"{cls.__name__}: eps must be >= 0"):
            cls([p], eps=-1e-8)
    with pytest.raises(mg.MinigradError, match="NAdam: momentum_decay must be >= 0"):
        optim.NAdam([p], momentum_decay=-0.1)
    with pytest.raises(mg.MinigradError, match=r"Adadelta: rho must be in \[0.0, 1.0\]"):
        optim.Adadelta([p], rho=1.5)
    with pytest.raises(mg.MinigradError, match="RAdam: decoupled_weight_decay must be True or False"):
        optim.RAdam([p], decoupled_weight_decay="yes")


def test_torchs_implementation_switches_are_accepted_or_refused_clearly():
    p = nn.Parameter(mg.ones(3))
    optim.AdamW([p], foreach=True, fused=False)                  # accepted: no effect
    with pytest.raises(mg.MinigradError, match="AdamW: capturable=True is not supported"):
        optim.AdamW([p], capturable=True)
    with pytest.raises(mg.MinigradError, match="SGD: differentiable=True is not supported"):
        optim.SGD([p], differentiable=True)
    with pytest.raises(mg.MinigradError, match="Adam: foreach must be None, True or False"):
        optim.Adam([p], foreach="yes")
    with pytest.raises(mg.MinigradError, match="RMSprop: maximize must be True or False"):
        optim.RMSprop([p], maximize=1)

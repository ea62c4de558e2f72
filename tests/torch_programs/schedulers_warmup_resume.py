# Warmup / cosine / one-cycle learning-rate schedules as used for Transformers
import torch
import torch.nn as nn
from torch.optim.lr_scheduler import (LambdaLR, OneCycleLR, CosineAnnealingWarmRestarts,
                                      SequentialLR, LinearLR, CosineAnnealingLR, StepLR,
                                      ReduceLROnPlateau)

torch.manual_seed(0)


def trace(sched, opt, steps, group=0, loss_fn=None):
    lrs = []
    for i in range(steps):
        opt.step()
        lrs.append(opt.param_groups[group]["lr"])
        sched.step()
    return lrs


def fmt(xs):
    return ",".join(f"{x:.6g}" for x in xs)


def make_opt(lr=1e-3, cls=torch.optim.AdamW, **kw):
    m = nn.Linear(3, 3)
    return cls(m.parameters(), lr=lr, **kw)


# "Attention is all you need" Noam schedule via LambdaLR
d_model, warmup = 64, 4
opt = make_opt(lr=1.0, betas=(0.9, 0.98), eps=1e-9)
noam = LambdaLR(opt, lambda s: d_model ** -0.5 * min((s + 1) ** -0.5, (s + 1) * warmup ** -1.5))
print("RESULT noam_initial_lr", f"{opt.param_groups[0]['lr']:.6g}", "equal -")
print("RESULT noam", fmt(trace(noam, opt, 10)), "equal -")
print("RESULT noam_last", f"{noam.get_last_lr()[0]:.6g}", "equal -")
print("RESULT initial_lr_key", opt.param_groups[0]["initial_lr"], "equal -")

# linear warmup then linear decay (HF style)
opt = make_opt(lr=5e-4)
total = 12
lin = LambdaLR(opt, lambda s: s / warmup if s < warmup else max(0.0, (total - s) / (total - warmup)))
print("RESULT hf_linear", fmt(trace(lin, opt, total)), "equal -")

# OneCycleLR: lr and momentum (beta1) both cycle
opt = make_opt(lr=1e-3)
oc = OneCycleLR(opt, max_lr=1e-2, total_steps=10, pct_start=0.3)
betas = []
lrs = []
for _ in range(10):
    opt.step()
    lrs.append(opt.param_groups[0]["lr"])
    betas.append(opt.param_groups[0]["betas"][0])
    oc.step()
print("RESULT onecycle", fmt(lrs), "equal -")
print("RESULT onecycle_beta1", fmt(betas), "equal -")
opt = make_opt(lr=1e-3, cls=torch.optim.SGD, momentum=0.9)
oc2 = OneCycleLR(opt, max_lr=0.1, epochs=2, steps_per_epoch=4, anneal_strategy="linear", three_phase=True)
print("RESULT onecycle_linear3", fmt(trace(oc2, opt, 8)), "equal -")

# CosineAnnealingWarmRestarts with T_mult, stepped with fractional epochs too
opt = make_opt(lr=0.1, cls=torch.optim.SGD)
cw = CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2, eta_min=0.001)
print("RESULT cos_restarts", fmt(trace(cw, opt, 12)), "equal -")
opt = make_opt(lr=0.1, cls=torch.optim.SGD)
cw2 = CosineAnnealingWarmRestarts(opt, T_0=4)
frac = []
iters = 4
for epoch in range(2):
    for i in range(iters):
        opt.step()
        cw2.step(epoch + i / iters)
        frac.append(opt.param_groups[0]["lr"])
print("RESULT cos_restarts_frac", fmt(frac), "equal -")

# SequentialLR: LinearLR warmup then cosine
opt = make_opt(lr=0.01)
warm = LinearLR(opt, start_factor=0.1, end_factor=1.0, total_iters=3)
cos = CosineAnnealingLR(opt, T_max=6, eta_min=1e-4)
seq = SequentialLR(opt, schedulers=[warm, cos], milestones=[3])
print("RESULT sequential", fmt(trace(seq, opt, 10)), "equal -")

# two param groups with different base lrs under one LambdaLR with per-group lambdas
m = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
opt = torch.optim.AdamW([{"params": m[0].parameters(), "lr": 1e-3},
                         {"params": m[1].parameters(), "lr": 1e-2}])
ll = LambdaLR(opt, [lambda s: 0.5 ** s, lambda s: 1.0 / (s + 1)])
trace(ll, opt, 3)
print("RESULT group_lrs", fmt(ll.get_last_lr()), "equal -")

# StepLR state_dict round trip (resume training)
opt = make_opt(lr=1.0, cls=torch.optim.SGD)
st = StepLR(opt, step_size=2, gamma=0.5)
trace(st, opt, 3)
state = st.state_dict()
opt2 = make_opt(lr=1.0, cls=torch.optim.SGD)
st2 = StepLR(opt2, step_size=2, gamma=0.5)
st2.load_state_dict(state)
opt2.param_groups[0]["lr"] = opt.param_groups[0]["lr"]
print("RESULT steplr_resume", fmt(trace(st2, opt2, 4)), "equal -")
print("RESULT last_epoch", st2.last_epoch, "equal -")

# ReduceLROnPlateau driven by a validation loss
opt = make_opt(lr=0.1, cls=torch.optim.SGD)
rp = ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=1)
out = []
for vloss in [1.0, 0.9, 0.95, 0.96, 0.97, 0.5, 0.6, 0.7, 0.8]:
    rp.step(vloss)
    out.append(opt.param_groups[0]["lr"])
print("RESULT plateau", fmt(out), "equal -")

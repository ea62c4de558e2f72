"""Param groups, weight decay, schedulers, clip_grad_norm_, deterministic init."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

def R(name, v, rule="close", arg="1e-5"):
    print(f"RESULT {name} {v} {rule} {arg}")

rng = np.random.default_rng(3)
X = torch.tensor(rng.normal(size=(64, 6)), dtype=torch.float32)
Y = torch.tensor(rng.normal(size=(64, 1)), dtype=torch.float32)

def make():
    m = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 1))
    with torch.no_grad():
        for i, p in enumerate(m.parameters()):
            p.copy_(torch.tensor(np.cos(np.arange(p.numel()) * 0.7 + i).reshape(p.shape) * 0.3, dtype=torch.float32))
    return m

def train(opt_fn, sched_fn, steps=30, clip=None):
    m = make()
    opt = opt_fn(m)
    sch = sched_fn(opt) if sched_fn else None
    lrs, norms = [], []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.mse_loss(m(X), Y)
        loss.backward()
        if clip is not None:
            norms.append(float(nn.utils.clip_grad_norm_(m.parameters(), clip)))
        opt.step()
        if sch:
            lrs.append(opt.param_groups[0]["lr"])
            sch.step()
    return F.mse_loss(m(X), Y).item(), lrs, norms, m, opt

def groups(m, lr0=0.1, lr1=0.01):
    return [{"params": m[0].parameters(), "lr": lr0, "weight_decay": 0.1},
            {"params": m[2].parameters(), "lr": lr1}]

loss, lrs, norms, m, opt = train(lambda m: torch.optim.SGD(groups(m), lr=0.05, momentum=0.9), None, clip=0.5)
R("sgd_groups_loss", loss)
R("clip_first_norm", norms[0], "close", "1e-4")
R("group_wd", [float(g["weight_decay"]) for g in opt.param_groups], "equal", "-")
R("group_momentum", opt.param_groups[1]["momentum"], "equal", "-")
loss, lrs, _, _, _ = train(lambda m: torch.optim.Adam(groups(m), betas=(0.8, 0.99)),
                           lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda e: 1.0 / (1 + e)))
R("adam_lambda_loss", loss, "close", "1e-4")
R("lambda_lr_last", lrs[-1], "close", "1e-9")
loss, lrs, _, _, opt = train(lambda m: torch.optim.AdamW(m.parameters(), lr=0.05, weight_decay=0.05),
                             lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.001))
R("adamw_cos_loss", loss, "close", "1e-4")
R("cos_lr_5", lrs[5], "close", "1e-9")
R("cos_lr_15", lrs[15], "close", "1e-9")
R("cos_lr_29", lrs[29], "close", "1e-9")
loss, lrs, _, _, opt = train(lambda m: torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9),
                             lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.2, total_steps=31))
R("onecycle_loss", loss, "close", "1e-4")
R("onecycle_lr_3", lrs[3], "close", "1e-9")
R("onecycle_lr_20", lrs[20], "close", "1e-9")
R("onecycle_mom_end", opt.param_groups[0]["momentum"], "close", "1e-6")
loss, lrs, _, _, opt = train(lambda m: torch.optim.RMSprop(m.parameters(), lr=0.01),
                             lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[5, 12], gamma=0.3))
R("rms_multistep_loss", loss, "close", "1e-4")
R("multistep_lrs", [round(l, 6) for l in lrs[4:14:4]], "equal", "-")
# clip_grad_value_ and optimizer state_dict
m = make()
F.mse_loss(m(X), Y).backward()
nn.utils.clip_grad_value_(m.parameters(), 0.01)
R("clip_value_max", max(p.grad.abs().max().item() for p in m.parameters()), "close", "1e-7")
opt = torch.optim.Adam(m.parameters(), lr=0.01)
opt.step()
sd = opt.state_dict()
R("opt_sd_keys", sorted(sd.keys()), "equal", "-")
R("opt_sd_state_len", len(sd["state"]), "equal", "-")
R("opt_sd_group_params", sd["param_groups"][0]["params"], "equal", "-")
opt2 = torch.optim.Adam(m.parameters(), lr=0.5)
opt2.load_state_dict(sd)
R("opt_loaded_lr", opt2.param_groups[0]["lr"], "equal", "-")
R("exp_avg_sum", opt2.state[m[0].weight]["exp_avg"].sum().item(), "close", "1e-6")
opt.add_param_group({"params": [nn.Parameter(torch.zeros(2))], "lr": 0.3})
R("add_group", [g["lr"] for g in opt.param_groups], "equal", "-")

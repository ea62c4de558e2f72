"""Optimizer options and scheduler variants, checked step by step."""
import torch
import torch.nn as nn

def R(name, v, rule="close", arg="1e-6"):
    print(f"RESULT {name} {v} {rule} {arg}")

def run(opt_cls, steps=6, **kw):
    p = nn.Parameter(torch.tensor([1.0, -2.0, 3.0]))
    opt = opt_cls([p], **kw)
    for t in range(steps):
        opt.zero_grad()
        ((p - 0.5) ** 2 * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
        opt.step()
    return p.detach().sum().item()

R("sgd_dampening", run(torch.optim.SGD, lr=0.05, momentum=0.9, dampening=0.5))
R("sgd_nesterov_wd", run(torch.optim.SGD, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.1))
R("adam_amsgrad", run(torch.optim.Adam, lr=0.1, amsgrad=True))
R("adam_wd", run(torch.optim.Adam, lr=0.1, weight_decay=0.5))
R("adamw_amsgrad", run(torch.optim.AdamW, lr=0.1, amsgrad=True, weight_decay=0.3))
R("rmsprop_centered_mom", run(torch.optim.RMSprop, lr=0.01, momentum=0.5, centered=True, weight_decay=0.1))
R("adagrad", run(torch.optim.Adagrad, lr=0.3, lr_decay=0.01, weight_decay=0.1))
R("adam_eps", run(torch.optim.Adam, lr=0.1, eps=1e-3, betas=(0.5, 0.6)))

def lrs(make, n=25, metric=None):
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    s = make(opt)
    out = []
    for i in range(n):
        opt.step()
        if metric:
            s.step(metric[i])
        else:
            s.step()
        out.append(opt.param_groups[0]["lr"])
    return out, s, opt

S = torch.optim.lr_scheduler
out, s, _ = lrs(lambda o: S.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=0.01))
R("warm_restarts_7", out[7], "close", "1e-9"); R("warm_restarts_20", out[20], "close", "1e-9")
out, s, o = lrs(lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=30, three_phase=True, anneal_strategy="linear", pct_start=0.2))
R("onecycle3_10", out[10], "close", "1e-9"); R("onecycle3_24", out[24], "close", "1e-9")
R("onecycle3_mom", o.param_groups[0]["momentum"], "close", "1e-9")
out, s, o = lrs(lambda o: S.OneCycleLR(o, max_lr=0.5, epochs=3, steps_per_epoch=10, div_factor=10, final_div_factor=100))
R("onecycle_epochs_5", out[5], "close", "1e-9"); R("onecycle_initial", o.param_groups[0]["initial_lr"], "close", "1e-9")
R("onecycle_max_lr", o.param_groups[0]["max_lr"], "close", "1e-9")
out, s, _ = lrs(lambda o: S.LinearLR(o, start_factor=0.1, total_iters=10))
R("linear_3", out[3], "close", "1e-9")
out, s, _ = lrs(lambda o: S.SequentialLR(o, [S.LinearLR(o, start_factor=0.1, total_iters=5), S.ExponentialLR(o, gamma=0.9)], milestones=[5]))
R("seq_3", out[3], "close", "1e-9"); R("seq_10", out[10], "close", "1e-9")
out, s, _ = lrs(lambda o: S.ReduceLROnPlateau(o, mode="min", factor=0.5, patience=2, threshold=0.01), metric=[1.0] * 25)
R("plateau_last", out[-1], "close", "1e-9"); R("plateau_5", out[5], "close", "1e-9")
out, s, _ = lrs(lambda o: S.PolynomialLR(o, total_iters=10, power=2.0))
R("poly_4", out[4], "close", "1e-9"); R("poly_end", out[-1], "close", "1e-9")
out, s, _ = lrs(lambda o: S.StepLR(o, step_size=4, gamma=0.5))
R("steplr_last", s.get_last_lr()[0], "close", "1e-9")
sd = s.state_dict()
R("sched_sd_epoch", sd["last_epoch"], "equal", "-")
p = nn.Parameter(torch.zeros(1)); q = nn.Parameter(torch.zeros(1))
opt = torch.optim.SGD([{"params": [p]}, {"params": [q], "lr": 1.0}], lr=0.1)
s = S.LambdaLR(opt, [lambda e: 0.5 ** e, lambda e: 1.0 / (e + 1)])
for _ in range(3):
    opt.step(); s.step()
R("lambda_two_groups", s.get_last_lr(), "equal", "-")
# clip_grad_norm_ variants
a = nn.Parameter(torch.tensor([3.0, 4.0])); b = nn.Parameter(torch.tensor([1.0]))
(a * torch.tensor([3.0, -4.0])).sum().backward(); (b * 12).sum().backward()
tn = nn.utils.clip_grad_norm_([a, b], max_norm=1.0, norm_type=float("inf"))
R("clip_inf_norm", tn.item()); R("clip_inf_grad", a.grad.tolist()[1])
tn = nn.utils.clip_grad_norm_([a, b], max_norm=10.0, norm_type=1.0)
R("clip_l1_norm", tn.item())
R("clip_returns_tensor", torch.is_tensor(tn), "equal", "-")
R("get_total_norm", nn.utils.clip_grad_norm_([a, b], 100.0).item())

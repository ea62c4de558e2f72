"""A user's own optimizer written with addcmul_/addcdiv_/lerp_, the Adam relatives from
torch.optim, and everyday geometry: rotary angles with atan2/hypot, nearest neighbours
with cdist, cosine similarity and pairwise distances, nan-aware statistics, RMSNorm."""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def R(name, v, rule="close", arg="1e-5"):
    print(f"RESULT {name} {v} {rule} {arg}")


rng = np.random.default_rng(7)


class MyAdam(torch.optim.Optimizer):
    """Adam as people write it in blog posts: lerp_, mul_, addcmul_, addcdiv_."""

    def __init__(self, params, lr=1e-2, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["t"] = 0
                    state["m"] = torch.zeros_like(p)
                    state["v"] = torch.zeros_like(p)
                state["t"] += 1
                m, v, t = state["m"], state["v"], state["t"]
                m.lerp_(p.grad, 1 - b1)
                v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                denom = (v / (1 - b2 ** t)).sqrt().add_(group["eps"])
                p.addcdiv_(m, denom, value=-group["lr"] / (1 - b1 ** t))


def make_model():
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))
    with torch.no_grad():
        for i, p in enumerate(model.parameters()):
            p.copy_(torch.tensor(rng_w.normal(scale=0.3, size=tuple(p.shape)), dtype=torch.float32))
    return model


X = torch.tensor(rng.normal(size=(64, 6)), dtype=torch.float32)
Y = torch.tensor(rng.integers(0, 3, 64))
for name, make in [("myadam", lambda ps: MyAdam(ps, lr=0.02)),
                   ("nadam", lambda ps: torch.optim.NAdam(ps, lr=0.02)),
                   ("radam", lambda ps: torch.optim.RAdam(ps, lr=0.02, decoupled_weight_decay=True,
                                                          weight_decay=0.01)),
                   ("adamax", lambda ps: torch.optim.Adamax(ps, lr=0.02)),
                   ("adadelta", lambda ps: torch.optim.Adadelta(ps, lr=1.0))]:
    rng_w = np.random.default_rng(3)
    model = make_model()
    opt = make(model.parameters())
    for step in range(30):
        opt.zero_grad()
        loss = F.cross_entropy(model(X), Y)
        loss.backward()
        opt.step()
    R(f"{name}_final_loss", round(loss.item(), 5), "close", "1e-4")

# rotary-style angles and radii
pts = torch.tensor(rng.normal(size=(10, 2)), dtype=torch.float32, requires_grad=True)
angle = torch.atan2(pts[:, 1], pts[:, 0])
radius = torch.hypot(pts[:, 0], pts[:, 1])
(angle.sin() * radius + angle.cos()).sum().backward()
R("angle_sum", angle.sum().item())
R("radius_sum", radius.sum().item())
R("pts_grad", pts.grad.abs().sum().item(), "close", "1e-4")

# nearest neighbours
queries = torch.tensor(rng.normal(size=(5, 4)), dtype=torch.float32)
keys = torch.tensor(rng.normal(size=(9, 4)), dtype=torch.float32)
d = torch.cdist(queries, keys)
R("knn_idx", d.argmin(dim=1).tolist(), "equal", "-")
R("knn_dist", d.min(dim=1).values.sum().item(), "close", "1e-4")
cos = F.cosine_similarity(queries.unsqueeze(1), keys.unsqueeze(0), dim=-1)
R("cos_best", cos.argmax(dim=1).tolist(), "equal", "-")
R("cos_shape", tuple(cos.shape), "equal", "-")
R("pairwise", F.pairwise_distance(queries, keys[:5]).sum().item(), "close", "1e-4")
R("pairwise_mod", nn.PairwiseDistance(p=1.0)(queries, keys[:5]).sum().item(), "close", "1e-4")

# statistics with missing values
table = torch.tensor(rng.normal(size=(6, 3)), dtype=torch.float32)
table[1, 2] = float("nan")
table[4, 0] = float("nan")
R("nanmean", [round(v, 5) for v in table.nanmean(dim=0).tolist()], "equal", "-")
R("nansum", torch.nansum(table).item(), "close", "1e-5")
R("logaddexp", torch.logaddexp(table[0], table[2]).sum().item())
R("xlogy", [round(v, 6) for v in torch.xlogy(torch.tensor([0.0, 2.0]), torch.tensor([0.0, 3.0])).tolist()], "equal", "-")
R("logit", [round(v, 4) for v in torch.logit(torch.tensor([0.0, 0.25, 1.0]), eps=1e-3).tolist()], "equal", "-")

# RMSNorm in a tiny block
norm = nn.RMSNorm(4)
h = torch.tensor(rng.normal(size=(2, 3, 4)), dtype=torch.float32, requires_grad=True)
out = norm(h)
out.pow(2).mean().backward()
R("rms_out", out.abs().sum().item(), "close", "1e-4")
R("rms_grad", h.grad.abs().sum().item(), "close", "1e-5")
R("rms_f", F.rms_norm(h, (4,)).sum().item(), "close", "1e-4")

# queries a device-aware program makes
t = torch.zeros(3, 4)
R("device_checks", [t.is_cuda, t.is_cpu, t.get_device(), t.nbytes, t.ndimension()], "equal", "-")
parts = torch.tensor_split(torch.arange(10), 3)
R("tensor_split", [p.tolist() for p in parts], "equal", "-")
idx = torch.tensor([[2, 0], [1, 1]])
R("take_along_dim", torch.take_along_dim(torch.arange(6.0).reshape(2, 3), idx, dim=1).tolist(), "equal", "-")

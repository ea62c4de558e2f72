"""Gradients of piecewise activations exactly at their kinks, as hit by zero-initialised layers,
quantised / integer-valued inputs (pixels / 255 * 6, clamped features) and MobileNet-style blocks."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from _report import R


pts = torch.tensor([-3.0, -1.0, 0.0, 1.0, 3.0, 6.0])
acts = {
    "relu": F.relu, "relu6": F.relu6, "hardtanh": F.hardtanh, "hardsigmoid": F.hardsigmoid,
    "hardswish": F.hardswish, "softplus": F.softplus, "logsigmoid": F.logsigmoid,
    "leaky": lambda x: F.leaky_relu(x, 0.2), "elu": F.elu, "silu": F.silu, "gelu": F.gelu,
    "clamp": lambda x: x.clamp(-1.0, 1.0), "clamp_min": lambda x: x.clamp_min(0.0),
}
for name, f in acts.items():
    x = pts.clone().requires_grad_(True)
    f(x).sum().backward()
    R(f"kink_{name}", [round(v, 4) for v in x.grad.tolist()], "equal", "-")

# zero-initialised MobileNet-ish MLP: every pre-activation is exactly 0 at the start
rng = np.random.RandomState(14)
xb = torch.tensor(rng.randn(16, 4), dtype=torch.float32)
yb = torch.tensor(rng.randn(16, 1), dtype=torch.float32)
for act in [nn.ReLU6, nn.Hardswish, nn.Hardtanh, nn.Softplus]:
    net = nn.Sequential(nn.Linear(4, 8), act(), nn.Linear(8, 1))
    for p in net.parameters():
        nn.init.zeros_(p)
    with torch.no_grad():
        net[2].weight.fill_(0.5)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for step in range(10):
        loss = F.mse_loss(net(xb), yb)
        opt.zero_grad()
        loss.backward()
        if step == 0:
            R(f"zero_{act.__name__}_g0", net[0].weight.grad.abs().sum().item(), "close", 1e-5)
        opt.step()
    R(f"zero_{act.__name__}_loss", loss.item(), "close", 1e-4)

# quantised inputs: uint8 pixels scaled to [0, 6] land exactly on relu6's corners
pix = torch.tensor([[0, 51, 102, 255], [255, 0, 0, 128]], dtype=torch.uint8)
z = (pix.float() / 255 * 6).requires_grad_(True)
F.relu6(z).sum().backward()
R("pixels_relu6_grad", z.grad.tolist(), "equal", "-")

# gradient clipping by value: clamp boundaries
g = torch.tensor([-2.0, -1.0, 0.5, 1.0, 2.0], requires_grad=True)
F.hardtanh(g, -1.0, 1.0).sum().backward()
R("hardtanh_bounds", g.grad.tolist(), "equal", "-")

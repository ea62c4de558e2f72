"""Gradient penalty (create_graph), autograd.grad with allow_unused / grad_outputs, higher derivatives."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from _report import R, section

rng = np.random.RandomState(1)


class Critic(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(3, 8)
        self.l2 = nn.Linear(8, 1)
        with torch.no_grad():
            self.l1.weight.copy_(torch.tensor(rng.randn(8, 3) * 0.5, dtype=torch.float32))
            self.l1.bias.copy_(torch.tensor(rng.randn(8) * 0.1, dtype=torch.float32))
            self.l2.weight.copy_(torch.tensor(rng.randn(1, 8) * 0.5, dtype=torch.float32))
            self.l2.bias.zero_()

    def forward(self, x):
        return self.l2(F.softplus(self.l1(x)))


real = torch.tensor(rng.randn(6, 3), dtype=torch.float32)
fake = torch.tensor(rng.randn(6, 3), dtype=torch.float32)
alpha = torch.tensor(rng.rand(6, 1), dtype=torch.float32)


def gradient_penalty():
    D = Critic()
    opt = torch.optim.Adam(D.parameters(), lr=1e-2, betas=(0.5, 0.9))
    losses = []
    for step in range(5):
        interp = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        out = D(interp)
        grads = torch.autograd.grad(outputs=out, inputs=interp,
                                    grad_outputs=torch.ones_like(out),
                                    create_graph=True, retain_graph=True)[0]
        gp = ((grads.norm(2, dim=1) - 1) ** 2).mean()
        loss = D(fake).mean() - D(real).mean() + 10 * gp
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    for i, l in enumerate(losses):
        R(f"gp_loss{i}", l, "close", 1e-4)


def unused():
    a = torch.tensor([1.0, 2.0], requires_grad=True)
    b = torch.tensor([3.0, 4.0], requires_grad=True)
    y = (a ** 2).sum()
    ga, gb = torch.autograd.grad(y, [a, b], allow_unused=True)
    R("unused_ga", ga.sum().item())
    R("unused_gb_none", gb is None, "equal", "-")
    y = (a ** 2).sum()
    try:
        torch.autograd.grad(y, [a, b])
        R("unused_raises", False, "equal", "-")
    except RuntimeError:
        R("unused_raises", True, "equal", "-")
    y = (a ** 2).sum()
    ga, gb = torch.autograd.grad(y, [a, b], allow_unused=True, materialize_grads=True)
    R("materialize_gb", gb.abs().sum().item())
    # grad does not accumulate into .grad
    R("grad_untouched", a.grad is None, "equal", "-")


def grad_outputs():
    x = torch.tensor(rng.randn(3, 4), dtype=torch.float32, requires_grad=True)
    y = x.sigmoid() * x
    v = torch.tensor(rng.randn(3, 4), dtype=torch.float32)
    (g,) = torch.autograd.grad(y, x, grad_outputs=v)
    R("vjp", g.sum().item())
    # two outputs at once
    y1 = x.sum(1)
    y2 = (x ** 2).sum(0)
    g = torch.autograd.grad([y1, y2], x, grad_outputs=[torch.ones(3), torch.ones(4) * 0.5])[0]
    R("two_outputs", g.sum().item())


def higher():
    x = torch.tensor([0.3, -1.2, 2.0], requires_grad=True)
    y = torch.tanh(x) * x ** 3
    (g1,) = torch.autograd.grad(y.sum(), x, create_graph=True)
    (g2,) = torch.autograd.grad(g1.sum(), x, create_graph=True)
    (g3,) = torch.autograd.grad(g2.sum(), x)
    R("d1", g1.sum().item(), "close", 1e-4)
    R("d2", g2.sum().item(), "close", 1e-4)
    R("d3", g3.sum().item(), "close", 1e-3)
    R("g1_requires", g1.requires_grad, "equal", "-")
    # hessian-vector product by double backward
    w = torch.tensor(rng.randn(4), dtype=torch.float32, requires_grad=True)
    A = torch.tensor(rng.randn(4, 4), dtype=torch.float32)
    f = torch.log1p((A @ w).exp()).sum() + (w ** 4).sum()
    (g,) = torch.autograd.grad(f, w, create_graph=True)
    v = torch.ones(4)
    (hv,) = torch.autograd.grad(g, w, grad_outputs=v)
    R("hvp", hv.sum().item(), "close", 1e-3)
    # backward with create_graph then differentiate w.grad
    w2 = torch.tensor([1.0, 2.0], requires_grad=True)
    (w2 ** 3).sum().backward(create_graph=True)
    gg = w2.grad.sum()
    w2.grad = None
    gg.backward()
    R("backward_create_graph", w2.grad.sum().item())


for name, fn in [("gp", gradient_penalty), ("unused", unused), ("gradout", grad_outputs), ("higher", higher)]:
    section(name, fn)

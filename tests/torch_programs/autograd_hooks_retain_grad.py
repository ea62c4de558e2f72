"""retain_grad, hooks on intermediates, accumulation across backward calls, retain_graph, leaves."""
import numpy as np
import torch

from _report import R, section

torch.manual_seed(0)
rng = np.random.RandomState(0)


W = torch.tensor(rng.randn(4, 3), dtype=torch.float32)
xin = torch.tensor(rng.randn(5, 4), dtype=torch.float32)


def retain():
    w = W.clone().requires_grad_(True)
    h = xin @ w
    h.retain_grad()
    a = torch.tanh(h)
    a.retain_grad()
    loss = (a ** 2).sum()
    loss.backward()
    R("retain_h", h.grad.sum().item())
    R("retain_a", a.grad.abs().sum().item())
    R("w_grad", w.grad.sum().item())
    R("h_is_leaf", h.is_leaf, "equal", "-")
    R("w_is_leaf", w.is_leaf, "equal", "-")
    R("x_is_leaf", xin.is_leaf, "equal", "-")
    R("a_requires", a.requires_grad, "equal", "-")


def hooks():
    w = W.clone().requires_grad_(True)
    seen = []
    h = xin @ w
    h.register_hook(lambda g: seen.append(g.abs().sum().item()))
    h2 = h * 3
    handle = h2.register_hook(lambda g: g * 0.5)   # replace gradient
    loss = h2.relu().sum()
    loss.backward()
    R("hook_seen", seen[0])
    R("hook_wgrad", w.grad.sum().item())
    handle.remove()
    w.grad = None
    h = xin @ w
    h2 = h * 3
    loss = h2.relu().sum()
    loss.backward()
    R("hook_removed_wgrad", w.grad.sum().item())
    # hook on a leaf
    w.grad = None
    w.register_hook(lambda g: g.clamp(min=0))
    (xin @ w).sum().backward()
    R("leaf_hook_wgrad", w.grad.sum().item())


def accumulate():
    w = W.clone().requires_grad_(True)
    y = (xin @ w).sin().sum()
    y.backward(retain_graph=True)
    g1 = w.grad.clone()
    y.backward()
    R("accum_ratio", (w.grad / g1).mean().item())
    # second backward without retain_graph must fail in torch
    z = (xin @ w).exp().sum()
    z.backward()
    try:
        z.backward()
        R("second_backward_raises", False, "equal", "-")
    except RuntimeError:
        R("second_backward_raises", True, "equal", "-")
    # non-scalar backward with gradient argument
    w.grad.zero_()
    out = xin @ w
    out.backward(torch.ones_like(out) * 2)
    R("nonscalar_backward", w.grad.sum().item())
    try:
        (xin @ w).backward()
        R("nonscalar_no_grad_raises", False, "equal", "-")
    except RuntimeError:
        R("nonscalar_no_grad_raises", True, "equal", "-")


def detach_data():
    w = W.clone().requires_grad_(True)
    y = w * 2
    d = y.detach()
    R("detach_req", d.requires_grad, "equal", "-")
    d[0, 0] = 100.0     # shares memory with y
    R("detach_shares", y[0, 0].item())
    y2 = w * 3
    y2.detach_()
    R("detach_inplace_req", y2.requires_grad, "equal", "-")
    R("detach_inplace_leaf", y2.is_leaf, "equal", "-")
    # .data trick: modify parameter values without autograd
    p = W.clone().requires_grad_(True)
    (p ** 2).sum().backward()
    p.data.add_(p.grad, alpha=-0.1)
    R("data_update", p.sum().item())
    R("data_update_req", p.requires_grad, "equal", "-")
    # requires_grad_ on a non-leaf is an error in torch only when setting False
    q = torch.zeros(3)
    q.requires_grad_()
    R("req_grad_default", q.requires_grad, "equal", "-")
    r = q * 2
    try:
        r.requires_grad_(False)
        R("nonleaf_req_false_raises", False, "equal", "-")
    except RuntimeError:
        R("nonleaf_req_false_raises", True, "equal", "-")
    # grad of non-leaf without retain_grad is None
    w3 = W.clone().requires_grad_(True)
    m = w3 * 2
    m.sum().backward()
    R("nonleaf_grad_none", m.grad is None, "equal", "-")


for name, fn in [("retain", retain), ("hooks", hooks), ("accumulate", accumulate), ("detach", detach_data)]:
    section(name, fn)

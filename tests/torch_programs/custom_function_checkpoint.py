"""Custom autograd.Function (save_for_backward, needs_input_grad, non-tensor args) and checkpointing."""
import numpy as np
import torch
import torch.nn as nn

from _report import R, section

rng = np.random.RandomState(3)


class ScaledLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w, b, scale):
        ctx.save_for_backward(x, w)
        ctx.scale = scale
        ctx.has_bias = b is not None
        out = x.mm(w.t()) * scale
        if b is not None:
            out = out + b
        return out

    @staticmethod
    def backward(ctx, grad_out):
        x, w = ctx.saved_tensors
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = grad_out.mm(w) * ctx.scale
        if ctx.needs_input_grad[1]:
            gw = grad_out.t().mm(x) * ctx.scale
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = grad_out.sum(0)
        NEEDS.append(tuple(ctx.needs_input_grad))
        return gx, gw, gb, None


NEEDS = []


class ClampGrad(torch.autograd.Function):
    """straight-through round with clamped gradient"""
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.round()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x.abs() <= 1.5).to(g.dtype)


class SplitMax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        v, i = x.max(dim=1)
        ctx.save_for_backward(i)
        ctx.mark_non_differentiable(i)
        ctx.shape = x.shape
        return v, i

    @staticmethod
    def backward(ctx, gv, gi):
        (i,) = ctx.saved_tensors
        g = torch.zeros(ctx.shape, dtype=gv.dtype)
        g.scatter_(1, i.unsqueeze(1), gv.unsqueeze(1))
        return g


def custom():
    x = torch.tensor(rng.randn(4, 3), dtype=torch.float32, requires_grad=True)
    w = torch.tensor(rng.randn(2, 3), dtype=torch.float32, requires_grad=True)
    b = torch.tensor(rng.randn(2), dtype=torch.float32, requires_grad=True)
    out = ScaledLinear.apply(x, w, b, 0.5)
    (out ** 2).sum().backward()
    R("cf_x", x.grad.sum().item())
    R("cf_w", w.grad.sum().item())
    R("cf_b", b.grad.sum().item())
    R("cf_needs0", NEEDS[-1], "equal", "-")
    x2 = torch.tensor(rng.randn(4, 3), dtype=torch.float32)
    out = ScaledLinear.apply(x2, w, None, 2.0)
    out.sum().backward()
    R("cf_needs1", NEEDS[-1], "equal", "-")
    R("cf_w2", w.grad.sum().item())
    y = torch.tensor([-2.2, -0.6, 0.4, 1.4, 3.1], requires_grad=True)
    z = ClampGrad.apply(y * 1.0)
    (z * torch.arange(5.0)).sum().backward()
    R("ste_grad", y.grad.tolist(), "equal", "-")
    R("ste_out", z.tolist(), "equal", "-")
    m = torch.tensor(rng.randn(3, 5), dtype=torch.float32, requires_grad=True)
    v, i = SplitMax.apply(m)
    R("split_i_req", i.requires_grad, "equal", "-")
    (v * 3).sum().backward()
    R("split_grad", m.grad.sum().item())
    R("split_grad_nnz", int((m.grad != 0).sum()), "equal", "-")
    # gradcheck with double precision
    inp = (torch.tensor(rng.randn(3, 2), dtype=torch.float64, requires_grad=True),
           torch.tensor(rng.randn(4, 2), dtype=torch.float64, requires_grad=True),
           torch.tensor(rng.randn(4), dtype=torch.float64, requires_grad=True), 1.5)
    ok = torch.autograd.gradcheck(ScaledLinear.apply, inp, eps=1e-6, atol=1e-4)
    R("gradcheck", ok, "equal", "-")


def checkpointing():
    from torch.utils.checkpoint import checkpoint
    blocks = nn.ModuleList([nn.Sequential(nn.Linear(6, 6), nn.GELU()) for _ in range(3)])
    with torch.no_grad():
        for p in blocks.parameters():
            p.copy_(torch.tensor(rng.randn(*p.shape) * 0.4, dtype=torch.float32))
    x = torch.tensor(rng.randn(5, 6), dtype=torch.float32, requires_grad=True)
    h = x
    for blk in blocks:
        h = checkpoint(blk, h, use_reentrant=False)
    h.pow(2).mean().backward()
    g_ckpt = [p.grad.clone() for p in blocks.parameters()]
    gx = x.grad.clone()
    for p in blocks.parameters():
        p.grad = None
    x.grad = None
    h = x
    for blk in blocks:
        h = blk(h)
    h.pow(2).mean().backward()
    diff = max((a - p.grad).abs().max().item() for a, p in zip(g_ckpt, blocks.parameters()))
    R("ckpt_param_diff", diff, "max", 1e-6)
    R("ckpt_x_diff", (gx - x.grad).abs().max().item(), "max", 1e-6)
    R("ckpt_gx", gx.sum().item())


for name, fn in [("custom", custom), ("ckpt", checkpointing)]:
    section(name, fn)

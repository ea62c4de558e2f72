"""float16 / bfloat16 arithmetic, casts, reductions and a tiny half-precision forward/backward."""
import numpy as np
import torch
import torch.nn.functional as F

from _report import R, dt, section

rng = np.random.RandomState(8)


def fp16():
    x = torch.tensor([1.0, 2049.0, 65504.0, 1e-4, 3.14159], dtype=torch.float16)
    R("f16_vals", x.tolist(), "equal", "-")
    R("f16_overflow", (x * 2).tolist(), "equal", "-")
    R("f16_add_small", (torch.tensor(2048.0, dtype=torch.float16) + 1).item(), "equal", "-")
    R("f16_div", (x / 3).tolist(), "equal", "-")
    a = torch.tensor(rng.randn(1000), dtype=torch.float16)
    R("f16_sum", a.sum().item(), "equal", "-")
    R("f16_mean", a.mean().item(), "equal", "-")
    R("f16_cumsum_last", a.cumsum(0)[-1].item(), "close", 0.05)
    R("f16_std", a.std().item(), "equal", "-")
    R("f16_max", a.max().item(), "equal", "-")
    R("f16_exp", a[:5].exp().tolist(), "equal", "-")
    R("f16_sigmoid", a[:5].sigmoid().tolist(), "equal", "-")
    R("f16_softmax", F.softmax(a[:6], 0).tolist(), "equal", "-")
    m = torch.tensor(rng.randn(8, 16), dtype=torch.float16)
    w = torch.tensor(rng.randn(16, 4), dtype=torch.float16)
    R("f16_matmul", (m @ w).float().sum().item(), "close", 0.02)
    R("f16_to_f32_back", torch.tensor([0.1], dtype=torch.float32).half().float().item(), "equal", "-")
    R("f16_finfo", [torch.finfo(torch.float16).eps, torch.finfo(torch.float16).max], "equal", "-")
    R("f16_isinf", torch.isinf(torch.tensor([70000.0]).half()).item(), "equal", "-")
    R("f16_int_cast", torch.tensor([2.7, -2.7], dtype=torch.float16).int().tolist(), "equal", "-")


def bf16():
    x = torch.tensor([1.0, 257.0, 3.14159, 1e-3, 1e30])
    b = x.to(torch.bfloat16)
    R("bf16_vals", b.float().tolist(), "equal", "-")
    R("bf16_dtype", dt(b.dtype), "equal", "-")
    R("bf16_add", (b + 1).float().tolist(), "equal", "-")
    R("bf16_mul_f16", dt((b * torch.ones(5, dtype=torch.float16)).dtype), "equal", "-")
    R("bf16_plus_f32", dt((b + x).dtype), "equal", "-")
    a = torch.tensor(rng.randn(500), dtype=torch.bfloat16)
    R("bf16_sum", a.sum().float().item(), "equal", "-")
    R("bf16_mean", a.mean().float().item(), "equal", "-")
    R("bf16_finfo_eps", torch.finfo(torch.bfloat16).eps, "equal", "-")
    R("bf16_roundtrip", torch.tensor([1.00390625]).bfloat16().float().item(), "equal", "-")
    R("bf16_is_float", b.is_floating_point(), "equal", "-")


def half_training():
    w = torch.tensor(rng.randn(6, 3) * 0.3, dtype=torch.float32, requires_grad=True)
    xb = torch.tensor(rng.randn(10, 6), dtype=torch.float32)
    y = torch.tensor(rng.randint(0, 3, size=10))
    for dtype, tag in [(torch.float16, "f16"), (torch.bfloat16, "bf16")]:
        w.grad = None
        logits = xb.to(dtype) @ w.to(dtype)
        loss = F.cross_entropy(logits.float(), y)
        loss.backward()
        R(f"{tag}_ce", loss.item(), "close", 1e-2)
        R(f"{tag}_grad_dtype", dt(w.grad.dtype), "equal", "-")
        R(f"{tag}_grad", w.grad.sum().item(), "close", 1e-2)
        wh = w.detach().to(dtype).requires_grad_()
        out = torch.tanh(xb.to(dtype) @ wh).sum()
        out.backward()
        R(f"{tag}_leaf_grad_dtype", dt(wh.grad.dtype), "equal", "-")
        R(f"{tag}_leaf_grad", wh.grad.float().sum().item(), "close", 0.1)


for name, fn in [("fp16", fp16), ("bf16", bf16), ("halftrain", half_training)]:
    section(name, fn)

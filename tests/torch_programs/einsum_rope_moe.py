# nanoGPT / LLaMA style block written by hand: einsum attention, RoPE, RMSNorm, causal buffer, MoE
import math
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
B, T, C, H = 2, 5, 16, 4
hd = C // H

class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight

def rope_cache(T, hd, base=10000.0):
    inv = 1.0 / (base ** (torch.arange(0, hd, 2).float() / hd))
    freqs = torch.outer(torch.arange(T).float(), inv)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos()[None, None], emb.sin()[None, None]

def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)

class Attention(nn.Module):
    def __init__(self, block=8):
        super().__init__()
        self.qkv = nn.Linear(C, 3 * C, bias=False)
        self.proj = nn.Linear(C, C, bias=False)
        self.norm = RMSNorm(C)
        self.register_buffer("bias", torch.tril(torch.ones(block, block)).view(1, 1, block, block))

    def forward(self, x, pad_mask=None):
        Bx, Tx, _ = x.shape
        q, k, v = self.qkv(self.norm(x)).split(C, dim=2)
        q = q.view(Bx, Tx, H, hd).transpose(1, 2)
        k = k.view(Bx, Tx, H, hd).transpose(1, 2)
        v = v.view(Bx, Tx, H, hd).transpose(1, 2)
        cos, sin = rope_cache(Tx, hd)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        att = torch.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(hd)
        att = att.masked_fill(self.bias[:, :, :Tx, :Tx] == 0, torch.finfo(att.dtype).min)
        if pad_mask is not None:
            att = att.masked_fill(~pad_mask[:, None, None, :], float("-inf"))
        att = F.softmax(att, dim=-1, dtype=torch.float32).type_as(q)
        y = torch.einsum("bhqk,bhkd->bhqd", att, v)
        y = y.transpose(1, 2).contiguous().view(Bx, Tx, C)
        return x + self.proj(y), att

def init(m, seed):
    r = np.random.default_rng(seed)
    with torch.no_grad():
        for n, p in m.named_parameters():
            if "norm" not in n:
                p.copy_(torch.tensor(r.standard_normal(tuple(p.shape)).astype(np.float32) * 0.3))

attn = Attention()
init(attn, 1)
x = torch.tensor(np.random.default_rng(2).standard_normal((B, T, C)).astype(np.float32), requires_grad=True)
pad = torch.tensor([[True] * 5, [True, True, True, False, False]])
y, att = attn(x, pad)
print("RESULT y_sum", round(y.pow(2).sum().item(), 3), "close 1e-2")
print("RESULT causal_zero", round(torch.triu(att, 1).abs().sum().item(), 6), "close 1e-6")
print("RESULT pad_cols_zero", round(att[1, :, :, 3:].abs().sum().item(), 6), "close 1e-6")
y.sum().backward()
print("RESULT x_grad", round(x.grad.abs().sum().item(), 3), "close 1e-2")
print("RESULT qkv_grad", round(attn.qkv.weight.grad.abs().sum().item(), 3), "close 1e-2")

# Mixtral-style top-2 mixture-of-experts feed-forward (HF uses index_add_ like this)
class MoE(nn.Module):
    def __init__(self, n_exp=4, k=2):
        super().__init__()
        self.k = k
        self.gate = nn.Linear(C, n_exp, bias=False)
        self.experts = nn.ModuleList(nn.Sequential(nn.Linear(C, 2 * C), nn.SiLU(), nn.Linear(2 * C, C))
                                     for _ in range(n_exp))

    def forward(self, x):
        flat = x.reshape(-1, C)
        probs = self.gate(flat).softmax(-1)
        w, sel = torch.topk(probs, self.k, dim=-1)
        w = w / w.sum(-1, keepdim=True)
        out = torch.zeros_like(flat)
        for e, expert in enumerate(self.experts):
            tok, slot = torch.where(sel == e)
            if tok.numel() > 0:
                out.index_add_(0, tok, w[tok, slot, None] * expert(flat[tok]))
        aux = (probs.mean(0) * F.one_hot(sel[:, 0], probs.size(-1)).float().mean(0)).sum() * probs.size(-1)
        return out.view_as(x), aux

moe = MoE()
init(moe, 3)
xm = x.detach().clone().requires_grad_(True)
ym, aux = moe(xm)
print("RESULT moe_out", round(ym.pow(2).sum().item(), 3), "close 1e-2")
print("RESULT moe_requires_grad", ym.requires_grad, "equal -")
(ym.pow(2).mean() + 0.01 * aux).backward()
print("RESULT moe_expert_grad", round(sum(p.grad.abs().sum().item() for p in moe.experts.parameters() if p.grad is not None), 4), "close 1e-3")
print("RESULT moe_gate_grad", round(moe.gate.weight.grad.abs().sum().item(), 4), "close 1e-3")
print("RESULT moe_x_grad", round(xm.grad.abs().sum().item(), 4), "close 1e-3")

# the same combine written with indexing assignment
out = torch.zeros(B * T, C)
flat = xm.reshape(-1, C)
out[pad.reshape(-1)] = moe.experts[0](flat[pad.reshape(-1)])
print("RESULT setitem_requires_grad", out.requires_grad, "equal -")

# scaled QK^T in one fused call (as in HF GPT-2 / BLOOM)
z = torch.arange(24.0).view(2, 3, 4)
print("RESULT baddbmm", round(torch.baddbmm(torch.zeros(2, 3, 3), z, z.transpose(1, 2), beta=0.0, alpha=0.5).sum().item(), 2), "close 1e-2")

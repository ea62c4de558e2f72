"""Tiny GPT-style char model: AdamW + warmup/cosine schedule + grad clipping, then greedy and top-k sampling."""
import math
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from _report import R

torch.manual_seed(0)
text = ("the quick brown fox jumps over the lazy dog. " * 8 +
        "pack my box with five dozen liquor jugs. " * 8)
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
V, T, C, H, L = len(chars), 16, 32, 4, 2


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(C)
        self.qkv = nn.Linear(C, 3 * C)
        self.proj = nn.Linear(C, C)
        self.ln2 = nn.LayerNorm(C)
        self.mlp = nn.Sequential(nn.Linear(C, 4 * C), nn.GELU(approximate="tanh"), nn.Linear(4 * C, C))
        self.register_buffer("mask", torch.tril(torch.ones(T, T)).view(1, 1, T, T), persistent=False)

    def forward(self, x):
        B, t, _ = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q = q.view(B, t, H, C // H).transpose(1, 2)
        k = k.view(B, t, H, C // H).transpose(1, 2)
        v = v.view(B, t, H, C // H).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.mask[:, :, :t, :t] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, t, C)
        x = x + self.proj(y)
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(V, C)
        self.pos = nn.Embedding(T, C)
        self.blocks = nn.ModuleList([Block() for _ in range(L)])
        self.ln_f = nn.LayerNorm(C)
        self.head = nn.Linear(C, V, bias=False)
        self.head.weight = self.tok.weight          # weight tying

    def forward(self, idx, targets=None):
        B, t = idx.shape
        x = self.tok(idx) + self.pos(torch.arange(t))
        for b in self.blocks:
            x = b(x)
        logits = self.head(self.ln_f(x))
        loss = None if targets is None else F.cross_entropy(logits.view(-1, V), targets.view(-1))
        return logits, loss


model = GPT()
rng = np.random.RandomState(0)
with torch.no_grad():
    for name, p in model.named_parameters():
        if p.dim() >= 2:
            p.copy_(torch.tensor(rng.randn(*p.shape) * 0.05, dtype=torch.float32))
        elif name.endswith("weight"):
            p.fill_(1.0)
        else:
            p.zero_()
R("n_params", sum(p.numel() for p in model.parameters()), "equal", "-")

decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                        lr=3e-3, betas=(0.9, 0.95))
steps, warm = 30, 5
sched = torch.optim.lr_scheduler.LambdaLR(
    opt, lambda s: (s + 1) / warm if s < warm else 0.5 * (1 + math.cos(math.pi * (s - warm) / (steps - warm))))
starts = np.random.RandomState(1).randint(0, len(data) - T - 1, size=(steps, 8))
for step in range(steps):
    ix = torch.tensor(starts[step])
    xb = torch.stack([data[i:i + T] for i in ix])
    yb = torch.stack([data[i + 1:i + T + 1] for i in ix])
    _, loss = model(xb, yb)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    if step % 5 == 0 or step == steps - 1:
        R(f"loss{step}", loss.item(), "close", 2e-3)
        R(f"gnorm{step}", float(gn), "close", 2e-3)
R("final_lr", sched.get_last_lr()[0], "close", 1e-9)

model.eval()


@torch.no_grad()
def generate(idx, n, temperature=1.0, top_k=None, greedy=False):
    for _ in range(n):
        logits, _ = model(idx[:, -T:])
        logits = logits[:, -1, :] / temperature
        if top_k is not None:
            v, _ = torch.topk(logits, top_k)
            logits[logits < v[:, [-1]]] = -float("inf")
        probs = F.softmax(logits, dim=-1)
        nxt = probs.argmax(-1, keepdim=True) if greedy else torch.multinomial(probs, 1)
        idx = torch.cat((idx, nxt), dim=1)
    return idx


ctx = torch.tensor([[stoi[c] for c in "the qu"]])
g = generate(ctx, 20, greedy=True)
R("greedy", "".join(chars[i] for i in g[0].tolist()).replace(" ", "_"), "equal", "-")
torch.manual_seed(3)
s = generate(ctx, 20, temperature=0.8, top_k=3)
R("sample_len", s.shape[1], "equal", "-")
R("sample_in_vocab", int(((s >= 0) & (s < V)).all()), "equal", "-")
logits, _ = model(ctx)
v, _ = torch.topk(logits[:, -1, :], 3)
R("top3_logit", v[0, 0].item(), "close", 2e-3)
R("tied", model.head.weight is model.tok.weight, "equal", "-")

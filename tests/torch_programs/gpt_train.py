"""A small GPT trained on a repeating character pattern, nanoGPT style: token and position
embeddings, pre-norm blocks with causal self-attention through F.scaled_dot_product_attention,
AdamW with weight decay groups, gradient clipping, warmup + cosine schedule, greedy generation."""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
rng = np.random.default_rng(0)
text = "the quick brown fox jumps over the lazy dog. " * 40
chars = sorted(set(text))
stoi = {c: i for i, c in enumerate(chars)}
data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
vocab, block, d_model, n_head, n_layer = len(chars), 16, 32, 4, 2


class CausalSelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.c_attn = nn.Linear(d_model, 3 * d_model)
        self.c_proj = nn.Linear(d_model, d_model)

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(d_model, dim=2)
        q = q.view(B, T, n_head, C // n_head).transpose(1, 2)
        k = k.view(B, T, n_head, C // n_head).transpose(1, 2)
        v = v.view(B, T, n_head, C // n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1, self.attn = nn.LayerNorm(d_model), CausalSelfAttention()
        self.ln_2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(approximate="tanh"),
                                 nn.Linear(4 * d_model, d_model))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d_model), nn.Embedding(block, d_model)
        self.h = nn.ModuleList([Block() for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(d_model)
        self.lm_head = nn.Linear(d_model, vocab, bias=False)

    def forward(self, idx, targets=None):
        pos = torch.arange(0, idx.size(1), dtype=torch.long)
        x = self.wte(idx) + self.wpe(pos)
        for blk in self.h:
            x = blk(x)
        logits = self.lm_head(self.ln_f(x))
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        return logits, loss


model = GPT()
# the same initial weights in both runs: drawn by NumPy, in parameter order
with torch.no_grad():
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            p.zero_()
        elif "ln" in name:
            p.fill_(1.0)
        else:
            p.copy_(torch.from_numpy(rng.normal(0, 0.02, tuple(p.shape)).astype(np.float32)))
decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                               {"params": no_decay, "weight_decay": 0.0}], lr=1e-2, betas=(0.9, 0.95))
steps, warmup = 120, 10
scheduler = torch.optim.lr_scheduler.LambdaLR(
    optimizer, lambda s: (s + 1) / warmup if s < warmup else
    0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (s - warmup) / (steps - warmup))))

starts = rng.integers(0, len(data) - block - 1, size=(steps, 16))
for step in range(steps):
    ix = torch.from_numpy(starts[step])
    xb = torch.stack([data[i:i + block] for i in ix.tolist()])
    yb = torch.stack([data[i + 1:i + 1 + block] for i in ix.tolist()])
    _, loss = model(xb, yb)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    scheduler.step()
    if step == 0:
        first_loss = loss.item()

model.eval()
with torch.no_grad():
    idx = data[:10].view(1, -1)
    for _ in range(20):
        logits, _ = model(idx[:, -block:])
        nxt = torch.argmax(logits[:, -1, :], dim=-1, keepdim=True)
        idx = torch.cat((idx, nxt), dim=1)
sample = "".join(chars[i] for i in idx[0].tolist())

print(f"RESULT first_loss {first_loss:.5f} close 1e-4")
print(f"RESULT final_loss {loss.item():.4f} close 1e-2")
print(f"RESULT final_loss_low {loss.item():.4f} max 1.0")
print(f"RESULT last_lr {scheduler.get_last_lr()[0]:.6f} close 1e-9")
print(f"RESULT params {sum(p.numel() for p in model.parameters())} equal -")
print(f"RESULT sample_ok {int(sample.startswith('the quick brown fox jumps'))} equal -")

# AdamW with no-decay groups, gradient accumulation, clipping, optimizer checkpointing
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
V, D, T = 10, 16, 6

class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.ln1 = nn.LayerNorm(D)
        self.attn = nn.MultiheadAttention(D, 2, batch_first=True)
        self.ln2 = nn.LayerNorm(D)
        self.mlp = nn.Sequential(nn.Linear(D, 4 * D), nn.GELU(approximate="tanh"), nn.Linear(4 * D, D))
        self.head = nn.Linear(D, V)

    def forward(self, ids):
        x = self.emb(ids)
        h = self.ln1(x)
        mask = torch.triu(torch.ones(ids.size(1), ids.size(1), dtype=torch.bool), 1)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        x = x + self.mlp(self.ln2(x))
        return self.head(x)

def build():
    m = Block()
    r = np.random.default_rng(5)
    with torch.no_grad():
        for n, p in m.named_parameters():
            p.copy_(torch.tensor(r.standard_normal(tuple(p.shape)).astype(np.float32) * 0.2))
    return m

def groups(model, wd):
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.dim() < 2 or "ln" in n or n.endswith(".bias") else decay).append(p)
    return [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]

data = torch.tensor(np.random.default_rng(9).integers(0, V, (8, T + 1)))
model = build()
pg = groups(model, 0.1)
print("RESULT n_decay", len(pg[0]["params"]), "equal -")
print("RESULT n_nodecay", len(pg[1]["params"]), "equal -")
opt = torch.optim.AdamW(pg, lr=3e-3, betas=(0.9, 0.95), eps=1e-8)
print("RESULT default_amsgrad", opt.param_groups[0]["amsgrad"], "equal -")
print("RESULT group_keys", ",".join(sorted(k for k in opt.param_groups[1] if k in ("lr", "betas", "eps", "weight_decay", "amsgrad", "params"))), "equal -")

accum = 4
norms = []
for step in range(3):
    opt.zero_grad(set_to_none=True)
    for micro in range(accum):
        batch = data[micro * 2:(micro + 1) * 2]
        logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, V), batch[:, 1:].reshape(-1)) / accum
        loss.backward()
    total_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=0.5)
    norms.append(total_norm.item())
    opt.step()
print("RESULT norms", ",".join(f"{n:.4f}" for n in norms), "equal -")
print("RESULT norm_type", type(total_norm).__name__, "equal -")
clipped = torch.sqrt(sum(p.grad.pow(2).sum() for p in model.parameters()))
print("RESULT clipped_norm", round(clipped.item(), 4), "close 1e-3")
with torch.no_grad():
    full = F.cross_entropy(model(data[:, :-1]).reshape(-1, V), data[:, 1:].reshape(-1))
print("RESULT loss_after", round(full.item(), 4), "close 1e-3")
print("RESULT ln_weight", round(model.ln1.weight.sum().item(), 4), "close 1e-3")

# accumulation equals one big batch
m1, m2 = build(), build()
for p in m1.parameters():
    p.grad = None
for i in range(4):
    b = data[2 * i:2 * i + 2]
    (F.cross_entropy(m1(b[:, :-1]).reshape(-1, V), b[:, 1:].reshape(-1)) / 4).backward()
F.cross_entropy(m2(data[:, :-1]).reshape(-1, V), data[:, 1:].reshape(-1)).backward()
diff = max((a.grad - b.grad).abs().max().item() for a, b in zip(m1.parameters(), m2.parameters()))
print("RESULT accum_equal", round(diff, 6), "close 1e-5")

# zero_grad() default sets grads to None
opt1 = torch.optim.SGD(m1.parameters(), lr=0.1)
opt1.zero_grad()
print("RESULT grad_none", m1.head.weight.grad is None, "equal -")

# clip_grad_value_, inf norm, and error_if_nonfinite
m2.head.weight.grad[0, 0] = 5.0
torch.nn.utils.clip_grad_value_(m2.parameters(), clip_value=0.01)
print("RESULT clip_value_max", round(max(p.grad.abs().max().item() for p in m2.parameters()), 6), "close 1e-7")
inf_norm = torch.nn.utils.clip_grad_norm_(m2.parameters(), max_norm=1.0, norm_type=float("inf"))
print("RESULT inf_norm", round(inf_norm.item(), 6), "close 1e-7")

# optimizer checkpoint: save, reload into fresh objects, continue identically
import os
import tempfile
path = os.path.join(tempfile.mkdtemp(), "ckpt.pt")
torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": 3}, path)
ck = torch.load(path, map_location="cpu")
model_b = build()
model_b.load_state_dict(ck["model"])
opt_b = torch.optim.AdamW(groups(model_b, 0.1), lr=3e-3, betas=(0.9, 0.95))
opt_b.load_state_dict(ck["opt"])
print("RESULT opt_state_step", float(opt_b.state_dict()["state"][0]["step"]), "equal -")
print("RESULT n_state", len(opt_b.state_dict()["state"]), "equal -")
for m, o in ((model, opt), (model_b, opt_b)):
    o.zero_grad()
    F.cross_entropy(m(data[:, :-1]).reshape(-1, V), data[:, 1:].reshape(-1)).backward()
    o.step()
print("RESULT resume_same", round(max((a - b).abs().max().item() for a, b in zip(model.parameters(), model_b.parameters())), 7), "close 1e-6")

# speed knobs copied from nanoGPT / build-nanogpt training scripts
torch.backends.cuda.matmul.allow_tf32 = True
torch.set_float32_matmul_precision("high")
print("RESULT precision", torch.get_float32_matmul_precision(), "equal -")

"""MultiheadAttention with masks, scaled_dot_product_attention, no-decay parameter groups, grad accumulation."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

def R(name, v, rule="close", arg="1e-5"):
    print(f"RESULT {name} {v} {rule} {arg}")

rng = np.random.default_rng(9)
T = lambda *s: torch.tensor(rng.normal(size=s), dtype=torch.float32)
q, k, v = T(2, 4, 5, 8), T(2, 4, 6, 8), T(2, 4, 6, 8)
R("sdpa", F.scaled_dot_product_attention(q, k, v).sum().item(), "close", "1e-4")
bm = torch.ones(5, 6, dtype=torch.bool).tril()
R("sdpa_boolmask", F.scaled_dot_product_attention(q, k, v, attn_mask=bm).sum().item(), "close", "1e-4")
R("sdpa_causal", F.scaled_dot_product_attention(q, q, q, is_causal=True).sum().item(), "close", "1e-4")
R("sdpa_scale", F.scaled_dot_product_attention(q, k, v, scale=0.1).sum().item(), "close", "1e-4")
mha = nn.MultiheadAttention(8, 2, batch_first=True)
R("mha_param_names", sorted(n for n, _ in mha.named_parameters()), "equal", "-")
with torch.no_grad():
    for i, (n, p) in enumerate(sorted(mha.named_parameters())):
        p.copy_(torch.tensor(np.sin(np.arange(p.numel()) * 0.37 + i).reshape(p.shape) * 0.3, dtype=torch.float32))
x = T(2, 5, 8)
kpm = torch.tensor([[False] * 5, [False, False, False, True, True]])
out, w = mha(x, x, x, key_padding_mask=kpm)
R("mha_out", out.sum().item(), "close", "1e-4")
R("mha_w_shape", tuple(w.shape), "equal", "-")
R("mha_w_masked", w[1, :, 3:].abs().sum().item(), "equal", "-")
out2, w2 = mha(x, x, x, need_weights=True, average_attn_weights=False, attn_mask=torch.triu(torch.ones(5, 5, dtype=torch.bool), 1))
R("mha_heads_w", tuple(w2.shape), "equal", "-")
R("mha_causal_out", out2.sum().item(), "close", "1e-4")
out3, w3 = mha(x, x, x, need_weights=False)
R("mha_no_weights", w3 is None, "equal", "-")
# decay / no-decay groups by name
model = nn.Sequential(nn.Linear(8, 16), nn.LayerNorm(16), nn.GELU(), nn.Linear(16, 1))
with torch.no_grad():
    for i, p in enumerate(model.parameters()):
        p.copy_(torch.tensor(np.cos(np.arange(p.numel()) * 0.5 + i).reshape(p.shape) * 0.2, dtype=torch.float32))
decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
R("group_sizes", (len(decay), len(no_decay)), "equal", "-")
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-2)
X, Y = T(32, 8), T(32, 1)
for step in range(20):
    for mb in range(4):                 # gradient accumulation over 4 micro-batches
        loss = F.mse_loss(model(X[mb * 8:(mb + 1) * 8]), Y[mb * 8:(mb + 1) * 8]) / 4
        loss.backward()
    if step == 0:
        R("accum_grad", model[0].weight.grad.sum().item(), "close", "1e-5")
    opt.step()
    opt.zero_grad(set_to_none=True)
R("grad_none_after_zero", model[0].weight.grad is None, "equal", "-")
R("accum_final_loss", F.mse_loss(model(X), Y).item(), "close", "1e-4")
# manual update with no_grad and in-place on params
lin = nn.Linear(3, 1)
with torch.no_grad():
    lin.weight.fill_(0.5); lin.bias.zero_()
for _ in range(5):
    l = (lin(torch.ones(4, 3)) - 2).pow(2).mean()
    lin.zero_grad()
    l.backward()
    with torch.no_grad():
        for p in lin.parameters():
            p -= 0.05 * p.grad
R("manual_sgd_w", lin.weight[0, 0].item())
R("param_is_leaf", (lin.weight.is_leaf, lin.weight.requires_grad), "equal", "-")
R("gelu_tanh", F.gelu(torch.tensor([0.5, -1.0]), approximate="tanh").sum().item())
R("softmax_dim", F.softmax(x, dim=-1).sum(-1).mean().item())
emb = nn.Embedding.from_pretrained(torch.arange(12.0).view(4, 3), freeze=True)
R("emb_frozen", (emb(torch.tensor([[1, 3]])).tolist(), emb.weight.requires_grad), "equal", "-")
R("one_hot", F.one_hot(torch.tensor([0, 2]), num_classes=4).tolist(), "equal", "-")
R("pad", F.pad(torch.ones(2, 2), (1, 0, 0, 2), value=3.0).sum().item(), "equal", "-")
R("normalize", F.normalize(x, dim=-1).norm(dim=-1).mean().item())

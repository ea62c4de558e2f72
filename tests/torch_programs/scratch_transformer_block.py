# "Annotated Transformer"-style model written from scratch: PE buffer, tied embeddings,
# hand-written LayerNorm, masked_fill(mask == 0, -1e9), training loop with logging
import copy
import math
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
V, D, H, N = 12, 16, 4, 2


class PositionalEncoding(nn.Module):
    def __init__(self, d_model, max_len=64):
        super().__init__()
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * -(math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe.unsqueeze(0))
        self.register_buffer("scratch", torch.ones(3), persistent=False)

    def forward(self, x):
        return x + self.pe[:, : x.size(1)].requires_grad_(False)


class LayerNorm(nn.Module):
    def __init__(self, features, eps=1e-6):
        super().__init__()
        self.a_2 = nn.Parameter(torch.ones(features))
        self.b_2 = nn.Parameter(torch.zeros(features))
        self.eps = eps

    def forward(self, x):
        mean = x.mean(-1, keepdim=True)
        var = x.var(-1, keepdim=True, unbiased=False)
        return self.a_2 * (x - mean) / torch.sqrt(var + self.eps) + self.b_2


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.qkv = nn.Linear(D, 3 * D)
        self.o = nn.Linear(D, D)
        self.ff = nn.Sequential(nn.Linear(D, 2 * D), nn.ReLU(), nn.Linear(2 * D, D))
        self.n1, self.n2 = LayerNorm(D), LayerNorm(D)

    def forward(self, x, mask):
        B, T, _ = x.shape
        q, k, v = self.qkv(self.n1(x)).view(B, T, 3, H, D // H).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-2, -1) / math.sqrt(D // H)
        scores = scores.masked_fill(mask == 0, -1e9)
        x = x + self.o((scores.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D))
        return x + self.ff(self.n2(x))


class LM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D, padding_idx=0)
        self.pos = PositionalEncoding(D)
        self.layers = nn.ModuleList([copy.deepcopy(Layer()) for _ in range(N)])
        self.norm = LayerNorm(D)
        self.out = nn.Linear(D, V, bias=False)
        self.out.weight = self.emb.weight

    def forward(self, ids):
        T = ids.size(1)
        mask = (ids != 0).unsqueeze(1).unsqueeze(2) & torch.tril(torch.ones(T, T)).bool()
        x = self.pos(self.emb(ids) * math.sqrt(D))
        for layer in self.layers:
            x = layer(x, mask)
        return self.out(self.norm(x))


model = LM()
r = np.random.default_rng(0)
with torch.no_grad():
    for n, p in model.named_parameters():
        if not (n.endswith("a_2") or n.endswith("b_2")):
            p.copy_(torch.tensor(r.standard_normal(tuple(p.shape)).astype(np.float32) * 0.2))
    model.emb.weight[0].zero_()
print("RESULT pe_sum", round(model.pos.pe.sum().item(), 3), "close 1e-2")
print("RESULT pe_5_3", round(model.pos.pe[0, 5, 3].item(), 5), "close 1e-5")
print("RESULT sd_keys", len(model.state_dict()), "equal -")
print("RESULT n_params", sum(p.numel() for p in model.parameters()), "equal -")
print("RESULT buffers_double", str(copy.deepcopy(model).double().pos.scratch.dtype).replace("torch.", ""), "equal -")

ids = torch.tensor([[1, 5, 7, 2, 9, 0, 0], [3, 3, 9, 11, 4, 6, 0]])
opt = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.9, 0.98), eps=1e-9)
log = []
for step in range(15):
    logits = model(ids[:, :-1])
    loss = F.cross_entropy(logits.reshape(-1, V), ids[:, 1:].reshape(-1), ignore_index=0, label_smoothing=0.1)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if step % 5 == 0:
        log.append(f"step {step} loss {loss:.4f}")
print("RESULT final_loss", round(loss.item(), 4), "close 1e-3")
print("RESULT pad_row", round(model.emb.weight[0].abs().sum().item(), 5), "close 1e-4")
print("RESULT log", "|".join(log).replace(" ", "_"), "equal -")

# run the model under autocast on whatever device the inputs are on
with torch.autocast(device_type=ids.device.type, dtype=torch.bfloat16):
    lg = model(ids)
print("RESULT autocast_dtype", str(lg.dtype).replace("torch.", ""), "equal -")

# Greedy decoding, temperature / top-k / top-p sampling loops under no_grad
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
V, D = 13, 16


class LM(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(V, D)
        self.pos = nn.Embedding(32, D)
        layer = nn.TransformerEncoderLayer(D, 2, 32, dropout=0.1, batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.head = nn.Linear(D, V)

    def forward(self, idx):
        T = idx.size(1)
        pos = torch.arange(T, device=idx.device)
        x = self.emb(idx) + self.pos(pos)[None]
        mask = nn.Transformer.generate_square_subsequent_mask(T, device=idx.device)
        return self.head(self.blocks(x, mask=mask, is_causal=True))


model = LM()
r = np.random.default_rng(11)
with torch.no_grad():
    for name, p in model.named_parameters():
        if "norm" in name and name.endswith("weight"):
            p.fill_(1.0)
        else:
            p.copy_(torch.tensor(r.standard_normal(tuple(p.shape)).astype(np.float32) * 0.5))
model.eval()
print("RESULT training_flag", f"{model.training},{model.blocks.layers[0].training}", "equal -")


@torch.no_grad()
def greedy(idx, steps):
    for _ in range(steps):
        logits = model(idx)[:, -1, :]
        nxt = torch.argmax(logits, dim=-1, keepdim=True)
        idx = torch.cat([idx, nxt], dim=1)
    return idx


start = torch.tensor([[1, 2], [3, 4]])
out = greedy(start, 6)
print("RESULT greedy", "".join(chr(65 + i) for i in out.flatten().tolist()), "equal -")
print("RESULT greedy_dtype", str(out.dtype).split(".")[-1], "equal -")
print("RESULT no_grad_result", out.requires_grad, "equal -")


def top_k_top_p_filter(logits, top_k=0, top_p=1.0):
    if top_k > 0:
        v, _ = torch.topk(logits, top_k)
        logits = logits.masked_fill(logits < v[..., -1, None], float("-inf"))
    if top_p < 1.0:
        sorted_logits, sorted_idx = torch.sort(logits, descending=True)
        cum = torch.cumsum(F.softmax(sorted_logits, dim=-1), dim=-1)
        remove = cum > top_p
        remove[..., 1:] = remove[..., :-1].clone()
        remove[..., 0] = False
        remove = remove.scatter(1, sorted_idx, remove)
        logits = logits.masked_fill(remove, float("-inf"))
    return logits


with torch.no_grad():
    logits = model(start)[:, -1, :] / 0.7
filt = top_k_top_p_filter(logits, top_k=5)
print("RESULT topk_kept", int(torch.isfinite(filt).sum().item()), "equal -")
filt2 = top_k_top_p_filter(logits, top_p=0.8)
print("RESULT topp_kept", int(torch.isfinite(filt2).sum().item()), "equal -")
probs = F.softmax(filt2, dim=-1)
print("RESULT probs_sum", round(probs.sum().item(), 5), "close 1e-4")
print("RESULT probs_zero", int((probs == 0).sum().item()), "equal -")

# sampling: draws differ between frameworks, so check validity and statistics
g = torch.Generator().manual_seed(123)
samples = torch.multinomial(probs, num_samples=2000, replacement=True, generator=g)
print("RESULT samples_shape", "x".join(map(str, samples.shape)), "equal -")
print("RESULT samples_in_support", bool(torch.isfinite(filt2.gather(1, samples)).all()), "equal -")
freq = torch.bincount(samples[0], minlength=V).float() / 2000
print("RESULT freq_err", round((freq - probs[0]).abs().max().item(), 3), "max 0.05")
one = torch.multinomial(probs, 1)
print("RESULT one_shape", "x".join(map(str, one.shape)), "equal -")
no_rep = torch.multinomial(torch.ones(2, 10), 10, replacement=False)
print("RESULT perm_ok", bool((no_rep.sort(dim=1).values == torch.arange(10)).all()), "equal -")

# KV-free sampling loop with EOS handling
eos = 0
idx = start.clone()
finished = torch.zeros(2, dtype=torch.bool)
with torch.no_grad():
    for _ in range(8):
        lg = model(idx)[:, -1, :]
        lg = top_k_top_p_filter(lg / 0.9, top_k=3)
        nxt = torch.multinomial(F.softmax(lg, -1), 1).squeeze(1)
        nxt = torch.where(finished, torch.full_like(nxt, eos), nxt)
        finished |= nxt == eos
        idx = torch.cat((idx, nxt.unsqueeze(1)), dim=1)
        if finished.all():
            break
print("RESULT sample_len_ok", 3 <= idx.size(1) <= 10, "equal -")
print("RESULT sample_vocab_ok", bool(((idx >= 0) & (idx < V)).all()), "equal -")

"""Everyday tensor ops from tutorials and training scripts: norms and normalization,
top-k accuracy, nucleus (top-p) filtering with sort and cumsum, discounted returns with
cumprod, index arithmetic with // and %, einsum for attention scores and bilinear forms,
flip / roll / repeat / unflatten / expand_as / mT, index_select and masked_select, and a
gradient through several of them."""
import numpy as np
import torch

rng = np.random.default_rng(0)
x = torch.tensor(rng.standard_normal((4, 6)).astype(np.float32))
logits = torch.tensor(rng.standard_normal((8, 10)).astype(np.float32))
labels = torch.tensor(rng.integers(0, 10, 8))

# norms: row normalization, pairwise distances, clipping by norm
unit = x / x.norm(dim=1, keepdim=True)
print(f"RESULT unit_rows {unit.norm(dim=1).sum().item():.5f} close 1e-4")
dist = (x.unsqueeze(1) - x.unsqueeze(0)).norm(dim=-1)
print(f"RESULT pairwise {dist.sum().item():.4f} close 1e-3")
print(f"RESULT norm_1 {x.norm(p=1).item():.4f} close 2e-4")
print(f"RESULT norm_inf {x.norm(p=float('inf')).item():.4f} close 1e-4")
print(f"RESULT vector_norm {torch.linalg.vector_norm(x, ord=3, dim=0).sum().item():.4f} close 2e-4")
print(f"RESULT fro {torch.norm(x, 'fro').item():.4f} close 2e-4")

# top-k accuracy and ranking
top3 = logits.topk(3, dim=1).indices
hit = (top3 == labels.unsqueeze(1)).any(dim=1).float().mean()
print(f"RESULT top3_acc {hit.item():.4f} close 1e-6")
ranks = logits.argsort(dim=1, descending=True).argsort(dim=1)
print(f"RESULT label_rank {ranks.gather(1, labels.unsqueeze(1)).sum().item()} equal -")
print(f"RESULT smallest {torch.topk(logits[0], 2, largest=False).values.sum().item():.4f} close 1e-4")

# nucleus (top-p) filtering: keep the smallest set of tokens whose probability reaches p
probs = logits.softmax(dim=-1)
sorted_probs, sorted_idx = torch.sort(probs, dim=-1, descending=True)
cum = sorted_probs.cumsum(dim=-1)
remove = cum - sorted_probs > 0.9
kept = sorted_probs.masked_fill(remove, 0.0)
print(f"RESULT top_p_kept {(kept > 0).sum().item()} equal -")
print(f"RESULT top_p_mass {kept.sum(dim=-1).min().item():.4f} close 1e-4")

# discounted returns with cumprod, products
rewards = torch.tensor([1.0, 0.0, 2.0, 1.0, 3.0])
discounts = torch.full((5,), 0.9).cumprod(dim=0) / 0.9
returns = (rewards * discounts).flip(0).cumsum(0).flip(0)
print(f"RESULT returns {returns[0].item():.5f} close 1e-4")
print(f"RESULT prod {torch.prod(torch.tensor([1.5, -2.0, 4.0])).item():.1f},{torch.arange(1, 6).prod().item()} equal -")



def text(t):
    """A tensor's values as one word, e.g. 2,1 (RESULT values hold no spaces)."""
    return "/".join(str(v) for v in t.tolist())


# index arithmetic with // and %
flat = torch.arange(12)
rows, cols = flat // 4, flat % 4
print(f"RESULT rows_cols {rows.tolist()[-1]},{cols.tolist()[-1]},{bool((rows * 4 + cols == flat).all())} equal -")
print(f"RESULT int_dtype {(flat // 4).dtype == torch.int64},{(flat % 4.0).dtype == torch.float32} equal -")
print(f"RESULT negative_mod {text(torch.tensor([-7, 7]).remainder(3))},{text(torch.fmod(torch.tensor([-7, 7]), 3))} equal -")
print(f"RESULT float_mod {text(torch.tensor([-3.5, 2.5]) % 2)},{text(7.5 // torch.tensor([2.0, -2.0]))} equal -")

# einsum: attention scores, bilinear form, outer product, trace, diagonal
q = torch.tensor(rng.standard_normal((2, 3, 5, 4)).astype(np.float32))
k = torch.tensor(rng.standard_normal((2, 3, 5, 4)).astype(np.float32))
scores = torch.einsum("bhqd,bhkd->bhqk", q, k) / 2.0
print(f"RESULT einsum_shape {'x'.join(map(str, scores.shape))} equal -")
print(f"RESULT einsum_scores {scores.sum().item():.3f} close 2e-3")
print(f"RESULT einsum_matches_matmul {(scores - q @ k.transpose(-2, -1) / 2.0).abs().max().item() < 1e-5} equal -")
w = torch.tensor(rng.standard_normal((6, 6)).astype(np.float32))
print(f"RESULT bilinear {torch.einsum('bi,ij,bj->b', x, w, x).sum().item():.3f} close 1e-3")
print(f"RESULT outer {torch.einsum('i,j->ij', rewards, rewards).trace().item():.2f} equal -")
print(f"RESULT diag {torch.einsum('ii->i', w).sum().item():.4f} close 2e-4")
print(f"RESULT trace {w.trace().item():.4f} close 2e-4")
print(f"RESULT ellipsis {torch.einsum('...d,...d->...', q, k).shape[-1]} equal -")

# rearranging
seq = torch.arange(10).view(2, 5)
print(f"RESULT flip {text(seq.flip(1)[0])},{seq.flip(0, 1)[0, 0].item()} equal -")
print(f"RESULT roll {text(seq.roll(1, dims=1)[0])},{text(seq.roll(3)[0])} equal -")
print(f"RESULT repeat {'x'.join(map(str, seq.repeat(2, 3).shape))},{seq.repeat(1, 2)[1, 7].item()} equal -")
heads = torch.arange(24.0).view(2, 12).unflatten(1, (3, 4))
print(f"RESULT unflatten {'x'.join(map(str, heads.shape))},{heads[1, 2, 3].item():.0f} equal -")
bias = torch.tensor([1.0, 2.0, 3.0]).unsqueeze(0)
print(f"RESULT expand_as {(bias.expand_as(torch.zeros(4, 3)) + 0).sum().item():.1f} equal -")
print(f"RESULT mT {'x'.join(map(str, q.mT.shape))},{q.mT[1, 2, 3, 4].item() == q[1, 2, 4, 3].item()} equal -")

# selection
picked = x.index_select(0, torch.tensor([3, 0, 3]))
print(f"RESULT index_select {picked.sum().item():.4f} close 2e-4")
print(f"RESULT masked_select_count {x.masked_select(x > 0.5).numel()} equal -")
print(f"RESULT masked_select {x.masked_select(x > 0.5).sum().item():.4f} close 2e-4")

# a gradient through norm, einsum, cumsum, topk, sort, roll, repeat and %
p = x.clone().requires_grad_(True)
loss = (p.norm(dim=1).sum() + torch.einsum("ij,ij->", p, p.roll(1, 0)) + p.cumsum(1)[:, -1].sum()
        + p.topk(2, dim=1).values.sum() + p.sort(dim=0).values[0].sum()
        + (p.repeat(2, 1) % 1.0).sum() + p.prod(dim=1).sum())
loss.backward()
print(f"RESULT loss {loss.item():.4f} close 1e-3")
print(f"RESULT grad {p.grad.abs().sum().item():.4f} close 1e-3")
print(f"RESULT grad_corner {p.grad[0, 0].item():.4f} close 5e-4")

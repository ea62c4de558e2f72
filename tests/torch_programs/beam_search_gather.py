# Beam search with topk over flattened scores, gather / index_select, length penalty
import numpy as np
import torch
import torch.nn.functional as F

torch.manual_seed(0)
V, BEAM, STEPS, EOS = 9, 3, 6, 8
rng = np.random.default_rng(7)


def j(v):
    return str(v).replace(" ", "")

# a fixed "model": next-token logits depend on the last token and step
table = torch.tensor(rng.standard_normal((STEPS + 1, V, V)).astype(np.float32) * 2)


def step_logits(tokens, t):
    return table[t].index_select(0, tokens[:, -1])


def beam_search(bos, batch):
    seqs = torch.full((batch * BEAM, 1), bos, dtype=torch.long)
    scores = torch.zeros(batch, BEAM)
    scores[:, 1:] = float("-inf")  # only the first beam is alive at t=0
    scores = scores.view(-1)
    done = torch.zeros(batch * BEAM, dtype=torch.bool)
    for t in range(STEPS):
        logp = F.log_softmax(step_logits(seqs, t), dim=-1)
        logp = torch.where(done.unsqueeze(1), torch.full_like(logp, float("-inf")), logp)
        logp[:, EOS] = torch.where(done, torch.zeros(()), logp[:, EOS])
        cand = (scores.unsqueeze(1) + logp).view(batch, BEAM * V)
        top_scores, top_idx = cand.topk(BEAM, dim=1)
        beam_idx = torch.div(top_idx, V, rounding_mode="floor")
        tok_idx = top_idx % V
        base = (torch.arange(batch) * BEAM).unsqueeze(1)
        flat = (base + beam_idx).view(-1)
        seqs = torch.cat([seqs.index_select(0, flat), tok_idx.view(-1, 1)], dim=1)
        done = done[flat] | (tok_idx.view(-1) == EOS)
        scores = top_scores.view(-1)
    lengths = (seqs != EOS).sum(1).float().clamp(min=1)
    normed = scores / lengths.pow(0.6)
    best = normed.view(batch, BEAM).argmax(dim=1)
    best_seq = seqs.view(batch, BEAM, -1)[torch.arange(batch), best]
    return best_seq, scores.view(batch, BEAM)


best, sc = beam_search(bos=1, batch=2)
print("RESULT best", "-".join(map(str, best.flatten().tolist())), "equal -")
print("RESULT scores", round(sc[torch.isfinite(sc)].sum().item(), 4), "close 1e-3")
print("RESULT n_finite", int(torch.isfinite(sc).sum()), "equal -")

# idioms around beam reordering
x = torch.arange(12).view(4, 3)
idx = torch.tensor([2, 0, 2])
print("RESULT floordiv", j((torch.tensor([7, -7, 8]) // 3).tolist()), "equal -")
print("RESULT div_trunc", j(torch.div(torch.tensor([7, -7]), 2, rounding_mode="trunc").tolist()), "equal -")
print("RESULT div_true_dtype", str(torch.div(torch.tensor([7, 8]), 2).dtype).replace("torch.", ""), "equal -")
print("RESULT index_select", x.index_select(0, idx).sum().item(), "equal -")
print("RESULT gather", j(x.gather(1, torch.tensor([[2], [0], [1], [1]])).flatten().tolist()), "equal -")
print("RESULT topk_sorted", j(torch.tensor([3.0, 1.0, 4.0, 1.5, 9.0]).topk(3).indices.tolist()), "equal -")
print("RESULT topk_smallest", j(torch.tensor([3.0, 1.0, 4.0, 1.5, 9.0]).topk(2, largest=False).values.tolist()), "equal -")
vals, inds = torch.max(torch.tensor([[1.0, 5.0, 5.0], [2.0, 0.0, 2.0]]), dim=1)
print("RESULT max_ties", j(inds.tolist()), "equal -")
print("RESULT argmax_ties", torch.tensor([1.0, 7.0, 7.0, 0.0]).argmax().item(), "equal -")
print("RESULT sort_stable", j(torch.sort(torch.tensor([2, 1, 2, 1, 0]), stable=True).indices.tolist()), "equal -")

# repeat_interleave to expand encoder states per beam, then reorder a cache
mem = torch.arange(6.0).view(2, 3)
rep = mem.repeat_interleave(BEAM, dim=0)
print("RESULT repeat_interleave", j(rep[:, 0].tolist()), "equal -")
cache = torch.arange(24.0).view(6, 2, 2)
reorder = torch.tensor([0, 0, 1, 5, 3, 3])
print("RESULT reorder", j(cache[reorder].sum(dim=(1, 2)).tolist()), "equal -")
print("RESULT expand", j(mem.unsqueeze(1).expand(-1, BEAM, -1).reshape(-1, 3)[:, 1].tolist()), "equal -")

# scatter_ to build a one-hot, log-sum-exp of scores
oh = torch.zeros(3, V).scatter_(1, torch.tensor([[1], [4], [8]]), 1.0)
print("RESULT onehot", j(oh.argmax(1).tolist()), "equal -")
print("RESULT lse", round(torch.logsumexp(sc.masked_fill(~torch.isfinite(sc), -1e9), dim=1).sum().item(), 4), "close 1e-3")
print("RESULT nonzero", j(torch.nonzero(torch.tensor([0, 3, 0, 2])).flatten().tolist()), "equal -")
print("RESULT nonzero_tuple", j([t.tolist() for t in torch.nonzero(torch.eye(2), as_tuple=True)]), "equal -")

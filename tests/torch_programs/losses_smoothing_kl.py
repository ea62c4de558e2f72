# Label smoothing, ignore_index, class weights, soft targets, KL distillation
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
rng = np.random.default_rng(8)
N, C, L = 4, 6, 5
logits = torch.tensor(rng.standard_normal((N, C)).astype(np.float32) * 2, requires_grad=True)
target = torch.tensor([1, 0, 5, 3])
w = torch.tensor([1.0, 2.0, 0.5, 1.0, 1.5, 3.0])

for ls in (0.0, 0.1, 0.3):
    l = nn.CrossEntropyLoss(label_smoothing=ls)(logits, target)
    print(f"RESULT ce_ls{int(ls * 10)}", round(l.item(), 5), "close 1e-4")

pad_target = torch.tensor([1, -100, 5, -100])
print("RESULT ce_ignore", round(F.cross_entropy(logits, pad_target).item(), 5), "close 1e-4")
print("RESULT ce_ignore_ls", round(F.cross_entropy(logits, pad_target, label_smoothing=0.2).item(), 5), "close 1e-4")
print("RESULT ce_weight", round(F.cross_entropy(logits, target, weight=w).item(), 5), "close 1e-4")
print("RESULT ce_weight_ls", round(F.cross_entropy(logits, target, weight=w, label_smoothing=0.1).item(), 5), "close 1e-4")
print("RESULT ce_weight_ignore", round(F.cross_entropy(logits, pad_target, weight=w, ignore_index=-100).item(), 5), "close 1e-4")
print("RESULT ce_custom_ignore", round(F.cross_entropy(logits, target, ignore_index=0).item(), 5), "close 1e-4")
print("RESULT ce_sum", round(F.cross_entropy(logits, target, reduction="sum", label_smoothing=0.1).item(), 4), "close 1e-3")
none = F.cross_entropy(logits, pad_target, reduction="none", label_smoothing=0.1)
print("RESULT ce_none", str([round(v, 4) for v in none.tolist()]).replace(" ", ""), "equal -")

# sequence logits (N, C, L) like a token classifier after transpose
seq_logits = torch.tensor(rng.standard_normal((N, L, C)).astype(np.float32))
seq_tgt = torch.tensor(rng.integers(0, C, (N, L)))
seq_tgt[0, 3:] = -100
l1 = F.cross_entropy(seq_logits.transpose(1, 2), seq_tgt, label_smoothing=0.1)
l2 = F.cross_entropy(seq_logits.reshape(-1, C), seq_tgt.reshape(-1), label_smoothing=0.1)
print("RESULT ce_ncl", round(l1.item(), 5), "close 1e-4")
print("RESULT ce_ncl_flat", round((l1 - l2).abs().item(), 6), "close 1e-5")

# soft (probability) targets
soft = F.softmax(torch.tensor(rng.standard_normal((N, C)).astype(np.float32)), dim=1)
print("RESULT ce_soft", round(F.cross_entropy(logits, soft).item(), 5), "close 1e-4")
print("RESULT ce_soft_ls", round(F.cross_entropy(logits, soft, label_smoothing=0.2).item(), 5), "close 1e-4")

# manual label smoothing with one-hot + KL, as in many seq2seq codebases
eps = 0.1
true_dist = torch.full((N, C), eps / (C - 1))
true_dist.scatter_(1, target.unsqueeze(1), 1 - eps)
kl = nn.KLDivLoss(reduction="batchmean")(F.log_softmax(logits, dim=-1), true_dist)
print("RESULT kl_batchmean", round(kl.item(), 5), "close 1e-4")
print("RESULT kl_sum", round(F.kl_div(F.log_softmax(logits, -1), true_dist, reduction="sum").item(), 5), "close 1e-4")
print("RESULT kl_logtarget", round(F.kl_div(F.log_softmax(logits, -1), true_dist.log(), reduction="batchmean", log_target=True).item(), 5), "close 1e-4")

# knowledge distillation loss with temperature
T = 2.0
teacher = torch.tensor(rng.standard_normal((N, C)).astype(np.float32))
kd = F.kl_div(F.log_softmax(logits / T, -1), F.softmax(teacher / T, -1), reduction="batchmean") * T * T
total = 0.5 * kd + 0.5 * F.cross_entropy(logits, target, label_smoothing=0.1)
total.backward()
print("RESULT kd", round(kd.item(), 5), "close 1e-4")
print("RESULT kd_grad", round(logits.grad.abs().sum().item(), 5), "close 1e-4")

# NLLLoss on log-probs, BCEWithLogits with pos_weight, multi-label
nll = nn.NLLLoss(ignore_index=-100)(F.log_softmax(logits.detach(), 1), pad_target)
print("RESULT nll", round(nll.item(), 5), "close 1e-4")
ml_t = (torch.tensor(rng.random((N, C))) > 0.5).float()
bce = nn.BCEWithLogitsLoss(pos_weight=torch.full((C,), 2.0))(logits.detach(), ml_t)
print("RESULT bce_posw", round(bce.item(), 5), "close 1e-4")
print("RESULT ml_t_dtype", str(ml_t.dtype).replace("torch.", ""), "equal -")

# label smoothing gradient flows with all-ignored batch -> nan in torch
all_ign = torch.full((N,), -100)
print("RESULT ce_all_ignored_nan", bool(torch.isnan(F.cross_entropy(logits.detach(), all_ign))), "equal -")

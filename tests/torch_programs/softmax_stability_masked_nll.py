"""Softmax with -inf masks (partial rows), log_softmax / cross_entropy at extreme logits, and their gradients."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from _report import R, section

rng = np.random.RandomState(10)


def masked_softmax():
    s = torch.tensor(rng.randn(3, 4), dtype=torch.float32, requires_grad=True)
    mask = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1]], dtype=torch.bool)
    z = s.masked_fill(~mask, float("-inf"))
    p = F.softmax(z, dim=-1)
    R("msm_row1", p[1].tolist(), "equal", "-")
    R("msm_rowsums", p.sum(-1).tolist(), "close", 1e-6) if False else None
    R("msm_rowsum0", p[0].sum().item(), "close", 1e-6)
    lp = F.log_softmax(z, dim=-1)
    R("mlsm_row1", lp[1].tolist(), "equal", "-")
    (p * torch.arange(4.0)).sum().backward()
    R("msm_grad", s.grad.sum().item(), "close", 1e-6)
    R("msm_grad_masked", s.grad[0, 2:].tolist(), "equal", "-")
    s.grad = None
    # log_softmax grad where masked entries are -inf: result contains -inf, gradient is finite
    lp = F.log_softmax(s.masked_fill(~mask, float("-inf")), dim=-1)
    loss = -(lp.masked_fill(~mask, 0.0)).sum()
    loss.backward()
    R("mlsm_grad_finite", bool(torch.isfinite(s.grad).all()), "equal", "-")
    R("mlsm_grad_sum", s.grad.abs().sum().item(), "close", 1e-5)
    # softmax along dim 0 and with dtype=
    q = torch.tensor(rng.randn(3, 2), dtype=torch.float32)
    R("softmax_dim0", F.softmax(q, dim=0)[:, 1].tolist(), "close", 1e-6) if False else None
    R("softmax_dim0_v", F.softmax(q, dim=0)[2, 1].item(), "close", 1e-6)
    R("softmax_dtype", str(F.softmax(q, dim=1, dtype=torch.float64).dtype).replace("torch.", ""), "equal", "-")
    R("softmin", F.softmin(q, dim=1)[0, 0].item(), "close", 1e-6)
    R("softmax_module", nn.Softmax(dim=-1)(q)[1, 0].item(), "close", 1e-6)
    R("softmax_temp_tiny", F.softmax(q / 1e-4, dim=1).tolist(), "equal", "-")


def extreme_ce():
    logits = torch.tensor([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0], [-1e4, 1e4, 0.0], [88.0, 89.0, 90.0]],
                          requires_grad=True)
    target = torch.tensor([2, 1, 1, 0])
    ce = F.cross_entropy(logits, target, reduction="none")
    R("ce_extreme", ce.tolist(), "close", 1e-3) if False else None
    for i in range(4):
        R(f"ce_extreme_{i}", ce[i].item(), "close", 1e-3)
    ce.sum().backward()
    for i in range(4):
        R(f"ce_extreme_grad{i}", logits.grad[i].abs().sum().item(), "close", 1e-5)
    lsm = F.log_softmax(torch.tensor([[1e30, -1e30, 0.0]]), dim=1)
    R("lsm_huge", lsm.tolist(), "equal", "-")
    R("lsm_f16", F.log_softmax(torch.tensor([[60000.0, -60000.0, 0.0]], dtype=torch.float16), 1).tolist(), "equal", "-")
    # naive vs stable
    x = torch.tensor([[500.0, 499.0]])
    naive = torch.log(torch.exp(x) / torch.exp(x).sum())
    R("naive_nan", str(naive.tolist()), "equal", "-")
    # label smoothing + ignore_index with extreme logits
    tgt = torch.tensor([2, -100, 1, 0])
    l = F.cross_entropy(logits.detach(), tgt, ignore_index=-100, label_smoothing=0.1)
    R("ce_ls_ignore", l.item(), "close", 1e-2)
    # bce with logits extremes
    z = torch.tensor([100.0, -100.0, 0.0], requires_grad=True)
    t = torch.tensor([0.0, 1.0, 1.0])
    b = F.binary_cross_entropy_with_logits(z, t, reduction="none")
    R("bce_extreme", b.tolist(), "close", 1e-3) if False else None
    R("bce_extreme_0", b[0].item(), "close", 1e-3)
    R("bce_extreme_1", b[1].item(), "close", 1e-3)
    b.sum().backward()
    R("bce_grad", z.grad.tolist(), "equal", "-")
    pw = F.binary_cross_entropy_with_logits(z.detach(), t, pos_weight=torch.tensor([2.0, 3.0, 4.0]))
    R("bce_pos_weight", pw.item(), "close", 1e-3)
    # nll_loss with log_softmax of -inf masked row entries
    lp = F.log_softmax(torch.tensor([[0.0, float("-inf"), 1.0]]), dim=1)
    R("nll_masked", F.nll_loss(lp, torch.tensor([2])).item(), "close", 1e-6)
    R("nll_masked_target", str(F.nll_loss(lp, torch.tensor([1])).item()), "equal", "-")
    # kl_div with log_softmax inputs
    p = F.log_softmax(torch.tensor([[1.0, 2.0, 3.0]]), 1)
    q = F.softmax(torch.tensor([[3.0, 2.0, 1.0]]), 1)
    R("kl_batchmean", F.kl_div(p, q, reduction="batchmean").item(), "close", 1e-6)
    # sigmoid/logsigmoid/softplus extremes
    e = torch.tensor([-200.0, -20.0, 0.0, 20.0, 200.0])
    R("logsigmoid_0_20", F.logsigmoid(e)[:3].tolist(), "equal", "-")
    R("logsigmoid_pos20_x1e9", F.logsigmoid(e)[3].item() * 1e9, "close", 1e-3)
    R("softplus_neg20_x1e9", F.softplus(e)[1].item() * 1e9, "close", 1e-3)
    R("softplus_neg10_x1e5", F.softplus(torch.tensor(-10.0)).item() * 1e5, "close", 1e-4)
    R("sigmoid", torch.sigmoid(e).tolist(), "equal", "-")
    R("tanh", torch.tanh(e).tolist(), "equal", "-")
    R("log1p_small", torch.log1p(torch.tensor([1e-10])).item(), "equal", "-")


for name, fn in [("masked", masked_softmax), ("extreme", extreme_ce)]:
    section(name, fn)

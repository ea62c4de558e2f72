"""Logistic regression from zero weights with BCEWithLogitsLoss, and a heteroscedastic regressor whose
std is softplus(raw) -- two textbook models whose start sits exactly at 0 logits / 0 raw."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from _report import R

rng = np.random.RandomState(12)
X = torch.tensor(rng.randn(64, 5), dtype=torch.float32)
w_true = torch.tensor([1.5, -2.0, 0.0, 0.5, 1.0])
y = (X @ w_true + 0.3 * torch.tensor(rng.randn(64), dtype=torch.float32) > 0).float()


# --- 1. logistic regression, zero init (what every tutorial does)
model = nn.Linear(5, 1)
nn.init.zeros_(model.weight)
nn.init.zeros_(model.bias)
crit = nn.BCEWithLogitsLoss()
opt = torch.optim.SGD(model.parameters(), lr=0.5)
for step in range(20):
    opt.zero_grad()
    loss = crit(model(X).squeeze(1), y)
    loss.backward()
    if step == 0:
        R("lr_first_grad_w", model.weight.grad.abs().sum().item(), "close", 1e-5)
        R("lr_first_grad_b", model.bias.grad.item(), "close", 1e-5)
    opt.step()
    if step % 5 == 4:
        R(f"lr_loss{step}", loss.item(), "close", 1e-4)
with torch.no_grad():
    acc = ((model(X).squeeze(1) > 0).float() == y).float().mean().item()
R("lr_acc", acc, "close", 1e-6)
R("lr_w", model.weight.sum().item(), "close", 1e-4)

# --- 2. same model through sigmoid + BCELoss (for comparison)
m2 = nn.Linear(5, 1)
nn.init.zeros_(m2.weight)
nn.init.zeros_(m2.bias)
opt2 = torch.optim.SGD(m2.parameters(), lr=0.5)
opt2.zero_grad()
F.binary_cross_entropy(torch.sigmoid(m2(X)).squeeze(1), y).backward()
R("bce_sigmoid_first_grad_b", m2.bias.grad.item(), "close", 1e-5)

# --- 3. heteroscedastic regression: mean and std = softplus(raw) + 1e-3, raw starts at 0
target = torch.tensor(rng.randn(64), dtype=torch.float32) * 2.0
net = nn.Linear(5, 2)
nn.init.zeros_(net.weight)
nn.init.zeros_(net.bias)
opt3 = torch.optim.Adam(net.parameters(), lr=0.05)
for step in range(15):
    out = net(X)
    mu, std = out[:, 0], F.softplus(out[:, 1]) + 1e-3
    nll = (torch.log(std) + 0.5 * ((target - mu) / std) ** 2).mean()
    opt3.zero_grad()
    nll.backward()
    if step == 0:
        R("het_first_grad_std_bias", net.bias.grad[1].item(), "close", 1e-5)
    opt3.step()
    if step % 5 == 4:
        R(f"het_nll{step}", nll.item(), "close", 1e-3)

# --- 4. logsigmoid-based loss (e.g. DPO / word2vec negative sampling), scores start at 0
u = torch.zeros(6, 4, requires_grad=True)
v = torch.zeros(6, 4, requires_grad=True)
pos = (u * v).sum(1)
neg = -(u * v.roll(1, 0)).sum(1)
l = -(F.logsigmoid(pos) + F.logsigmoid(neg)).mean()
l.backward()
R("w2v_loss", l.item(), "close", 1e-6)
beta_logits = torch.zeros(4, requires_grad=True)
dpo = -F.logsigmoid(0.1 * beta_logits).mean()
dpo.backward()
R("dpo_grad", beta_logits.grad.sum().item(), "close", 1e-6)
sp = torch.zeros(3, requires_grad=True)
F.softplus(sp).sum().backward()
R("softplus_grad_at_0", sp.grad.tolist(), "equal", "-")

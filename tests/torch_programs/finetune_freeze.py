"""Transfer learning as the fine-tuning tutorials do it: pretrain a backbone, save its state
dict, build a new model and load the backbone with strict=False, freeze it (requires_grad =
False by name, backbone.eval() for BatchNorm), train the head with an optimizer over
filter(lambda p: p.requires_grad, ...), then unfreeze and add the backbone as a second param
group with a lower lr (add_param_group), with a LambdaLR holding one lambda per group;
nn.Sequential(*list(model.children())[:-1]) as a feature extractor."""
import os
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
rng = np.random.default_rng(2)
X = torch.tensor(rng.normal(size=(128, 6)), dtype=torch.float32)
w = torch.tensor(rng.normal(size=(6, 3)), dtype=torch.float32)
Y_pre = (X @ w).argmax(dim=1)                     # the pretraining task
Y_new = (X @ w[:, [2, 0, 1]]).argmax(dim=1)


def backbone():
    return nn.Sequential(nn.Linear(6, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())


class Net(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.backbone = backbone()
        self.head = nn.Linear(32, classes)

    def forward(self, x):
        return self.head(self.backbone(x))


def deterministic(model, scale=0.3):
    with torch.no_grad():
        for i, p in enumerate(model.parameters()):
            p.copy_(scale * torch.cos(torch.arange(p.numel(), dtype=torch.float32) * 1.3 + i).view(p.shape))


# pretraining
pre = Net(3)
deterministic(pre)
opt = torch.optim.Adam(pre.parameters(), lr=1e-2)
for epoch in range(40):
    opt.zero_grad()
    F.cross_entropy(pre(X), Y_pre).backward()
    opt.step()
pre.eval()
with torch.no_grad():
    pre_acc = (pre(X).argmax(1) == Y_pre).float().mean().item()
path = os.path.join(tempfile.mkdtemp(), "pretrained.pt")
torch.save(pre.state_dict(), path)

# the new model: backbone from the checkpoint, a fresh head
model = Net(3)
deterministic(model, scale=0.05)
state = torch.load(path)
state = {k: v for k, v in state.items() if not k.startswith("head.")}
incompatible = model.load_state_dict(state, strict=False)
nn.init.zeros_(model.head.bias)

for name, param in model.named_parameters():
    if not name.startswith("head"):
        param.requires_grad = False
trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
frozen_before = model.backbone[0].weight.detach().clone()
bn_mean_before = model.backbone[1].running_mean.clone()
optimizer = torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=0.1, momentum=0.9)
model.train()
model.backbone.eval()                              # keep BatchNorm's statistics frozen
for epoch in range(25):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(X), Y_new)
    loss.backward()
    optimizer.step()
head_only_loss = loss.item()
frozen_unchanged = bool((frozen_before == model.backbone[0].weight).all())
bn_unchanged = bool((bn_mean_before == model.backbone[1].running_mean).all())
frozen_grad_none = model.backbone[0].weight.grad is None

# unfreeze, second param group with a lower rate, one lambda per group
for param in model.backbone.parameters():
    param.requires_grad = True
optimizer.add_param_group({"params": model.backbone.parameters(), "lr": 0.01})
scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda=[lambda e: 0.95 ** e, lambda e: 1.0 / (1 + e)])
model.train()
for epoch in range(20):
    optimizer.zero_grad()
    loss = F.cross_entropy(model(X), Y_new)
    loss.backward()
    optimizer.step()
    scheduler.step()
model.eval()
with torch.no_grad():
    acc = (model(X).argmax(1) == Y_new).float().mean().item()
    features = nn.Sequential(*list(model.children())[:-1])(X)

print(f"RESULT pre_acc {pre_acc:.3f} min 0.9")
print(f"RESULT missing {','.join(incompatible.missing_keys)} equal -")
print(f"RESULT unexpected {len(incompatible.unexpected_keys)} equal -")
print(f"RESULT trainable {trainable} equal -")
print(f"RESULT head_only_loss {head_only_loss:.4f} close 5e-3")
print(f"RESULT frozen_unchanged {int(frozen_unchanged)},{int(bn_unchanged)},{int(frozen_grad_none)} equal -")
print(f"RESULT groups {len(optimizer.param_groups)},{optimizer.param_groups[1]['momentum']} equal -")
print(f"RESULT lrs {','.join(f'{lr:.6f}' for lr in scheduler.get_last_lr())} equal -")
print(f"RESULT final_acc {acc:.3f} min 0.9")
print(f"RESULT features {tuple(features.shape)} equal -".replace(", ", ","))
print(f"RESULT children {len(list(model.children()))},{len(list(model.backbone.children()))} equal -")

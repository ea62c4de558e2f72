"""Binary classification the everyday way: TensorDataset, ConcatDataset, a WeightedRandomSampler
for the imbalanced classes, SubsetRandomSampler for validation, a model ending in nn.Sigmoid with
nn.BCELoss (and BCEWithLogitsLoss with pos_weight on the raw scores), SGD with momentum,
ReduceLROnPlateau on the validation loss, StepLR on a second optimizer, a full backward hook
measuring gradient norms per layer, and precision / recall computed with boolean masks."""
import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import (ConcatDataset, DataLoader, SubsetRandomSampler, TensorDataset,
                              WeightedRandomSampler)

torch.manual_seed(0)
rng = np.random.default_rng(4)
pos = rng.normal(loc=(1.5, 1.0), scale=0.6, size=(40, 2)).astype(np.float32)
neg = rng.normal(loc=(-1.0, -0.5), scale=0.8, size=(160, 2)).astype(np.float32)
ds_pos = TensorDataset(torch.from_numpy(pos), torch.ones(40, 1))
ds_neg = TensorDataset(torch.from_numpy(neg), torch.zeros(160, 1))
dataset = ConcatDataset([ds_pos, ds_neg])
labels = torch.cat([torch.ones(40), torch.zeros(160)])
class_count = torch.tensor([160.0, 40.0])
sample_weights = (1.0 / class_count)[labels.long()]
train_idx = [i for i in range(200) if i % 5 != 0]
val_idx = [i for i in range(200) if i % 5 == 0]
train_weights = torch.zeros(200)
train_weights[train_idx] = sample_weights[train_idx]
train_loader = DataLoader(dataset, batch_size=20,
                          sampler=WeightedRandomSampler(train_weights, num_samples=160, replacement=True))
val_loader = DataLoader(dataset, batch_size=40, sampler=SubsetRandomSampler(val_idx))


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(2, 16), nn.ELU(), nn.Linear(16, 16), nn.Softplus())
        self.out = nn.Linear(16, 1)
        self.prob = nn.Sigmoid()

    def forward(self, x):
        return self.prob(self.out(self.hidden(x)))


model = Classifier()
grad_norms = {}


def track(name):
    def hook(module, grad_input, grad_output):
        g = grad_output[0]
        grad_norms.setdefault(name, []).append((g * g).sum().sqrt().item())
    return hook


for name, module in model.hidden.named_children():
    if isinstance(module, nn.Linear):
        module.register_full_backward_hook(track(name))
criterion = nn.BCELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9)
plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode="min", factor=0.5, patience=1)
val_losses, lrs = [], []
for epoch in range(10):
    model.train()
    seen_pos = 0
    for xb, yb in train_loader:
        optimizer.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        optimizer.step()
        seen_pos += int(yb.sum().item())
    model.eval()
    with torch.no_grad():
        total = sum(criterion(model(xb), yb).item() * len(yb) for xb, yb in val_loader) / len(val_idx)
    plateau.step(total)
    val_losses.append(total)
    lrs.append(optimizer.param_groups[0]["lr"])

with torch.no_grad():
    xv = torch.stack([dataset[i][0] for i in val_idx])
    yv = torch.stack([dataset[i][1] for i in val_idx]).squeeze(1)
    pred = (model(xv).squeeze(1) > 0.5)
    tp = (pred & (yv == 1)).sum().item()
    precision = tp / max(pred.sum().item(), 1)
    recall = tp / (yv == 1).sum().item()
    accuracy = (pred == yv.bool()).float().mean().item()

# the logits form of the same loss, with pos_weight, on a second model and optimizer
logit_model = nn.Sequential(nn.Linear(2, 8), nn.Hardtanh(-2, 2), nn.Linear(8, 1))
logit_loss = nn.BCEWithLogitsLoss(pos_weight=torch.tensor([4.0]))
opt2 = torch.optim.Adam(logit_model.parameters(), lr=0.05)
step = torch.optim.lr_scheduler.StepLR(opt2, step_size=3, gamma=0.5)
x_all = torch.stack([dataset[i][0] for i in range(200)])
y_all = labels.unsqueeze(1)
for epoch in range(8):
    opt2.zero_grad()
    l2 = logit_loss(logit_model(x_all), y_all)
    l2.backward()
    opt2.step()
    step.step()
with torch.no_grad():
    recall2 = ((logit_model(x_all).squeeze(1) > 0) & (labels == 1)).sum().item() / 40

print(f"RESULT dataset_len {len(dataset)},{len(train_loader)},{len(val_loader)} equal -")
print(f"RESULT sampler_balance {seen_pos} min 50")
print(f"RESULT sampler_balance_hi {seen_pos} max 110")
print(f"RESULT hook_layers {','.join(sorted(grad_norms))},{len(grad_norms['0'])} equal -")
print(f"RESULT grad_norm_positive {min(min(v) for v in grad_norms.values()):.2e} min 1e-9")
print(f"RESULT val_loss {val_losses[-1]:.3f} max 0.35")
print(f"RESULT lr_reduced_or_kept {lrs[-1]:.4f} max 0.3")
print(f"RESULT precision {precision:.3f} min 0.6")
print(f"RESULT recall {recall:.3f} min 0.75")
print(f"RESULT accuracy {accuracy:.3f} min 0.85")
print(f"RESULT steplr {step.get_last_lr()[0]:.5f} close 1e-9")
print(f"RESULT recall_pos_weight {recall2:.3f} min 0.8")

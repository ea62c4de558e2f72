"""An MLP classifier as tutorials build one: a Dataset subclass, random_split into train and
validation, DataLoaders, nn.Sequential with BatchNorm1d, LeakyReLU and Dropout, model.apply with
kaiming_normal_, no weight decay on biases and norm parameters (param groups), AdamW,
CosineAnnealingWarmRestarts stepped with fractional epochs, label smoothing, model.train() /
model.eval(), and BatchNorm's running statistics in the state dict."""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, random_split

torch.manual_seed(0)


class Rings(Dataset):
    def __init__(self, n_per_class=100, seed=0):
        rng = np.random.default_rng(seed)
        xs, ys = [], []
        for label, radius in enumerate([0.5, 1.5, 2.5]):
            angle = rng.uniform(0, 2 * math.pi, n_per_class)
            r = radius + rng.normal(0, 0.15, n_per_class)
            xs.append(np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1))
            ys.append(np.full(n_per_class, label))
        self.x = torch.tensor(np.concatenate(xs), dtype=torch.float32)
        self.y = torch.tensor(np.concatenate(ys), dtype=torch.long)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


dataset = Rings()
train_set, val_set = random_split(dataset, [240, 60])
train_loader = DataLoader(train_set, batch_size=32, shuffle=True, drop_last=True)
val_loader = DataLoader(val_set, batch_size=64)

model = nn.Sequential(
    nn.Linear(2, 64), nn.BatchNorm1d(64), nn.LeakyReLU(0.1), nn.Dropout(0.1),
    nn.Linear(64, 64), nn.BatchNorm1d(64), nn.LeakyReLU(0.1),
    nn.Linear(64, 3),
)


def init_weights(m):
    if isinstance(m, nn.Linear):
        nn.init.kaiming_normal_(m.weight, a=0.1, nonlinearity="leaky_relu")
        nn.init.zeros_(m.bias)


model.apply(init_weights)
decay, no_decay = [], []
for name, param in model.named_parameters():
    (no_decay if param.ndim == 1 else decay).append(param)
optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 1e-3},
                               {"params": no_decay, "weight_decay": 0.0}], lr=1e-2)
scheduler = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer, T_0=3, T_mult=2,
                                                                 eta_min=1e-4)
criterion = nn.CrossEntropyLoss(label_smoothing=0.05)
iters = len(train_loader)
lr_trace = []
for epoch in range(9):
    model.train()
    for i, (xb, yb) in enumerate(train_loader):
        optimizer.zero_grad()
        loss = criterion(model(xb), yb)
        loss.backward()
        optimizer.step()
        scheduler.step(epoch + i / iters)
        lr_trace.append(optimizer.param_groups[0]["lr"])

model.eval()
correct = total = 0
with torch.no_grad():
    for xb, yb in val_loader:
        preds = model(xb).argmax(dim=1)
        correct += (preds == yb).sum().item()
        total += yb.size(0)
val_acc = correct / total
bn = model[1]

# BatchNorm on fixed numbers: training normalises by the batch, eval by the running estimates
norm = nn.BatchNorm1d(3, momentum=0.2)
batch = torch.arange(12, dtype=torch.float32).view(4, 3) ** 1.5
train_out = norm(batch)
norm.eval()
eval_out = norm(batch)
norm_2d = nn.BatchNorm1d(2, affine=False)
seq_out = norm_2d(torch.arange(24, dtype=torch.float32).view(3, 2, 4).sin())

print(f"RESULT split_sizes {len(train_set)},{len(val_set)} equal -")
print(f"RESULT batches {iters} equal -")
print(f"RESULT groups {len(decay)},{len(no_decay)} equal -")
print(f"RESULT state_keys {','.join(model.state_dict().keys())} equal -")
print(f"RESULT tracked {bn.num_batches_tracked.item()} equal -")
print(f"RESULT running_shapes {tuple(bn.running_mean.shape)[0]},{tuple(bn.running_var.shape)[0]} equal -")
print(f"RESULT lr_after_first_restart {lr_trace[3 * iters]:.6f} close 1e-7")
print(f"RESULT lr_mid {lr_trace[5 * iters + 2]:.6f} close 1e-7")
print(f"RESULT lr_last {lr_trace[-1]:.6f} close 1e-7")
print(f"RESULT val_acc {val_acc:.3f} min 0.9")
print(f"RESULT bn_train_out_sum {train_out.sum().item():.4f} close 1e-4")
print(f"RESULT bn_train_out {train_out[0, 2].item():.4f} close 1e-4")
print(f"RESULT bn_running_mean {norm.running_mean.sum().item():.5f} close 1e-4")
print(f"RESULT bn_running_var {norm.running_var.sum().item():.4f} close 1e-3")
print(f"RESULT bn_eval_out {eval_out.abs().sum().item():.4f} close 1e-3")
print(f"RESULT bn_3d {seq_out.abs().sum().item():.4f} close 1e-3")
print(f"RESULT bn_3d_running {norm_2d.running_var.sum().item():.5f} close 1e-4")

"""Checkpointing as the PyTorch tutorials teach it: a general checkpoint dict with epoch,
model_state_dict, optimizer_state_dict (SGD with momentum) and loss; the best model kept by
copy.deepcopy(model.state_dict()) during early stopping; load_state_dict(strict=False) reporting
missing and unexpected keys; a non-persistent buffer left out of the state dict; torch.save of a
plain tensor and of nested lists; loading with map_location and weights_only."""
import copy
import os
import tempfile
from collections import OrderedDict

import numpy as np
import torch
import torch.nn as nn
import torch.optim as optim

rng = np.random.default_rng(7)
X = torch.tensor(rng.normal(size=(96, 4)), dtype=torch.float32)
w_true = torch.tensor([[1.5], [-2.0], [0.5], [0.0]])
Y = X @ w_true + 0.3 + 0.05 * torch.tensor(rng.normal(size=(96, 1)), dtype=torch.float32)
X_train, Y_train, X_val, Y_val = X[:64], Y[:64], X[64:], Y[64:]


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(OrderedDict([
            ("fc1", nn.Linear(4, 8)),
            ("act", nn.Tanh()),
            ("fc2", nn.Linear(8, 1)),
        ]))
        self.register_buffer("calls", torch.zeros(()))
        self.register_buffer("scratch", torch.ones(3), persistent=False)

    def forward(self, x):
        self.calls += 1
        return self.body(x)


def fresh():
    net = Net()
    with torch.no_grad():
        for i, p in enumerate(net.parameters()):
            p.copy_(0.3 * torch.sin(torch.arange(p.numel(), dtype=torch.float32) + i).view_as(p))
    return net, optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)


def train_epoch(net, opt):
    net.train()
    for i in range(0, 64, 16):
        opt.zero_grad()
        loss = nn.functional.mse_loss(net(X_train[i:i + 16]), Y_train[i:i + 16])
        loss.backward()
        opt.step()
    return loss.item()


def val_loss(net):
    net.eval()
    with torch.no_grad():
        return nn.functional.mse_loss(net(X_val), Y_val).item()


tmp = tempfile.mkdtemp()
PATH = os.path.join(tmp, "model.pt")

# uninterrupted run with early-stopping bookkeeping
model, optimizer = fresh()
best_loss, best_state, best_epoch, history = float("inf"), None, -1, []
for epoch in range(12):
    train_epoch(model, optimizer)
    v = val_loss(model)
    history.append(v)
    if v < best_loss:
        best_loss, best_epoch = v, epoch
        best_state = copy.deepcopy(model.state_dict())
    if epoch == 5:
        torch.save({"epoch": epoch, "model_state_dict": model.state_dict(),
                    "optimizer_state_dict": optimizer.state_dict(), "loss": v,
                    "history": list(history)}, PATH)
final_uninterrupted = val_loss(model)

# resume from epoch 5 in fresh objects
model2, optimizer2 = fresh()
checkpoint = torch.load(PATH, map_location="cpu", weights_only=True)
model2.load_state_dict(checkpoint["model_state_dict"])
optimizer2.load_state_dict(checkpoint["optimizer_state_dict"])
start_epoch = checkpoint["epoch"] + 1
for epoch in range(start_epoch, 12):
    train_epoch(model2, optimizer2)
final_resumed = val_loss(model2)

# the best weights, restored into the live model
model.load_state_dict(best_state)
restored = val_loss(model)

# strict=False with a head that does not match
class Wider(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(OrderedDict([("fc1", nn.Linear(4, 8)), ("act", nn.Tanh())]))
        self.extra = nn.Linear(8, 2)


wider = Wider()
result = wider.load_state_dict(model.state_dict(), strict=False)
same_fc1 = bool((wider.body.fc1.weight == model.body.fc1.weight).all())
try:
    Wider().load_state_dict(model.state_dict())
    strict_raises = 0
except RuntimeError:
    strict_raises = 1

# plain tensors and nested containers
TPATH = os.path.join(tmp, "tensors.pt")
torch.save([X_val[:2], {"w": w_true, "ids": torch.arange(3)}, (1, "two")], TPATH)
loaded = torch.load(TPATH)
sd = model.state_dict()

print(f"RESULT keys {','.join(sd.keys())} equal -")
print(f"RESULT state_dict_type {type(sd).__name__} equal -")
print(f"RESULT calls_buffer {int(sd['calls'].item())} equal -")
print(f"RESULT opt_state_keys {','.join(sorted(checkpoint['optimizer_state_dict'].keys()))} equal -")
print(f"RESULT opt_momentum_buffers {len(checkpoint['optimizer_state_dict']['state'])} equal -")
print(f"RESULT opt_group_fields {int(checkpoint['optimizer_state_dict']['param_groups'][0]['nesterov'])},{'/'.join(map(str, checkpoint['optimizer_state_dict']['param_groups'][0]['params']))} equal -")
print(f"RESULT ckpt_epoch {checkpoint['epoch']},{len(checkpoint['history'])} equal -")
print(f"RESULT ckpt_loss {checkpoint['loss']:.6f} close 1e-5")
print(f"RESULT resumed_equals_uninterrupted {abs(final_resumed - final_uninterrupted):.2e} max 1e-7")
print(f"RESULT final_val {final_uninterrupted:.5f} close 1e-4")
print(f"RESULT best_epoch {best_epoch} equal -")
print(f"RESULT best_restored {abs(restored - best_loss):.2e} max 1e-7")
print(f"RESULT missing {sorted(result.missing_keys)} equal -".replace(" ", "").replace("RESULTmissing", "RESULT missing ").replace("equal-", " equal -"))
print(f"RESULT unexpected {sorted(result.unexpected_keys)} equal -".replace(" ", "").replace("RESULTunexpected", "RESULT unexpected ").replace("equal-", " equal -"))
print(f"RESULT copied_fc1 {int(same_fc1)} equal -")
print(f"RESULT strict_raises {strict_raises} equal -")
print(f"RESULT loaded_nested {type(loaded).__name__},{type(loaded[2]).__name__},{loaded[2][1]},{loaded[1]['ids'].tolist()} equal -".replace(", ", ","))
print(f"RESULT loaded_values {loaded[0].sum().item() + loaded[1]['w'].sum().item():.5f} close 1e-5")

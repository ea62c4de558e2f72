"""Checkpoint and resume, the torch way: train, torch.save a dict of model, optimizer and
scheduler state with the step and the loss history, torch.load it into fresh objects, and go
on; the resumed run must equal the uninterrupted one exactly."""
import os
import tempfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

rng = np.random.default_rng(3)
X = torch.from_numpy(rng.normal(size=(64, 6)).astype(np.float32))
Y = torch.from_numpy((rng.normal(size=(64,)) > 0).astype(np.int64))


def build():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Dropout(0.0), nn.Linear(16, 2))
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.from_numpy(np.linspace(-0.5, 0.5, p.numel(), dtype=np.float32)
                                     .reshape(tuple(p.shape))))
    opt = torch.optim.Adam(model.parameters(), lr=0.01, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=4, gamma=0.7)
    return model, opt, sched


def train(model, opt, sched, steps, history):
    for _ in range(steps):
        loss = F.cross_entropy(model(X), Y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        history.append(loss.item())


model, opt, sched = build()
straight = []
train(model, opt, sched, 20, straight)

model, opt, sched = build()
history = []
train(model, opt, sched, 10, history)
folder = tempfile.mkdtemp()
path = os.path.join(folder, "ckpt.pt")
torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(), "step": 10, "history": history,
            "config": {"hidden": 16, "name": "mlp", "tags": ("a", "b"), "seed": None}}, path)
del model, opt, sched

ckpt = torch.load(path)
model, opt, sched = build()
model.load_state_dict(ckpt["model"])
opt.load_state_dict(ckpt["optimizer"])
sched.load_state_dict(ckpt["scheduler"])
resumed = list(ckpt["history"])
train(model, opt, sched, 20 - ckpt["step"], resumed)

print(f"RESULT step {ckpt['step']} equal -")
print(f"RESULT config {ckpt['config']['hidden']},{ckpt['config']['name']},{ckpt['config']['seed']} equal -")
print(f"RESULT tags {'+'.join(ckpt['config']['tags'])} equal -")
print(f"RESULT resume_exact {max(abs(a - b) for a, b in zip(straight, resumed)):.1e} max 0")
print(f"RESULT final_loss {resumed[-1]:.6f} close 1e-5")
print(f"RESULT lr {sched.get_last_lr()[0]:.8f} close 1e-12")
print(f"RESULT state_keys {','.join(model.state_dict().keys())} equal -")
print(f"RESULT opt_step {int(opt.state_dict()['state'][0]['step'])} equal -")

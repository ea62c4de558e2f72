"""Data pipeline and learning-rate schedules: a Dataset subclass, TensorDataset, random_split,
DataLoader (shuffle, drop_last, collate_fn, samplers), dict samples, and every common scheduler,
stepped as torch's documentation says, with their state dicts."""
import numpy as np
import torch
from torch.optim.lr_scheduler import (CosineAnnealingLR, ExponentialLR, LambdaLR, LinearLR,
                                      MultiStepLR, OneCycleLR, ReduceLROnPlateau, SequentialLR,
                                      StepLR)
from torch.utils.data import (BatchSampler, DataLoader, Dataset, RandomSampler, SequentialSampler,
                              Subset, TensorDataset, random_split)

torch.manual_seed(0)


class Squares(Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"x": torch.tensor([float(i), float(i) ** 2]), "i": i, "name": f"n{i}"}


ds = Squares(23)
loader = DataLoader(ds, batch_size=5, shuffle=True, drop_last=True)
seen, shapes = [], set()
for epoch in range(2):
    for batch in loader:
        seen += batch["i"].tolist()
        shapes.add(tuple(batch["x"].shape))
        assert len(batch["name"]) == 5
print(f"RESULT batches_per_epoch {len(loader)} equal -")
print(f"RESULT seen {len(seen)} equal -")
print(f"RESULT distinct_per_epoch {len(set(seen[:20]))} equal -")
print(f"RESULT batch_shape {'x'.join(map(str, shapes.pop()))} equal -")

x = torch.arange(40, dtype=torch.float32).reshape(20, 2)
y = torch.arange(20)
train, val = random_split(TensorDataset(x, y), [15, 5])
print(f"RESULT split {len(train)},{len(val)} equal -")
covered = sorted(int(b[1].item()) for b in DataLoader(train, batch_size=None)) + \
    sorted(int(b[1].item()) for b in DataLoader(val, batch_size=None))
print(f"RESULT split_covers {int(sorted(covered) == list(range(20)))} equal -")
sizes = [len(b[0]) for b in DataLoader(TensorDataset(x, y), batch_size=6)]
print(f"RESULT last_short {sizes[-1]} equal -")
pairs = DataLoader(Subset(TensorDataset(x, y), [3, 1, 2]), batch_size=2,
                   collate_fn=lambda items: sum(int(t[1]) for t in items))
print(f"RESULT collate_fn {','.join(map(str, pairs))} equal -")
custom = DataLoader(TensorDataset(x, y), batch_sampler=BatchSampler(SequentialSampler(range(20)), 8, False))
print(f"RESULT batch_sampler {','.join(str(len(b[1])) for b in custom)} equal -")
print(f"RESULT random_sampler {','.join(map(str, sorted(RandomSampler(range(7)))))} equal -")


def rates(make, n=40, metric=None):
    w = torch.zeros(2, requires_grad=True)
    opt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
    sched = make(opt)
    out = []
    for step in range(n):
        opt.step()
        if metric is None:
            sched.step()
        else:
            sched.step(metric(step))
        out.append(opt.param_groups[0]["lr"])
    return out, sched


checks = {
    "step": lambda o: StepLR(o, step_size=7, gamma=0.5),
    "multistep": lambda o: MultiStepLR(o, milestones=[5, 12, 30], gamma=0.3),
    "exp": lambda o: ExponentialLR(o, gamma=0.93),
    "cosine": lambda o: CosineAnnealingLR(o, T_max=15, eta_min=0.001),
    "linear": lambda o: LinearLR(o, start_factor=0.2, total_iters=10),
    "lambda": lambda o: LambdaLR(o, lambda s: 1.0 / (1 + s)),
    "onecycle": lambda o: OneCycleLR(o, max_lr=1.0, total_steps=41),
    "sequential": lambda o: SequentialLR(o, [LinearLR(o, 0.1, 1.0, 5), ExponentialLR(o, 0.9)], [5]),
}
for name, make in checks.items():
    lrs, sched = rates(make)
    print(f"RESULT lr_{name}_sum {sum(lrs):.8f} close 1e-7")
    print(f"RESULT lr_{name}_last {sched.get_last_lr()[0]:.8f} close 1e-9")
lrs, sched = rates(lambda o: ReduceLROnPlateau(o, factor=0.5, patience=3), n=40,
                   metric=lambda s: 1.0 if s > 10 else 1.0 / (s + 1))
print(f"RESULT plateau_lr {lrs[-1]:.8f} close 1e-12")
state = sched.state_dict()
print(f"RESULT plateau_best {state['best']:.6f} close 1e-9")

w = torch.zeros(2, requires_grad=True)
opt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
sched = OneCycleLR(opt, max_lr=1.0, total_steps=30)
for _ in range(10):
    opt.step()
    sched.step()
saved = sched.state_dict()
w2 = torch.zeros(2, requires_grad=True)
opt2 = torch.optim.SGD([w2], lr=0.1, momentum=0.9)
sched2 = OneCycleLR(opt2, max_lr=1.0, total_steps=30)
sched2.load_state_dict(saved)
opt2.load_state_dict(opt.state_dict())
opt.step(), opt2.step()
sched.step(), sched2.step()
print(f"RESULT resumed_schedule {sched2.get_last_lr()[0] - sched.get_last_lr()[0]:.3e} equal -")
print(f"RESULT momentum {opt2.param_groups[0]['momentum']:.6f} close 1e-9")

"""Fitting y = sin(x) with a cubic, the way "Learning PyTorch with Examples" does it, step by step:
gradients by hand on tensors, autograd with updates under torch.no_grad() and a.grad = None,
nn.Sequential(nn.Linear(3, 1), nn.Flatten(0, 1)) on x.unsqueeze(-1).pow(p) updated by hand after
model.zero_grad(), torch.optim.RMSprop, and a custom nn.Module of four nn.Parameter scalars with
SGD. Starting points are fixed, so every coefficient must match torch's."""
import math

import torch

dtype = torch.float
device = torch.device("cpu")
x = torch.arange(-1000, 1000, dtype=dtype, device=device) * (math.pi / 1000)
y = torch.sin(x)
start = [0.1, -0.2, 0.05, 0.01]
steps, learning_rate = 400, 1e-6

# 1. tensors and hand-written gradients
a, b, c, d = (torch.tensor(v, device=device, dtype=dtype) for v in start)
for t in range(steps):
    y_pred = a + b * x + c * x ** 2 + d * x ** 3
    loss = (y_pred - y).pow(2).sum().item()
    grad_y_pred = 2.0 * (y_pred - y)
    grad_a = grad_y_pred.sum()
    grad_b = (grad_y_pred * x).sum()
    grad_c = (grad_y_pred * x ** 2).sum()
    grad_d = (grad_y_pred * x ** 3).sum()
    a -= learning_rate * grad_a
    b -= learning_rate * grad_b
    c -= learning_rate * grad_c
    d -= learning_rate * grad_d
manual = (a.item(), b.item(), c.item(), d.item(), loss)

# 2. autograd, updated by hand
a, b, c, d = (torch.tensor(v, dtype=dtype, requires_grad=True) for v in start)
for t in range(steps):
    y_pred = a + b * x + c * x ** 2 + d * x ** 3
    loss = (y_pred - y).pow(2).sum()
    loss.backward()
    with torch.no_grad():
        a -= learning_rate * a.grad
        b -= learning_rate * b.grad
        c -= learning_rate * c.grad
        d -= learning_rate * d.grad
        a.grad = None
        b.grad = None
        c.grad = None
        d.grad = None
auto = (a.item(), b.item(), c.item(), d.item(), loss.item())
auto_leaf = (a.is_leaf, a.requires_grad, a.grad is None)

# 3. nn.Sequential with hand updates
p = torch.tensor([1, 2, 3])
xx = x.unsqueeze(-1).pow(p)
model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1))
with torch.no_grad():
    model[0].weight.copy_(torch.tensor([start[1:]]))
    model[0].bias.fill_(start[0])
loss_fn = torch.nn.MSELoss(reduction="sum")
for t in range(steps):
    y_pred = model(xx)
    loss = loss_fn(y_pred, y)
    model.zero_grad()
    loss.backward()
    with torch.no_grad():
        for param in model.parameters():
            param -= learning_rate * param.grad
linear_layer = model[0]
seq = (linear_layer.bias.item(), *linear_layer.weight[:, 0:3].flatten().tolist(), loss.item())
n_params = len(list(model.parameters()))

# 4. the same with torch.optim.RMSprop
model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1))
with torch.no_grad():
    model[0].weight.copy_(torch.tensor([start[1:]]))
    model[0].bias.fill_(start[0])
optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3)
for t in range(steps):
    loss = loss_fn(model(xx), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
rms = (model[0].bias.item(), *model[0].weight.flatten().tolist(), loss.item())
rms_state = optimizer.state_dict()["state"][0]


# 5. a custom Module with scalar parameters and SGD
class Polynomial3(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(start[0]))
        self.b = torch.nn.Parameter(torch.tensor(start[1]))
        self.c = torch.nn.Parameter(torch.tensor(start[2]))
        self.d = torch.nn.Parameter(torch.tensor(start[3]))

    def forward(self, x):
        return self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3

    def string(self):
        return f"y = {self.a.item():.3f} + {self.b.item():.3f} x + {self.c.item():.3f} x^2 + {self.d.item():.3f} x^3"


model = Polynomial3()
criterion = torch.nn.MSELoss(reduction="sum")
optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=0.5)
for t in range(steps):
    loss = criterion(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
custom = [p.item() for p in model.parameters()] + [loss.item()]

for name, vals in [("manual", manual), ("autograd", auto), ("sequential", seq), ("rmsprop", rms),
                   ("module", custom)]:
    for label, v in zip("abcd", vals[:4]):
        print(f"RESULT {name}_{label} {v:.6f} close 2e-4")
    print(f"RESULT {name}_loss {vals[4]:.3f} close {max(1e-3 * vals[4], 1e-2):.4f}")
print(f"RESULT manual_equals_autograd {max(abs(m - n) for m, n in zip(manual[:4], auto[:4])):.2e} max 1e-4")
print(f"RESULT autograd_leaf {auto_leaf} equal -".replace(", ", ","))
print(f"RESULT xx_shape {tuple(xx.shape)} equal -".replace(", ", ","))
print(f"RESULT xx_dtype_float {int(xx.dtype == torch.float32)} equal -")
print(f"RESULT n_params {n_params} equal -")
print(f"RESULT rms_state {','.join(sorted(rms_state))} equal -")
print(f"RESULT module_string {model.string().replace(' ', '')} equal -")

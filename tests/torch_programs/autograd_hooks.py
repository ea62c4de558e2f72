"""Extending and inspecting autograd as the tutorials do: the LegendrePolynomial3 Function of
"Learning PyTorch with Examples", a gradient-reversal layer, a straight-through rounding
estimator, a Function with two outputs and a non-tensor argument; register_forward_hook to
capture activations by module name, a forward pre-hook that rescales the input, parameter
hooks that clip gradients, retain_grad, torch.autograd.grad with retain_graph, and hook removal."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class LegendrePolynomial3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input ** 3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input ** 2 - 1)


class GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambd):
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output.neg() * ctx.lambd, None


class RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return torch.round(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


class ScaleShift(torch.autograd.Function):
    """Returns (x * w, x + shift); shift is a Python float."""

    @staticmethod
    def forward(ctx, x, w, shift):
        ctx.save_for_backward(x, w)
        return x * w, x + shift

    @staticmethod
    def backward(ctx, g_scaled, g_shifted):
        x, w = ctx.saved_tensors
        gx = g_scaled * w + g_shifted if ctx.needs_input_grad[0] else None
        gw = (g_scaled * x).sum(0) if ctx.needs_input_grad[1] else None
        return gx, gw, None


# 1. Legendre fit with the custom Function, fixed start
x = torch.arange(-500, 500, dtype=torch.float32) * (math.pi / 500)
y = torch.sin(x)
a = torch.full((), 0.0, requires_grad=True)
b = torch.full((), -1.0, requires_grad=True)
c = torch.full((), 0.0, requires_grad=True)
d = torch.full((), 0.3, requires_grad=True)
P3 = LegendrePolynomial3.apply
for t in range(300):
    y_pred = a + b * P3(c + d * x)
    loss = (y_pred - y).pow(2).sum()
    loss.backward()
    with torch.no_grad():
        for p in (a, b, c, d):
            p -= 5e-6 * p.grad
            p.grad = None
legendre = (a.item(), b.item(), c.item(), d.item(), loss.item())

# 2. gradient reversal and straight-through rounding
v = torch.tensor([0.3, -1.2, 2.7], requires_grad=True)
(GradReverse.apply(v, 0.5) * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
grl_grad = v.grad.tolist()
v.grad = None
q = RoundSTE.apply(v * 2)
(q * q).sum().backward()
ste = (q.tolist(), v.grad.tolist())

# 3. two outputs, needs_input_grad
xs = torch.tensor([[1.0, 2.0], [3.0, -1.0]], requires_grad=True)
ws = torch.tensor([0.5, -2.0], requires_grad=True)
scaled, shifted = ScaleShift.apply(xs, ws, 3.0)
(scaled.sum() * 2 + (shifted ** 2).sum()).backward()
two_out = (xs.grad.sum().item(), ws.grad.tolist(), shifted.sum().item())
xs.grad = None
scaled, shifted = ScaleShift.apply(xs, ws.detach(), 1.0)
scaled.sum().backward()
only_x = xs.grad.sum().item()


# 4. module hooks on a fixed network
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 6)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(6, 3)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


net = Net()
with torch.no_grad():
    for i, p in enumerate(net.parameters()):
        p.copy_(torch.cos(torch.arange(p.numel(), dtype=torch.float32) * 0.7 + i).view(p.shape) * 0.5)
activations, calls = {}, []


def save_activation(name):
    def hook(module, inputs, output):
        activations[name] = output.detach()
        calls.append(name)
    return hook


handles = [m.register_forward_hook(save_activation(n)) for n, m in net.named_modules() if n]
pre = net.fc1.register_forward_pre_hook(lambda module, inputs: (inputs[0] * 2,))
inp = torch.linspace(-1, 1, 8).view(2, 4)
out = net(inp)
hooked = (out.sum().item(), activations["act"].sum().item(), ",".join(calls))
pre.remove()
for h in handles:
    h.remove()
calls.clear()
plain = net(inp).sum().item()

# 5. gradient hooks: clip each parameter's gradient, watch an intermediate
clip_handles = [p.register_hook(lambda g: g.clamp(-0.1, 0.1)) for p in net.parameters()]
hidden = net.act(net.fc1(inp))
hidden.retain_grad()
seen = []
hidden.register_hook(lambda g: seen.append(g.abs().sum().item()))
loss = F.cross_entropy(net.fc2(hidden), torch.tensor([0, 2]))
loss.backward()
max_grad = max(p.grad.abs().max().item() for p in net.parameters())
hidden_grad = hidden.grad.abs().sum().item()
for h in clip_handles:
    h.remove()

# 6. torch.autograd.grad: gradient of a gradient-free quantity, twice from one graph
z = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
f = (z ** 3).sum()
(g1,) = torch.autograd.grad(f, z, retain_graph=True)
(g2,) = torch.autograd.grad(f * 2, z)
grad_results = (g1.tolist(), g2.tolist(), z.grad is None)

for name, v in zip("abcd", legendre[:4]):
    print(f"RESULT legendre_{name} {v:.5f} close 1e-4")
print(f"RESULT legendre_loss {legendre[4]:.3f} close 0.05")
print(f"RESULT grl {grl_grad} equal -".replace(", ", ","))
print(f"RESULT ste {ste} equal -".replace(", ", ","))
print(f"RESULT two_out {two_out} equal -".replace(", ", ","))
print(f"RESULT only_x {only_x:.4f} equal -")
print(f"RESULT hooked {hooked[0]:.5f} close 1e-5")
print(f"RESULT hooked_act {hooked[1]:.5f} close 1e-5")
print(f"RESULT hook_order {hooked[2]} equal -")
print(f"RESULT hooks_removed {plain:.5f},{len(calls)} equal -")
print(f"RESULT clipped_grad_max {max_grad:.4f} equal -")
print(f"RESULT hidden_grad {hidden_grad:.5f} close 1e-5")
print(f"RESULT hidden_hook {seen[0]:.5f} close 1e-5")
print(f"RESULT autograd_grad {grad_results} equal -".replace(", ", ","))

"""Hooks as people use them to look inside a model: forward hooks that collect activation
statistics per layer (named_modules), a forward hook that edits an output, a pre-hook that
normalises the input, full backward hooks that check gradient flow per layer, a backward
pre-hook that scales grad_output, parameter hooks (register_hook) for gradient clipping,
feature extraction from an intermediate layer, a gradient-reversal Function, and
torch.autograd.grad with grad_outputs; every hook removed through its handle at the end."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lambd):
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output * -ctx.lambd, None


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 8), nn.SiLU())
        self.classifier = nn.Linear(8, 3)
        self.domain = nn.Linear(8, 2)

    def forward(self, x, lambd=0.5):
        h = self.features(x)
        return self.classifier(h), self.domain(GradReverse.apply(h, lambd))


net = Net()
with torch.no_grad():
    for i, p in enumerate(net.parameters()):
        p.copy_(0.4 * torch.sin(torch.arange(p.numel(), dtype=torch.float32) * 0.9 + i).view(p.shape))
x = (torch.arange(20, dtype=torch.float32).view(5, 4) - 9.5) / 6
y, d = torch.tensor([0, 1, 2, 1, 0]), torch.tensor([0, 1, 0, 1, 1])

stats, handles = {}, []
for name, module in net.named_modules():
    if isinstance(module, (nn.Linear, nn.Tanh, nn.SiLU)):
        handles.append(module.register_forward_hook(
            lambda m, inp, out, name=name: stats.__setitem__(name, (out.mean().item(), out.std().item()))))
handles.append(net.features[0].register_forward_pre_hook(
    lambda m, inp: ((inp[0] - inp[0].mean(dim=0, keepdim=True)),)))
handles.append(net.features[3].register_forward_hook(lambda m, inp, out: out.clamp(max=0.5)))

flow = {}


def grad_flow(name):
    def hook(module, grad_input, grad_output):
        flow[name] = (grad_output[0].abs().sum().item(),
                      None if grad_input[0] is None else grad_input[0].abs().sum().item())
    return hook


for name, module in net.named_modules():
    if isinstance(module, nn.Linear):
        handles.append(module.register_full_backward_hook(grad_flow(name)))
handles.append(net.classifier.register_full_backward_pre_hook(lambda m, go: (go[0] * 3.0,)))
clip_handles = [p.register_hook(lambda g: g.clamp(-0.05, 0.05)) for p in net.features.parameters()]

logits, domain_logits = net(x)
loss = F.cross_entropy(logits, y) + F.cross_entropy(domain_logits, d)
loss.backward()
features_grad_max = max(p.grad.abs().max().item() for p in net.features.parameters())
classifier_grad = net.classifier.weight.grad.abs().sum().item()
domain_grad = net.domain.weight.grad.abs().sum().item()

for h in handles + clip_handles:
    h.remove()
stats_before = dict(stats)
stats.clear()
flow_before = dict(flow)
flow.clear()
net.zero_grad()
logits2, domain2 = net(x)
(F.cross_entropy(logits2, y) + F.cross_entropy(domain2, d)).backward()
after_remove = (len(stats), len(flow), net.features[0].weight.grad.abs().max().item() > 0.05)

# feature extraction from an intermediate layer
captured = []
h = net.features[1].register_forward_hook(lambda m, i, o: captured.append(o.detach()))
with torch.no_grad():
    net(x)
h.remove()

# gradient of the outputs with respect to the input, with explicit grad_outputs
xi = x.clone().requires_grad_(True)
out, _ = net(xi)
(gx,) = torch.autograd.grad(out, xi, grad_outputs=torch.ones_like(out))

print(f"RESULT hooked_layers {','.join(sorted(stats_before))} equal -")
for name in sorted(stats_before):
    key = name.replace(".", "_")
    print(f"RESULT act_mean_{key} {stats_before[name][0]:.6f} close 1e-5")
    print(f"RESULT act_std_{key} {stats_before[name][1]:.6f} close 1e-5")
for name in sorted(flow_before):
    go, gi = flow_before[name]
    key = name.replace(".", "_")
    print(f"RESULT flow_out_{key} {go:.6f} close 1e-5")
    print(f"RESULT flow_in_{key} {'none' if gi is None else 'some'} equal -")
    if gi is not None:
        print(f"RESULT flow_in_value_{key} {gi:.6f} close 1e-5")
print(f"RESULT features_grad_clipped {features_grad_max:.4f} equal -")
print(f"RESULT classifier_grad {classifier_grad:.5f} close 1e-5")
print(f"RESULT domain_grad {domain_grad:.5f} close 1e-5")
print(f"RESULT after_remove {after_remove} equal -".replace(", ", ","))
print(f"RESULT captured {len(captured)},{tuple(captured[0].shape)} equal -".replace(", ", ","))
print(f"RESULT input_grad {gx.sum().item():.5f} close 1e-5")

"""Autograd: higher-order grads, hooks, detach, no_grad, requires_grad_, retain_grad."""
import torch

def R(name, v, rule="close", arg="1e-5"):
    print(f"RESULT {name} {v} {rule} {arg}")

x = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
y = (x ** 3 + torch.sin(x) * x).sum()
(g,) = torch.autograd.grad(y, x, create_graph=True)
R("g0", g[0].item())
R("g_requires", g.requires_grad, "equal", "-")
(h,) = torch.autograd.grad(g.sum(), x)
R("second_deriv", h.sum().item())
# grad of grad via backward
x.grad = None
g2 = torch.autograd.grad((x.exp() * x).sum(), x, create_graph=True)[0]
(g2 ** 2).sum().backward()
R("grad_of_gradnorm", x.grad.sum().item(), "close", "1e-2")
# grad with grad_outputs, retain_graph, allow_unused
a = torch.randn(3, requires_grad=True)
b = torch.randn(3, requires_grad=True)
out = a * 2
ga, gb = torch.autograd.grad(out, [a, b], grad_outputs=torch.ones(3), retain_graph=True, allow_unused=True)
R("unused_is_none", gb is None, "equal", "-")
R("ga", ga.tolist(), "equal", "-")
out.backward(torch.tensor([1.0, 2.0, 3.0]))
R("backward_gradient_arg", a.grad.tolist(), "equal", "-")
# hooks
seen = []
w = torch.tensor([1.0, 2.0], requires_grad=True)
hd = w.register_hook(lambda grad: grad * 0.5)
mid = w * w
mid.register_hook(lambda grad: seen.append(grad.sum().item()))
mid.retain_grad()
mid.sum().backward()
R("hook_scaled", w.grad.tolist(), "equal", "-")
R("hook_seen", seen[0], "equal", "-")
R("retain_grad", mid.grad.tolist(), "equal", "-")
hd.remove()
w.grad.zero_()
(w * 3).sum().backward()
R("hook_removed", w.grad.tolist(), "equal", "-")
# grad accumulation
w.grad = None
for _ in range(3):
    (w ** 2).sum().backward()
R("accumulate", w.grad.tolist(), "equal", "-")
# detach / no_grad / requires_grad_
d = (w * 2).detach()
R("detach_req", d.requires_grad, "equal", "-")
R("detach_leaf", d.is_leaf, "equal", "-")
with torch.no_grad():
    n = w * 5
R("no_grad_req", n.requires_grad, "equal", "-")
R("grad_enabled", torch.is_grad_enabled(), "equal", "-")
t = torch.ones(2)
R("plain_req", t.requires_grad, "equal", "-")
t.requires_grad_()
R("after_req_", t.requires_grad, "equal", "-")
R("is_leaf", t.is_leaf, "equal", "-")
u = (t * 2).sum()
R("grad_fn_none", u.grad_fn is None, "equal", "-")
u.backward()
R("t_grad", t.grad.tolist(), "equal", "-")
@torch.no_grad()
def f(z):
    return z * 2
R("decorator_nograd", f(t).requires_grad, "equal", "-")
with torch.enable_grad():
    R("enable_grad", (t * 2).requires_grad, "equal", "-")
with torch.inference_mode():
    R("inference_mode", (t * 2).requires_grad, "equal", "-")
torch.set_grad_enabled(False)
R("set_grad_enabled", (t * 2).requires_grad, "equal", "-")
torch.set_grad_enabled(True)
# gradient through indexing, max, std, norm
q = torch.tensor([[1.0, 4.0, 2.0], [3.0, 0.5, 6.0]], requires_grad=True)
loss = q[:, 1:].max(dim=1).values.sum() + q.std(dim=0).sum() + q.norm() + q[q > 2].sum()
loss.backward()
R("mixed_grad_sum", q.grad.sum().item())
R("mixed_grad_00", q.grad[0, 0].item())
jac = torch.autograd.functional.jacobian(lambda v: v ** 2, torch.tensor([1.0, 2.0]))
R("jacobian", jac.tolist(), "equal", "-")

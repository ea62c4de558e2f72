"""nn.Module plumbing: state_dict with buffers, named_modules order, apply, weight tying, train/eval,
containers indexing/slicing, deepcopy, zero_grad(set_to_none=False)."""
import copy
import io
import numpy as np
import torch
import torch.nn as nn

from _report import R, section


class Norm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(d))
        self.register_buffer("running", torch.zeros(d))
        self.register_buffer("cache", torch.zeros(d), persistent=False)
        self.register_buffer("steps", torch.tensor(0))

    def forward(self, x):
        if self.training:
            self.running.mul_(0.9).add_(0.1 * x.detach().mean(0))
            self.steps += 1
        self.cache = x.detach().std(0)
        return (x - self.running) * self.scale


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(10, 6)
        self.body = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 6))
        self.norms = nn.ModuleList([Norm(6), Norm(6)])
        self.heads = nn.ModuleDict({"b": nn.Linear(6, 3), "a": nn.Linear(6, 2)})
        self.out = nn.Linear(6, 10, bias=False)
        self.out.weight = self.emb.weight

    def forward(self, idx):
        h = self.emb(idx).mean(1)
        h = self.body(h)
        for n in self.norms:
            h = n(h)
        return self.out(h), self.heads["a"](h)


rng = np.random.RandomState(11)


def init_fn(m):
    if isinstance(m, nn.Linear):
        with torch.no_grad():
            m.weight.copy_(torch.tensor(rng.randn(*m.weight.shape) * 0.2, dtype=torch.float32))
            if m.bias is not None:
                m.bias.fill_(0.01)
    elif isinstance(m, nn.Embedding):
        nn.init.constant_(m.weight, 0.0)
        with torch.no_grad():
            m.weight += torch.tensor(rng.randn(*m.weight.shape) * 0.3, dtype=torch.float32)


def plumbing():
    net = Net()
    net.apply(init_fn)
    R("named_modules", ",".join(n for n, _ in net.named_modules()), "equal", "-")
    R("named_children", ",".join(n for n, _ in net.named_children()), "equal", "-")
    R("param_names", ",".join(n for n, _ in net.named_parameters()), "equal", "-")
    R("n_params_unique", sum(p.numel() for p in net.parameters()), "equal", "-")
    R("n_params_dup", len(list(net.named_parameters(remove_duplicate=False))), "equal", "-")
    sd = net.state_dict()
    R("sd_keys", ",".join(sd.keys()), "equal", "-")
    R("sd_tied_same", sd["out.weight"].data_ptr() == sd["emb.weight"].data_ptr(), "equal", "-")
    R("buffers", ",".join(n for n, _ in net.named_buffers()), "equal", "-")
    idx = torch.tensor(rng.randint(0, 10, size=(4, 3)))
    net.train()
    R("train_flags", all(m.training for m in net.modules()), "equal", "-")
    net.body[2].p = 0.0
    net(idx)
    net(idx)
    R("steps_buffer", net.norms[0].steps.item(), "equal", "-")
    R("steps_dtype", str(net.norms[0].steps.dtype).replace("torch.", ""), "equal", "-")
    net.eval()
    R("eval_flags", any(m.training for m in net.modules()), "equal", "-")
    logits, a = net(idx)
    R("eval_out", logits.sum().item(), "close", 1e-4)
    R("running_after", net.norms[1].running.sum().item(), "close", 1e-5)
    # round trip through a new model and through save/load
    net2 = Net()
    res = net2.load_state_dict(sd)
    R("load_missing", list(res.missing_keys), "equal", "-")
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    buf.seek(0)
    net3 = Net()
    net3.load_state_dict(torch.load(buf))
    net3.eval()
    R("reloaded_out", net3(idx)[0].sum().item(), "close", 1e-4)
    R("reloaded_tied", net3.out.weight is net3.emb.weight, "equal", "-")
    R("reloaded_cache_zero", net3.norms[0].cache.abs().sum().item() > 0, "equal", "-")
    # containers
    R("seq_slice_type", type(net.body[1:]).__name__, "equal", "-")
    R("seq_neg", type(net.body[-1]).__name__, "equal", "-")
    R("seq_len", len(net.body[:2]), "equal", "-")
    R("ml_slice", len(net.norms[:1]), "equal", "-")
    R("md_keys", ",".join(net.heads.keys()), "equal", "-")
    R("md_in", "a" in net.heads, "equal", "-")
    net.body.append(nn.Tanh())
    R("seq_append_len", len(net.body), "equal", "-")
    net.norms.insert(0, Norm(6))
    R("ml_insert", ",".join(n for n, _ in net.norms.named_children()), "equal", "-")
    del net.body[3]
    R("seq_del", ",".join(type(m).__name__ for m in net.body), "equal", "-")
    R("get_submodule", type(net.get_submodule("body.1")).__name__, "equal", "-")


def copies_and_grads():
    net = Net()
    net.apply(init_fn)
    net.body[2].p = 0.0
    clone = copy.deepcopy(net)
    R("deepcopy_tied", clone.out.weight is clone.emb.weight, "equal", "-")
    R("deepcopy_indep", clone.emb.weight is net.emb.weight, "equal", "-")
    idx = torch.tensor(rng.randint(0, 10, size=(4, 3)))
    l, a = net(idx)
    (l.pow(2).mean() + a.sum()).backward()
    g = net.emb.weight.grad.clone()
    R("tied_grad_sum", g.abs().sum().item(), "close", 1e-4)
    net.zero_grad(set_to_none=False)
    R("zero_grad_false", net.emb.weight.grad is not None and net.emb.weight.grad.abs().sum().item() == 0, "equal", "-")
    net.zero_grad()
    R("zero_grad_none", net.emb.weight.grad is None, "equal", "-")
    R("clone_grad_none", clone.emb.weight.grad is None, "equal", "-")
    with torch.no_grad():
        clone.emb.weight.add_(1.0)
    R("deepcopy_no_share", (clone.emb.weight - net.emb.weight).mean().item(), "close", 1e-6)
    # freeze part of the model
    for p in net.body.parameters():
        p.requires_grad_(False)
    R("trainable", sum(p.numel() for p in net.parameters() if p.requires_grad), "equal", "-")
    opt = torch.optim.SGD(filter(lambda p: p.requires_grad, net.parameters()), lr=0.1)
    l, a = net(idx)
    l.mean().backward()
    R("frozen_grad_none", net.body[0].weight.grad is None, "equal", "-")
    opt.step()
    R("after_step", net.emb.weight.sum().item(), "close", 1e-4)
    # module.to(dtype) and double
    d = copy.deepcopy(net).double()
    R("double_dtype", str(d.out.weight.dtype).replace("torch.", ""), "equal", "-")
    R("double_buffer_dtype", str(d.norms[0].steps.dtype).replace("torch.", ""), "equal", "-")
    R("double_tied", d.out.weight is d.emb.weight, "equal", "-")
    R("extra_repr", repr(net.heads["a"]), "equal", "-")


for name, fn in [("plumbing", plumbing), ("copies", copies_and_grads)]:
    section(name, fn)

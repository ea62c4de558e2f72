"""Gradients through everyday ops: where, max, std, indexing, in-place on non-leaves, expand, repeat, cat."""
import torch
import torch.nn.functional as F

def R(name, v, rule="close", arg="1e-5"):
    print(f"RESULT {name} {v} {rule} {arg}")

def grad(f, *vals):
    xs = [torch.tensor(v, requires_grad=True) for v in vals]
    f(*xs).backward()
    return [x.grad.tolist() for x in xs]

R("where_grad", grad(lambda x: torch.where(x > 0, x ** 2, -x).sum(), [-1.0, 2.0, 0.0]), "equal", "-")
R("max_dim_grad", grad(lambda x: x.max(dim=1).values.sum(), [[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]]), "equal", "-")
R("max_all_grad", grad(lambda x: x.max(), [1.0, 3.0, 3.0]), "equal", "-")
R("amax_grad", grad(lambda x: x.amax(), [1.0, 3.0, 3.0]), "equal", "-")
R("std_grad", grad(lambda x: x.std(), [1.0, 2.0, 4.0])[0][2])
R("var_corr0_grad", grad(lambda x: x.var(dim=0, correction=0).sum(), [[1.0, 2.0], [3.0, 7.0]]), "equal", "-")
R("abs_grad_at0", grad(lambda x: x.abs().sum(), [0.0, -2.0]), "equal", "-")
R("relu_grad_at0", grad(lambda x: F.relu(x).sum(), [0.0, 1.0]), "equal", "-")
R("clamp_grad_edge", grad(lambda x: x.clamp(0.0, 1.0).sum(), [0.0, 1.0, 0.5, 2.0]), "equal", "-")
R("sqrt_grad", grad(lambda x: x.sqrt().sum(), [4.0])[0][0])
R("norm_grad", grad(lambda x: x.norm(), [3.0, 4.0])[0][0])
R("index_repeat_grad", grad(lambda x: x[[0, 0, 2]].sum(), [1.0, 2.0, 3.0]), "equal", "-")
R("mask_index_grad", grad(lambda x: (x[x > 1.5] * 2).sum(), [1.0, 2.0, 3.0]), "equal", "-")
R("expand_grad", grad(lambda x: x.expand(3, 2).sum(), [[1.0, 2.0]]), "equal", "-")
R("repeat_grad", grad(lambda x: (x.repeat(2, 3) * torch.arange(12.0).view(2, 6)).sum(), [[1.0, 2.0]]), "equal", "-")
R("cat_grad", grad(lambda a, b: (torch.cat([a, b]) * torch.tensor([1.0, 2.0, 3.0])).sum(), [1.0], [1.0, 1.0]), "equal", "-")
R("stack_grad", grad(lambda a, b: torch.stack([a, b], 1)[:, 1].sum(), [1.0, 1.0], [2.0, 2.0]), "equal", "-")
R("split_grad", grad(lambda a: a.split(1)[1].sum() * 3, [1.0, 1.0]), "equal", "-")
R("gather_grad", grad(lambda a: a.gather(1, torch.tensor([[0, 0], [1, 0]])).sum(), [[1.0, 2.0], [3.0, 4.0]]), "equal", "-")
R("logsumexp_grad", grad(lambda a: a.logsumexp(0), [0.0, 0.0])[0][0])
R("cumsum_grad", grad(lambda a: a.cumsum(0).sum(), [1.0, 1.0, 1.0]), "equal", "-")
R("softmax_ce_grad", grad(lambda a: F.cross_entropy(a, torch.tensor([1, -100])), [[1.0, 2.0], [0.0, 0.0]])[0][0][0])
R("ls_ignore_grad", [v + 0.0 for v in grad(lambda a: F.cross_entropy(a, torch.tensor([1, -100]), label_smoothing=0.2), [[1.0, 2.0], [0.0, 0.0]])[0][1]], "equal", "-")  # (+ 0.0: -0.0 prints apart)
R("topk_grad", grad(lambda a: a.topk(2).values.sum(), [1.0, 5.0, 3.0]), "equal", "-")
R("sort_grad", grad(lambda a: (a.sort().values * torch.tensor([1.0, 2.0, 3.0])).sum(), [3.0, 1.0, 2.0]), "equal", "-")
R("pow_neg_base", grad(lambda a: (a ** 2).sum(), [-3.0]), "equal", "-")
R("pow_tensor_exp", grad(lambda a, b: (a ** b).sum(), [2.0], [3.0])[1][0])
R("div_grad", grad(lambda a, b: (a / b).sum(), [1.0], [2.0]), "equal", "-")
R("bcast_grad", grad(lambda a, b: (a * b).sum(), [[1.0], [2.0]], [1.0, 2.0, 3.0]), "equal", "-")
R("mean_keep_grad", grad(lambda a: a.mean(1, keepdim=True).sum(), [[1.0, 2.0]]), "equal", "-")
R("prod_zero_grad", grad(lambda a: a.prod(), [0.0, 2.0, 3.0]), "equal", "-")
R("min_dim_grad", grad(lambda a: a.min(0)[0].sum(), [[1.0, 0.0], [0.0, 1.0]]), "equal", "-")
R("masked_fill_grad", grad(lambda a: a.masked_fill(a > 1, 0.0).sum(), [1.0, 2.0]), "equal", "-")
# in-place on non-leaf tensors inside the graph
def inplace(a):
    h = a * 2
    h.add_(1)
    h.mul_(a)
    h.clamp_(max=10.0)
    return h.sum()
R("inplace_chain_grad", grad(inplace, [1.0, 3.0]), "equal", "-")
def inplace_relu(a):
    h = a * 1.0
    return F.relu(h, inplace=True).sum() + h.sum()
R("relu_inplace", grad(inplace_relu, [-1.0, 2.0]), "equal", "-")
def sigmoid_then_mul(a):
    s = torch.sigmoid(a)
    s2 = s * 3
    s2 += 1
    return (s2 * s).sum()
R("iadd_grad", grad(sigmoid_then_mul, [0.0])[0][0])
try:
    def bad(a):
        s = a.exp(); s.mul_(2); return s.sum()
    R("exp_inplace_after", grad(bad, [0.0, 1.0])[0][1])
except RuntimeError:
    R("exp_inplace_after", -1.0)
x = torch.tensor([1.0, 2.0], requires_grad=True)
y = x * 2
z = y.detach()
z.add_(5)
R("detach_shares", y.tolist(), "equal", "-")
try:
    x.add_(1)
    R("leaf_inplace_raises", 0, "equal", "-")
except RuntimeError:
    R("leaf_inplace_raises", 1, "equal", "-")

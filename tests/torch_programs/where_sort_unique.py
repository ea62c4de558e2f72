"""where with scalars, nonzero, argmax/topk ties, unique variants, sort stability, searchsorted-like code."""
import numpy as np
import torch

from _report import R, dt, section

rng = np.random.RandomState(7)


def where_nonzero():
    x = torch.tensor([[-1.0, 2.0, 0.0], [3.0, -4.0, 5.0]])
    R("where_scalars", torch.where(x > 0, 1.0, -1.0).tolist(), "equal", "-")
    R("where_scalars_dtype", dt(torch.where(x > 0, 1.0, -1.0).dtype), "equal", "-")
    R("where_int_scalars_dtype", dt(torch.where(x > 0, 1, 0).dtype), "equal", "-")
    R("where_tensor_scalar", torch.where(x > 0, x, 0.0).tolist(), "equal", "-")
    ix = torch.tensor([1, 2, 3])
    R("where_int_float_dtype", dt(torch.where(ix > 1, ix, 0.5).dtype), "equal", "-")
    r, c = torch.where(x < 0)
    R("where_single_arg", [r.tolist(), c.tolist()], "equal", "-")
    nz = torch.nonzero(x)
    R("nonzero", nz.tolist(), "equal", "-")
    t = x.nonzero(as_tuple=True)
    R("nonzero_tuple", [a.tolist() for a in t], "equal", "-")
    R("nonzero_tuple_type", type(t).__name__, "equal", "-")
    R("count_nonzero", torch.count_nonzero(x, dim=0).tolist(), "equal", "-")
    # gradient through where with scalar branch
    w = torch.tensor([-1.0, 0.5, 2.0], requires_grad=True)
    y = torch.where(w > 0, w ** 2, 0.0)
    y.sum().backward()
    R("where_grad", w.grad.tolist(), "equal", "-")


def ties():
    x = torch.tensor([[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, 5.0, 5.0]])
    R("argmax_ties", x.argmax(dim=1).tolist(), "equal", "-")
    R("argmin_ties", x.argmin(dim=1).tolist(), "equal", "-")
    R("argmax_flat", x.argmax().item(), "equal", "-")
    R("max_dim_idx", x.max(dim=1).indices.tolist(), "equal", "-")
    v, i = torch.topk(torch.tensor([1.0, 4.0, 4.0, 2.0, 4.0]), 2)
    R("topk_vals", v.tolist(), "equal", "-")
    R("topk_smallest", torch.topk(torch.tensor([3, 1, 2, 1]), 2, largest=False).values.tolist(), "equal", "-")
    y = torch.tensor([2, 1, 2, 0, 1, 2])
    s = torch.sort(y, stable=True)
    R("sort_stable_idx", s.indices.tolist(), "equal", "-")
    s = torch.sort(y, descending=True, stable=True)
    R("sort_desc_stable_idx", s.indices.tolist(), "equal", "-")
    R("argsort_desc", torch.argsort(torch.tensor([0.1, 0.9, 0.5]), descending=True).tolist(), "equal", "-")
    m = torch.tensor([[3.0, 1.0], [2.0, 4.0]])
    R("sort_dim0", m.sort(dim=0).values.tolist(), "equal", "-")
    nanx = torch.tensor([1.0, float("nan"), 0.5])
    R("sort_nan", str(nanx.sort().values.tolist()), "equal", "-")
    R("argmax_nan", nanx.argmax().item(), "equal", "-")
    R("kthvalue", torch.tensor([5.0, 1.0, 4.0, 2.0]).kthvalue(2).values.item(), "equal", "-")


def uniq():
    x = torch.tensor([3, 1, 2, 3, 3, 1])
    u, inv, cnt = torch.unique(x, return_inverse=True, return_counts=True)
    R("unique", u.tolist(), "equal", "-")
    R("unique_inv", inv.tolist(), "equal", "-")
    R("unique_cnt", cnt.tolist(), "equal", "-")
    R("unique_rebuild", bool((u[inv] == x).all()), "equal", "-")
    m = torch.tensor([[1, 2], [3, 4], [1, 2], [0, 9]])
    u, inv = torch.unique(m, dim=0, return_inverse=True)
    R("unique_dim0", u.tolist(), "equal", "-")
    R("unique_dim0_inv", inv.tolist(), "equal", "-")
    u2 = torch.unique_consecutive(torch.tensor([1, 1, 2, 2, 3, 1, 1]))
    R("unique_consecutive", u2.tolist(), "equal", "-")
    x2d = torch.tensor([[2, 1], [1, 2]])
    u, inv = x2d.unique(return_inverse=True)
    R("unique_inv_shape", list(inv.shape), "equal", "-")
    # bucketing as in data code
    b = torch.bucketize(torch.tensor([0.1, 2.5, 5.0, 7.0]), torch.tensor([1.0, 3.0, 5.0]))
    R("bucketize", b.tolist(), "equal", "-")
    ss = torch.searchsorted(torch.tensor([1.0, 3.0, 5.0]), torch.tensor([3.0, 6.0]), right=True)
    R("searchsorted", ss.tolist(), "equal", "-")


for name, fn in [("where", where_nonzero), ("ties", ties), ("unique", uniq)]:
    section(name, fn)

"""In-place ops on tensors inside the graph, and version counters, as PyTorch (issue 15).

`y += w`, `y.mul_(z)`, ... on a tensor autograd records: the tensor object takes
the new node, its memory is updated (views see it), its version goes up, and
gradients flow through the old value. `detach()` shares the version counter,
`.data` does not.
"""
import numpy as np
import pytest

import minigrad as mg
from testutil import require_torch


def _run(lib, chain, values, needs):
    ts = [lib.tensor(v, requires_grad=n) for v, n in zip(values, needs)]
    out = chain(lib, *ts)
    loss = out if out.ndim == 0 else out.sum()
    loss.backward()
    grads = [None if t.grad is None else t.grad.detach().numpy() for t in ts]
    return out.detach().numpy(), grads


def _chain_basic(lib, x, w, y2):
    y = x * 2
    y += w
    y *= y2
    return (y ** 2).sum()


def _chain_consumer_before(lib, x, w, y2):
    y = x * 2
    z = y * 3                   # uses y's value before the change: gradient via the old node
    y += w
    y.mul_(y2)
    return (y ** 2).sum() + (z * z).sum()


def _chain_all_ops(lib, x, w, y2):
    y = x * 1.5
    y.add_(w, alpha=2)
    y.sub_(y2)
    y /= (y2 + 4)
    y.div_(2)
    y.clamp_(-0.5, 0.8)
    y.masked_fill_(lib.tensor([False, True, False, False]), 0.25)
    y -= x
    return (y * y2).sum()


def _chain_plain_tensor_takes_grad(lib, x, w, y2):
    acc = lib.zeros(4, dtype=x.dtype)          # a plain tensor that becomes part of the graph
    acc += x * w
    acc *= y2
    return acc.sum()


CHAINS = [_chain_basic, _chain_consumer_before, _chain_all_ops, _chain_plain_tensor_takes_grad]


@pytest.mark.parametrize("chain", CHAINS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("needs", [(True, True, True), (True, False, True), (False, True, False)])
def test_in_place_chains_match_torch(chain, needs):
    torch = require_torch()
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(4) for _ in range(3)]
    out, grads = _run(mg, chain, values, needs)
    tout, tgrads = _run(torch, chain, values, needs)
    np.testing.assert_allclose(out, tout, rtol=1e-10)
    for g, tg in zip(grads, tgrads):
        assert (g is None) == (tg is None)
        if g is not None:
            np.testing.assert_allclose(g, tg, rtol=1e-10, atol=1e-12)


def test_in_place_float16_tensor_with_float32_operand_stays_float16():
    torch = require_torch()
    out = {}
    for lib in (mg, torch):
        x = lib.tensor(np.array([1.0, 2.0, 3.0], np.float16), requires_grad=True)
        w = lib.tensor(np.array([0.1, 0.2, 0.3], np.float32), requires_grad=True)
        y = x * 1
        y += w
        y.sum().backward()
        out[lib] = (str(y.dtype).replace("torch.", ""), y.detach().numpy().tolist(),
                    str(x.grad.dtype).replace("torch.", ""), str(w.grad.dtype).replace("torch.", ""))
    assert out[mg] == out[torch]


def test_the_tensor_object_takes_the_new_node_and_its_memory_changes():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    alias = y
    view = mg.Tensor._make(y.array[:1], False, None)     # another tensor over y's memory
    before = y.grad_fn
    y += 1
    assert y is alias and y.grad_fn is not before and y.grad_fn.name == "add"
    assert view.tolist() == [3.0]                         # the memory itself changed
    assert y._version == 1 and not y.is_leaf


def test_clamp_with_keyword_bounds_as_torch():
    torch = require_torch()
    out = {}
    for lib in (mg, torch):
        x = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
        y = x * 1
        y.clamp_(min=0)
        y.clamp_(max=2.5)
        y.sum().backward()
        plain = lib.tensor([1.0, -2.0, 3.0])
        plain.clamp_(min=-1)
        out[lib] = (y.tolist(), x.grad.tolist(), plain.tolist())
    assert out[mg] == out[torch]


def test_old_value_is_copied_only_when_backward_reads_it():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    memory = y.array
    y += mg.tensor([1.0, 1.0], requires_grad=True)      # add reads no input: no copy
    held = y.grad_fn.inputs[0]                           # a stand-in: shape, no values
    assert y.array is memory and held.shape == (2,) and held.array.strides == (0,)
    z = x * 2
    z *= mg.tensor([3.0, 3.0], requires_grad=True)      # the other's gradient reads z's old value
    old = z.grad_fn.inputs[0]
    assert old.array is not z.array and old.tolist() == [2.0, 4.0]
    z.sum().backward()
    assert x.grad.tolist() == [6.0, 6.0]


def test_leaf_that_requires_grad_raises_as_torch():
    torch = require_torch()
    for op in ("add_", "sub_", "mul_", "div_"):
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
            getattr(torch.ones(2, requires_grad=True), op)(1.0)
        with pytest.raises(mg.AutogradError, match="a leaf Variable that requires grad"):
            getattr(mg.ones(2, requires_grad=True), op)(1.0)
    w = mg.ones(2, requires_grad=True)
    with pytest.raises(mg.AutogradError, match="leaf Variable"):
        w += 1
    with pytest.raises(mg.AutogradError, match="leaf Variable"):
        w.clamp_(0, 1)
    with mg.no_grad():                                   # allowed under no_grad, as torch
        w -= 0.5
    assert w.is_leaf and w.requires_grad and w.tolist() == [0.5, 0.5]


def test_in_place_on_a_non_leaf_under_no_grad_is_not_recorded():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    node = y.grad_fn
    with mg.no_grad():
        y += 1
    assert y.grad_fn is node and y.tolist() == [3.0, 5.0] and y._version == 1


def test_changing_a_saved_tensor_in_place_raises_at_backward_as_torch():
    torch = require_torch()
    for lib, error in ((torch, RuntimeError), (mg, mg.AutogradError)):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        z = (y * y).sum()                   # saves y
        y += 1
        with pytest.raises(error, match="modified by an inplace operation"):
            z.backward()


def test_squaring_in_place_raises_at_backward_as_torch():
    """`h *= h` saves h for its own gradient and then changes it: torch raises too."""
    torch = require_torch()
    for lib, error in ((torch, RuntimeError), (mg, mg.AutogradError)):
        h = lib.tensor([1.0, 2.0], requires_grad=True) * 1
        h *= h
        with pytest.raises(error, match="modified by an inplace operation"):
            h.sum().backward()


def test_integer_and_bool_results_cannot_be_written_into_narrower_kinds():
    i = mg.tensor([1, 2])
    with pytest.raises(mg.DTypeError, match="can't be cast"):
        i += 0.5
    with pytest.raises(mg.DTypeError, match="can't be cast"):
        i /= 2
    b = mg.tensor([True, False])
    with pytest.raises(mg.DTypeError, match="can't be cast"):
        b.add_(1)
    i *= 3
    assert i.tolist() == [3, 6] and i.dtype == mg.int64


# ------------------------------------------------------------------ version counters
def _saved_then_changed(lib, through):
    """y saved by (y * y); then changed in place through `through(y)`; backward."""
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = (y * y).sum()
    alias = through(y)
    with lib.no_grad():
        alias.add_(1)
    try:
        z.backward()
        return "ok", x.grad.tolist()
    except RuntimeError as e:
        return "raised", str(e)[:0]


@pytest.mark.parametrize("through", ["detach", "data"])
def test_detach_shares_the_version_counter_and_data_does_not_as_torch(through):
    torch = require_torch()
    get = (lambda t: t.detach()) if through == "detach" else (lambda t: t.data)
    got, want = _saved_then_changed(mg, get), _saved_then_changed(torch, get)
    assert got[0] == want[0]
    assert got == want


def test_detach_version_is_the_same_counter():
    x = mg.ones(3)
    d = x.detach()
    d.mul_(2)
    assert x._version == d._version == 1 and x.tolist() == [2.0] * 3
    x.add_(1)
    assert d._version == 2
    data = x.data
    data.add_(1)
    assert x._version == 2 and data._version == 1 and x.tolist() == [4.0] * 3


def test_manual_sgd_with_in_place_updates_as_torch():
    torch = require_torch()
    out = {}
    for lib in (mg, torch):
        w = lib.tensor([[0.5, -0.2], [0.1, 0.3]], requires_grad=True)
        params = [w]
        x = lib.tensor([[1.0, 2.0], [3.0, -1.0]])
        for _ in range(3):
            h = x @ w
            h += 1                                      # in place, inside the graph
            h *= 0.5
            loss = (h * h).mean()
            loss.backward()
            with lib.no_grad():
                w -= 0.1 * w.grad
            w.grad = None
        out[lib] = (params[0] is w, np.round(w.detach().numpy(), 10).tolist())
    assert out[mg] == out[torch]


def test_graph_pictures_follow_each_op_to_the_creator_it_used():
    """An op that read y before `y += w` links to y's old creator in the picture."""
    import minigrad.graph as mgg
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = y * 3
    y += mg.tensor([1.0, 1.0], requires_grad=True)
    names = [n.name for n in mgg.walk(z).ops()]
    assert names == ["mul", "mul"]
    assert sorted(n.name for n in mgg.walk(z + y).ops()) == ["add", "add", "mul", "mul"]


@pytest.mark.parametrize("method", ["addcmul_", "addcdiv_"])
def test_in_place_ops_record_when_a_later_operand_requires_grad(method):
    """x.addcmul_(t1, t2) where only t2 requires grad: recorded, t2 gets torch's gradient."""
    torch = require_torch()
    seen = []
    for lib in (mg, torch):
        x = lib.tensor([1.0, -2.0, 0.5], dtype=lib.float64)
        t1 = lib.tensor([0.5, 1.5, -1.0], dtype=lib.float64)
        t2 = lib.tensor([2.0, -0.5, 4.0], dtype=lib.float64, requires_grad=True)
        getattr(x, method)(t1, t2, value=0.25)
        (x * x).sum().backward()
        seen.append((x.requires_grad, x.detach().numpy().tolist(), t2.grad.numpy().tolist()))
    assert seen[0] == seen[1]


def _written(lib, write, base=None):
    """A buffer (zeros, or `base(x)` computed from x) written by `write(lib, buf, x)`; returns
    (loss value, x.grad, buffer requires_grad) for x = [1, 2, 3]."""
    x = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64, requires_grad=True)
    buf = lib.zeros(3, dtype=lib.float64) if base is None else base(x)
    write(lib, buf, x)
    loss = (buf * lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64)).sum() + (buf * buf).sum()
    loss.backward()
    return round(loss.item(), 12), x.grad.tolist(), buf.requires_grad


WRITES = {
    "setitem_int": lambda L, b, x: b.__setitem__(0, x[1] * 10),
    "setitem_mask": lambda L, b, x: b.__setitem__(L.tensor([True, False, True]), x[:2] * 2),
    "setitem_index": lambda L, b, x: b.__setitem__(L.tensor([2, 0]), x[1:] ** 2),
    "setitem_ellipsis_broadcast": lambda L, b, x: b.__setitem__(..., x[2]),
    "setitem_slice_iadd": lambda L, b, x: b.__setitem__(slice(1, None), b[1:] + x[:2]),
    "index_add_": lambda L, b, x: b.index_add_(0, L.tensor([0, 0, 2]), x * x, alpha=0.5),
    "index_copy_": lambda L, b, x: b.index_copy_(0, L.tensor([2, 0]), x[:2] * 3),
    "index_fill_": lambda L, b, x: b.index_fill_(0, L.tensor([1]), -1.0),
    "scatter_": lambda L, b, x: b.scatter_(0, L.tensor([1, 2]), x[1:]),
    "scatter_add_": lambda L, b, x: b.scatter_add_(0, L.tensor([1, 1]), x[1:]),
    "copy_": lambda L, b, x: b.copy_(x * 2),
    "copy_broadcast": lambda L, b, x: b.copy_(x[0] * 2),
    "index_put_": lambda L, b, x: b.index_put_((L.tensor([0, 2]),), x[:2]),
    "index_put_accumulate": lambda L, b, x: b.index_put_((L.tensor([0, 0]),), x[:2],
                                                         accumulate=True),
    "masked_scatter_": lambda L, b, x: b.masked_scatter_(L.tensor([True, False, True]), x * 4),
}


@pytest.mark.parametrize("name", list(WRITES))
@pytest.mark.parametrize("into", ["plain_buffer", "graph_tensor"])
def test_writing_into_a_tensor_is_recorded_as_torch(name, into):
    """torch records an in-place write when the written value or the tensor requires grad
    (CopySlices): a plain zeros buffer written with a graph value joins the graph, and a
    graph tensor written in place passes gradients around the overwritten entries."""
    torch = require_torch()
    base = None if into == "plain_buffer" else (lambda x: x * 2)
    if name == "index_fill_" and base is None:      # a number into a plain buffer: no graph
        for lib in (mg, torch):
            with pytest.raises(RuntimeError, match="does not require grad"):
                _written(lib, WRITES[name])
        return
    ours = _written(mg, WRITES[name], base)
    theirs = _written(torch, WRITES[name], base)
    assert ours == theirs


def test_mixture_of_experts_combine_with_index_add_trains_the_experts_as_torch():
    """Hugging Face's MoE layers combine expert outputs with out.index_add_(0, tokens, ...)
    into a zeros buffer: the experts and the gate must get torch's gradients."""
    torch = require_torch()
    rng = np.random.default_rng(0)
    h, w_gate, w_experts = (rng.standard_normal(s) for s in [(6, 4), (4, 2), (2, 4, 4)])
    grads = []
    for lib in (mg, torch):
        x = lib.tensor(h)
        gate = lib.tensor(w_gate, requires_grad=True)
        experts = lib.tensor(w_experts, requires_grad=True)
        probs = (x @ gate).softmax(dim=-1)
        choice = probs.argmax(dim=-1)
        out = lib.zeros_like(x)
        for e in range(2):
            tokens = (choice == e).nonzero().reshape(-1)
            out.index_add_(0, tokens, (x[tokens] @ experts[e]) * probs[tokens, e].unsqueeze(-1))
        out.pow(2).sum().backward()
        grads.append((gate.grad.numpy().copy(), experts.grad.numpy().copy()))
    np.testing.assert_allclose(grads[0][0], grads[1][0], rtol=1e-10)
    np.testing.assert_allclose(grads[0][1], grads[1][1], rtol=1e-10)
    assert np.abs(grads[0][1]).sum() > 0


def test_copy_broadcasts_and_names_a_source_that_does_not_fit():
    t = mg.zeros(2, 3)
    t.copy_(mg.tensor([1.0, 2.0, 3.0]))
    assert t.tolist() == [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]
    with pytest.raises(mg.ShapeError, match=r"copy_: source of shape \(2,\) does not broadcast"):
        t.copy_(mg.tensor([1.0, 2.0]))

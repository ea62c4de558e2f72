"""Module behaviour: registration, traversal, state dicts, modes, printing and scopes."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
from testutil import require_torch


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.fc = nn.Linear(d, d)
        self.norm = nn.LayerNorm(d)
        self.drop = nn.Dropout(0.1)
        self.seen = []

    def forward(self, x):
        self.seen.append(mg.current_scope())
        h = self.fc(x)
        self.fc_scope = h._ctx.scope
        return self.norm(x + self.drop(h))


class Net(nn.Module):
    def __init__(self, d=4, n=2, vocab=7):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.layers = nn.ModuleList([Block(d) for _ in range(n)])
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, ids):
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x)
        return self.head(x)


def test_named_parameters_in_registration_order():
    names = [n for n, _ in Net().named_parameters()]
    assert names == ["embed.weight",
                     "layers.0.fc.weight", "layers.0.fc.bias", "layers.0.norm.weight",
                     "layers.0.norm.bias",
                     "layers.1.fc.weight", "layers.1.fc.bias", "layers.1.norm.weight",
                     "layers.1.norm.bias",
                     "head.weight"]
    net = Net()
    assert net.num_parameters() == 7 * 4 + 2 * (16 + 4 + 4 + 4) + 4 * 7


def test_shared_parameter_counted_once():
    net = Net()
    net.head.weight = net.embed.weight                  # weight tying
    params = list(net.parameters())
    assert sum(p is net.embed.weight for p in params) == 1
    assert net.num_parameters() == 7 * 4 + 2 * 28


def test_state_dict_round_trip():
    a, b = Net(), Net()
    assert not np.array_equal(a.head.weight.numpy(), b.head.weight.numpy())
    b.load_state_dict(a.state_dict())
    for (na, pa), (nb, pb) in zip(a.named_parameters(), b.named_parameters()):
        assert na == nb and np.array_equal(pa.numpy(), pb.numpy())
    # loading copies values: the two models do not share memory afterwards
    b.head.weight.data[...] = 0
    assert not np.all(a.head.weight.numpy() == 0)


def test_load_state_dict_reports_every_problem_at_once():
    net = Net()
    sd = dict(net.state_dict())
    del sd["head.weight"]
    sd["layers.0.fc.weight"] = mg.zeros(3, 4)
    sd["layers.9.fc.weight"] = mg.zeros(4, 4)
    with pytest.raises(mg.MinigradError) as e:
        net.load_state_dict(sd)
    msg = str(e.value)
    assert "missing keys ['head.weight']" in msg
    assert "unexpected keys ['layers.9.fc.weight']" in msg
    assert ("size mismatch for layers.0.fc.weight: copying a param with shape (3, 4) from "
            "checkpoint, the shape in current model is (4, 4)") in msg


def test_load_state_dict_not_strict_allows_missing_and_unexpected():
    net = Net()
    sd = {"head.weight": mg.ones(7, 4), "extra": mg.zeros(1)}
    missing, unexpected = net.load_state_dict(sd, strict=False)
    assert unexpected == ["extra"] and "embed.weight" in missing
    assert np.all(net.head.weight.numpy() == 1)


def test_train_eval_propagate_to_every_submodule():
    net = Net()
    assert all(m.training for m in net.modules())
    net.eval()
    assert not any(m.training for m in net.modules())
    ids = mg.tensor([[1, 2, 3]])
    assert np.array_equal(net(ids).numpy(), net(ids).numpy())    # dropout off: deterministic
    net.train()
    assert all(m.training for m in net.modules())


def test_repr_prints_the_tree():
    assert repr(Net(n=1)) == """Net(
  (embed): Embedding(7, 4)
  (layers): ModuleList(
    (0): Block(
      (fc): Linear(in_features=4, out_features=4, bias=True)
      (norm): LayerNorm((4,), eps=1e-05, elementwise_affine=True)
      (drop): Dropout(p=0.1)
    )
  )
  (head): Linear(in_features=4, out_features=7, bias=False)
)"""


def test_ops_record_the_module_path_they_ran_in():
    net = Net()
    out = net(mg.tensor([[1, 2]]))
    assert net.layers[0].seen == ["layers.0"] and net.layers[1].seen == ["layers.1"]
    path = ".".join(n for n, _ in net.layers[1].fc_scope if n)
    kinds = [k for _, k in net.layers[1].fc_scope]
    assert path == "layers.1.fc" and kinds == ["Net", "Block", "Linear"]
    assert ".".join(n for n, _ in out._ctx.scope if n) == "head"
    assert mg.current_scope() == ""                     # the stack is empty afterwards


def test_zero_grad_and_to_dtype():
    net = Net()
    net(mg.tensor([[1, 2]])).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.to(mg.float64)
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net(mg.tensor([[1, 2]])).dtype == np.float64


def test_sequential_applies_in_order():
    seq = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    x = mg.randn(4, 3)
    manual = seq[2](seq[1](seq[0](x)))
    assert np.array_equal(seq(x).numpy(), manual.numpy())
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_load_state_dict_returns_torchs_named_keys_and_raises_runtime_error():
    """As torch: the result has .missing_keys/.unexpected_keys; a strict failure is a RuntimeError."""
    net = Net()
    result = net.load_state_dict({"head.weight": mg.ones(7, 4), "extra": mg.zeros(1)}, strict=False)
    assert result.unexpected_keys == ["extra"] and "embed.weight" in result.missing_keys
    with pytest.raises(RuntimeError, match="missing keys"):
        net.load_state_dict({})


class Counter(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("calls", mg.zeros(()))
        self.register_buffer("scratch", mg.ones(2), persistent=False)

    def forward(self, x):
        self.calls += 1              # torch's idiom: the attribute is assigned back
        return x


def test_assigning_to_a_buffer_keeps_it_a_buffer_with_its_persistence():
    m = Counter()
    m(mg.zeros(1))
    m(mg.zeros(1))
    m.scratch = mg.zeros(3)
    assert list(m.state_dict()) == ["calls"] and float(m.state_dict()["calls"]) == 2.0
    assert sorted(n for n, _ in m.named_buffers()) == ["calls", "scratch"]
    assert m.scratch.shape == (3,)
    m.calls = None                   # None is allowed, as in torch, and leaves the state dict
    assert list(m.state_dict()) == []


@pytest.mark.torch
def test_buffer_assignment_matches_torch():
    torch = require_torch()

    class TorchCounter(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("calls", torch.zeros(()))
            self.register_buffer("scratch", torch.ones(2), persistent=False)

        def forward(self, x):
            self.calls += 1
            return x

    ours, theirs = Counter(), TorchCounter()
    for m, lib in ((ours, mg), (theirs, torch)):
        m(lib.zeros(1))
        m.scratch = lib.zeros(3)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]


def _backward_hook_run(lib, input_requires_grad):
    """The same network, hooks and data under minigrad or torch; returns what the hooks saw."""
    net = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.Tanh(), lib.nn.Linear(4, 2))
    with lib.no_grad():
        for i, p in enumerate(net.parameters()):
            p.copy_(lib.cos(lib.arange(p.numel(), dtype=lib.float32) + i).view(p.shape))
    log = []

    def hook(m, grad_input, grad_output):
        log.append((type(m).__name__,
                    [None if g is None else round(float(g.sum()), 4) for g in grad_input],
                    [round(float(g.sum()), 4) for g in grad_output]))

    handles = [m.register_full_backward_hook(hook) for m in net]
    net[1].register_full_backward_hook(lambda m, gi, go: (gi[0] * 2,))      # replaces grad_input
    net[2].register_full_backward_pre_hook(lambda m, go: (go[0] * 0.5,))    # replaces grad_output
    x = (lib.arange(6, dtype=lib.float32).view(2, 3) / 5).requires_grad_(input_requires_grad)
    (net(x) * lib.tensor([1.0, -2.0])).sum().backward()
    handles[0].remove()
    log.append("removed")
    net(x).sum().backward()
    return log, round(float(net[0].weight.grad.sum()), 4), \
        None if x.grad is None else round(float(x.grad.sum()), 4)


@pytest.mark.torch
@pytest.mark.parametrize("input_requires_grad", [False, True])
def test_full_backward_hooks_match_torch(input_requires_grad):
    torch = require_torch()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # torch warns when no input requires grad
        expected = _backward_hook_run(torch, input_requires_grad)
    assert _backward_hook_run(mg, input_requires_grad) == expected


def test_full_backward_hook_refuses_two_inputs_that_require_grad():
    class Add(nn.Module):
        def forward(self, a, b):
            return a + b

    m = Add()
    m.register_full_backward_hook(lambda *a: None)
    with pytest.raises(mg.MinigradError, match="at most one input that requires grad"):
        m(mg.ones(2, requires_grad=True), mg.ones(2, requires_grad=True))
    assert m(mg.ones(2, requires_grad=True), mg.ones(2)).shape == (2,)


def test_reassigning_a_submodule_or_parameter_keeps_its_place_as_torch():
    """net.backbone = new Linear keeps 'backbone' before 'head' (it once moved to the end,
    reordering children, parameters and state_dict keys)."""
    torch = require_torch()
    seen = []
    for lib in (torch, mg):
        class Net(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.backbone = lib.nn.Linear(4, 8)
                self.head = lib.nn.Linear(8, 2)
        net = Net()
        net.backbone = lib.nn.Linear(4, 8)
        net.head.weight = lib.nn.Parameter(lib.zeros(2, 8))
        layers = lib.nn.ModuleList([lib.nn.ReLU(), lib.nn.Tanh(), lib.nn.Sigmoid()])
        layers[0] = lib.nn.Identity()
        del layers[1]
        seq = lib.nn.Sequential(lib.nn.Linear(2, 2), lib.nn.ReLU(), lib.nn.Linear(2, 1))
        seq[2] = lib.nn.Linear(2, 5)
        del seq[1]
        del seq[5:]
        named = lib.nn.ModuleDict({"a": lib.nn.ReLU(), "b": lib.nn.Tanh()})
        del named["a"]
        popped = type(named.pop("b")).__name__
        seen.append(([n for n, _ in net.named_children()], list(net.state_dict()),
                     [type(m).__name__ for m in layers], list(seq.state_dict()),
                     [type(m).__name__ for m in seq], list(named.keys()), popped))
    assert seen[1] == seen[0]


def test_named_members_remove_duplicate_recurse_and_data_ptr_as_torch():
    torch = require_torch()
    seen = []
    for lib in (torch, mg):
        class Shared(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.a, self.b = lib.nn.Linear(2, 2), lib.nn.Linear(2, 2)
                self.b.weight = self.a.weight                    # tied
                self.register_buffer("r", lib.zeros(2))
                self.c = lib.nn.Module()
                self.c.register_buffer("r2", self.r)            # the same buffer twice
        m = Shared()
        x = lib.arange(6.0).reshape(2, 3)
        seen.append(([n for n, _ in m.named_parameters()],
                     [n for n, _ in m.named_parameters(remove_duplicate=False)],
                     [n for n, _ in m.named_buffers()],
                     [n for n, _ in m.named_buffers(remove_duplicate=False)],
                     [n for n, _ in m.named_buffers(recurse=False)], len(list(m.buffers(False))),
                     x[1].data_ptr() - x.data_ptr(), x.t().data_ptr() == x.data_ptr()))
    assert seen[1] == seen[0]


def test_forward_hooks_with_kwargs_and_prepend_as_torch():
    torch = require_torch()
    seen = []
    for lib in (mg, torch):
        class Scale(lib.nn.Module):
            def forward(self, x, scale=1.0):
                return x * scale
        m, log = Scale(), []
        m.register_forward_pre_hook(lambda mod, a, k: (a, {**k, "scale": 3.0}), with_kwargs=True)
        m.register_forward_hook(lambda mod, a, k, out: out + k["scale"], with_kwargs=True)
        m.register_forward_pre_hook(lambda mod, a: log.append("prepended"), prepend=True)
        handle = m.register_forward_hook(lambda mod, a, out: log.append("plain"))
        out = m(lib.tensor([1.0, 2.0]), scale=2.0).tolist()
        handle.remove()
        seen.append((out, log, m(lib.tensor([1.0]), scale=2.0).tolist(), log[:]))
    assert seen[0] == seen[1]

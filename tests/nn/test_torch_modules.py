"""The torch.nn surface: activation, shape and loss modules against torch's, Module hooks,
get_submodule, children, dtype casts, requires_grad_, apply, state_dict names (against
torch's for the same structure), container slicing, nn.Transformer exposure, nn.init."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
from testutil import require_torch

MODULES = [   # (constructor arguments, used for both frameworks), input shape
    ("Identity", (), (2, 3)), ("Flatten", (), (2, 3, 4)), ("Flatten", (0, 1), (2, 3, 4)),
    ("Unflatten", (1, (2, 2)), (3, 4, 5)), ("Softmax", (1,), (2, 3, 4)),
    ("LogSoftmax", (-1,), (2, 3)), ("SiLU", (), (4,)), ("GELU", ("tanh",), (3, 2)),
    ("Tanh", (), (2,)), ("Sigmoid", (), (2, 2)), ("ReLU", (), (5,)),
    ("LeakyReLU", (), (3, 4)), ("LeakyReLU", (0.2,), (6,)), ("ELU", (), (3, 4)),
    ("ELU", (0.5,), (5,)), ("Softplus", (), (3, 4)), ("Softplus", (2.0, 1.0), (4, 3)),
    ("Hardtanh", (), (3, 4)), ("Hardtanh", (-0.5, 0.25), (6,)), ("ReLU6", (), (4,)),
    ("LogSigmoid", (), (3, 4)), ("Mish", (), (3, 4)), ("GLU", (), (3, 4)), ("GLU", (0,), (4, 3)),
    ("PReLU", (), (3, 4)), ("PReLU", (3, 0.1), (2, 3, 2)), ("RMSNorm", (4,), (2, 3, 4)),
    ("RMSNorm", ((3, 4), 1e-3), (2, 3, 4)), ("SELU", (), (3, 4)), ("CELU", (0.5,), (3, 4)),
    ("Softsign", (), (5,)),
    ("Threshold", (0.2, -1.0), (3, 4)), ("Softmin", (1,), (2, 3, 4)),
]


@pytest.mark.torch
@pytest.mark.parametrize("name,args,shape", MODULES)
def test_modules_match_torch(name, args, shape):
    torch = require_torch()
    a = np.random.default_rng(0).normal(size=shape)
    x = mg.tensor(a, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    out, ref = getattr(nn, name)(*args).double()(x), getattr(torch.nn, name)(*args).double()(tx)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    (out * out).sum().backward(), (ref * ref).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-14)


LOSSES = [
    ("MSELoss", {}, "same"), ("L1Loss", dict(reduction="sum"), "same"),
    ("KLDivLoss", dict(reduction="batchmean"), "prob"), ("BCEWithLogitsLoss", {}, "unit"),
    ("NLLLoss", dict(ignore_index=1), "ids"), ("CrossEntropyLoss", dict(label_smoothing=0.1), "ids"),
    ("CrossEntropyLoss", dict(reduction="none"), "ids"),
    ("SmoothL1Loss", dict(beta=0.5), "same"), ("HuberLoss", dict(delta=0.3, reduction="sum"), "same"),
    ("BCELoss", {}, "unit"),
]


@pytest.mark.torch
@pytest.mark.parametrize("name,kwargs,target", LOSSES)
def test_loss_modules_match_torch(name, kwargs, target):
    torch = require_torch()
    rng = np.random.default_rng(1)
    a = rng.normal(size=(4, 3))
    if name in ("NLLLoss", "KLDivLoss"):
        a = a - np.log(np.exp(a).sum(1, keepdims=True))
    if name == "BCELoss":
        a = 1 / (1 + np.exp(-a))                 # probabilities
    t = {"same": rng.normal(size=(4, 3)), "unit": rng.uniform(size=(4, 3)),
         "prob": rng.dirichlet(np.ones(3), 4), "ids": np.array([0, 2, 1, 2])}[target]
    x, tx = mg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    out = getattr(nn, name)(**kwargs)(x, mg.tensor(t))
    ref = getattr(torch.nn, name)(**kwargs)(tx, torch.tensor(t))
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10)
    out.sum().backward(), ref.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-14)


def test_forward_hooks_and_pre_hooks_with_handles():
    lin = nn.Linear(2, 2)
    seen = []
    h1 = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    h2 = lin.register_forward_hook(lambda m, args, out: seen.append((m, out.shape)))
    out = lin(mg.ones(3, 2))
    np.testing.assert_allclose(out.numpy(), np.broadcast_to(lin.bias.numpy(), (3, 2)))
    assert seen == [(lin, (3, 2))]
    h1.remove(), h2.remove()
    lin(mg.ones(1, 2))
    assert len(seen) == 1
    with lin.register_forward_hook(lambda m, a, o: o * 0 + 7):
        assert np.all(lin(mg.ones(1, 2)).numpy() == 7)
    assert not np.all(lin(mg.ones(1, 2)).numpy() == 7)


@pytest.mark.torch
def test_state_dict_names_match_torch_and_traversal():
    torch = require_torch()

    def build(lib):
        block = lib.Sequential(lib.Linear(2, 3), lib.ReLU())
        outer = lib.ModuleDict({"enc": block, "heads": lib.ModuleList([lib.Linear(3, 1), lib.Linear(3, 2)])})
        outer.register_buffer("scale", (mg if lib is nn else torch).ones(1))
        return outer
    mine, theirs = build(nn), build(torch.nn)
    assert list(mine.state_dict()) == list(theirs.state_dict())
    assert list(mine.state_dict(prefix="m.")) == list(theirs.state_dict(prefix="m."))
    assert [n for n, _ in mine.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in mine.named_children()] == [n for n, _ in theirs.named_children()]
    assert mine.get_submodule("heads.1") is mine["heads"][1]
    with pytest.raises(AttributeError, match="nope"):
        mine.get_submodule("heads.nope")
    assert mine.state_dict(keep_vars=True)["enc.0.weight"] is mine["enc"][0].weight


def test_containers_slice_to_their_own_type_and_casts_apply_requires_grad():
    seq = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
    head = seq[:2]
    assert type(head) is nn.Sequential and head[0] is seq[0] and len(head) == 2
    assert list(dict(head.named_children())) == ["0", "1"]
    assert type(nn.ModuleList([nn.ReLU(), nn.Tanh()])[1:]) is nn.ModuleList
    assert seq[-1] is seq[2]
    with pytest.raises(IndexError):
        seq[3]
    seq.double()
    assert all(p.dtype == mg.float64 for p in seq.parameters())
    seq.half().float()
    assert all(p.dtype == mg.float32 for p in seq.parameters())
    seq.requires_grad_(False)
    assert not any(p.requires_grad for p in seq.parameters())
    visited = []
    seq.apply(lambda m: visited.append(type(m).__name__))
    assert visited == ["Linear", "ReLU", "Linear", "Sequential"]


def test_transformer_is_exposed_with_the_static_mask():
    mask = nn.Transformer.generate_square_subsequent_mask(3)
    assert mask.shape == (3, 3) and np.isneginf(mask.numpy()[0, 1]) and mask.numpy()[1, 0] == 0
    model = nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                           dim_feedforward=16, batch_first=True)
    assert model(mg.randn(2, 5, 8), mg.randn(2, 3, 8), tgt_mask=mask).shape == (2, 3, 8)
    assert nn.TransformerEncoderLayer is type(model.encoder.layers[0])


@pytest.mark.torch
def test_init_functions_follow_torch_distributions():
    torch = require_torch()
    w = mg.zeros(300, 200)
    nn.init.trunc_normal_(w, std=0.5, a=-0.6, b=0.6)
    t = torch.nn.init.trunc_normal_(torch.zeros(300, 200), std=0.5, a=-0.6, b=0.6)
    assert abs(w.numpy().std() - t.numpy().std()) < 0.01 and w.numpy().max() <= 0.6
    nn.init.orthogonal_(w, gain=2.0)
    np.testing.assert_allclose(w.numpy().T @ w.numpy(), 4 * np.eye(200), atol=1e-4)
    nn.init.eye_(w)
    np.testing.assert_array_equal(w.numpy(), np.eye(300, 200))
    assert nn.init._calculate_fan_in_and_fan_out(mg.zeros(4, 3, 2)) == (6, 8)


def test_clip_grad_value_and_norm_in_nn_utils():
    p = mg.tensor([1.0, -2.0], requires_grad=True)
    p.grad = mg.tensor([3.0, -0.5])
    nn.utils.clip_grad_value_([p], 1.0)
    np.testing.assert_array_equal(p.grad.numpy(), [1.0, -0.5])
    assert float(nn.utils.clip_grad_norm_([p], 10.0)) == pytest.approx(np.hypot(1, 0.5))
    with pytest.raises(mg.MinigradError, match="clip_value"):
        nn.utils.clip_grad_value_([p], float("nan"))


@pytest.mark.torch
@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_encoder_and_decoder_stacks_match_torch(norm_first):
    """nn.TransformerEncoder / TransformerDecoder: deep copies of the layer given (independent
    parameters), torch's names (after convert's feed_forward renaming), the same outputs."""
    torch = require_torch()
    from minigrad.models.convert import from_torch
    kw = dict(d_model=8, nhead=2, dim_feedforward=16, dropout=0.0, batch_first=True,
              norm_first=norm_first)
    torch.manual_seed(0)
    t_enc = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(**kw), num_layers=2,
                                        norm=torch.nn.LayerNorm(8), enable_nested_tensor=False)
    t_dec = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(**kw), num_layers=2)
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(**kw), num_layers=2, norm=nn.LayerNorm(8),
                                enable_nested_tensor=False)
    dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(**kw), num_layers=2)
    assert enc.layers[0].self_attn.in_proj_weight is not enc.layers[1].self_attn.in_proj_weight
    assert len(enc.layers) == enc.num_layers == 2
    for ours, theirs in ((enc, t_enc), (dec, t_dec)):
        weights = from_torch(theirs.state_dict())
        assert sorted(weights) == sorted(ours.state_dict())
        ours.load_state_dict({k: mg.tensor(v) for k, v in weights.items()})
    rng = np.random.default_rng(1)
    src, tgt = rng.normal(size=(2, 5, 8)).astype(np.float32), rng.normal(size=(2, 3, 8)).astype(np.float32)
    pad = np.array([[False] * 5, [False] * 3 + [True] * 2])
    memory = enc(mg.tensor(src), src_key_padding_mask=mg.tensor(pad))
    t_memory = t_enc(torch.tensor(src), src_key_padding_mask=torch.tensor(pad))
    np.testing.assert_allclose(memory.numpy(), t_memory.detach().numpy(), rtol=1e-4, atol=1e-5)
    causal = nn.Transformer.generate_square_subsequent_mask(3)
    out = dec(mg.tensor(tgt), memory, tgt_mask=causal, memory_key_padding_mask=mg.tensor(pad))
    ref = t_dec(torch.tensor(tgt), t_memory, tgt_mask=torch.nn.Transformer.generate_square_subsequent_mask(3),
                memory_key_padding_mask=torch.tensor(pad))
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.torch
def test_parameter_containers_from_pretrained_and_aliases_match_torch():
    torch = require_torch()

    def build(lib):
        class Holder(lib.nn.Module):
            def __init__(self):
                super().__init__()
                self.ws = lib.nn.ParameterList([lib.ones(2), lib.nn.Parameter(lib.zeros(3))])
                self.ws.append(lib.full((1,), 2.0))
                self.named = lib.nn.ParameterDict({"scale": lib.ones(1)})
                self.named["shift"] = lib.zeros(2)
                self.register_module("drop", lib.nn.Dropout(0.1, inplace=False))
                self.emb = lib.nn.Embedding.from_pretrained(
                    lib.arange(6, dtype=lib.float32).view(3, 2), padding_idx=0)
        return Holder()

    ours, theirs = build(mg), build(torch)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [p.requires_grad for p in ours.parameters()] == [p.requires_grad for p in theirs.parameters()]
    assert len(ours.ws) == len(theirs.ws) == 3 and tuple(ours.ws[-1].shape) == (1,)
    assert isinstance(ours.ws[1:], nn.ParameterList) and len(ours.ws[1:]) == 2
    assert sorted(ours.named.keys()) == sorted(theirs.named.keys()) and "scale" in ours.named
    ids = [[0, 2], [1, 1]]
    np.testing.assert_array_equal(ours.emb(mg.tensor(ids)).numpy(),
                                  theirs.emb(torch.tensor(ids)).numpy())
    assert isinstance(ours.drop, nn.Dropout)

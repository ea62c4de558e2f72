"""`minigrad.detect_anomaly()`: the first op whose forward or backward makes NaN or inf
raises an AnomalyError that names the op, the module it ran in and its input shapes.

Outside the context NaN and inf are plain values, as in PyTorch: no error and no
NumPy warning (the test configuration turns minigrad's RuntimeWarnings into errors).
"""
import re

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.errors import AnomalyError
from minigrad.models.seq2seq import Seq2SeqTransformer


def anomaly(fn):
    """Run fn under detect_anomaly; return the AnomalyError's message."""
    with mg.detect_anomaly():
        with pytest.raises(AnomalyError) as info:
            fn()
    return str(info.value)


class Block(nn.Module):
    """A module whose op `fn` runs inside a child, so the scope has a real path."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


class Net(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.proj = nn.Linear(3, 3)
        self.block = Block(fn)

    def forward(self, x):
        return self.block(self.proj(x))


# ------------------------------------------------------------------ forward
@pytest.mark.parametrize("op, fn", [
    ("log", lambda x: mg.log(x - 100)),
    ("sqrt", lambda x: (x - 100).sqrt()),
    ("div", lambda x: x / (x * 0)),
    ("exp", lambda x: (x * 1e4).exp()),
    ("pow", lambda x: (x - 100) ** 0.5),
])
def test_forward_anomaly_names_op_module_and_shapes(op, fn):
    net = Net(fn)
    msg = anomaly(lambda: net(mg.randn(2, 3)))
    assert msg.startswith(f"{op}: forward produced"), msg
    assert "in module 'block'" in msg
    assert "(2, 3) float32" in msg


def test_forward_anomaly_outside_modules_says_so():
    msg = anomaly(lambda: mg.log(mg.tensor([1.0, -1.0, 0.0])))
    assert re.match(r"log: forward produced 1 NaN and 1 inf \(of 3 values\) outside any module; "
                    r"input shapes \(3,\) float32", msg), msg


def test_first_op_is_reported_not_the_ones_after_it():
    x = mg.tensor([1.0, -1.0], requires_grad=True)
    msg = anomaly(lambda: (mg.log(x) * 2 + 1).exp().sum())
    assert msg.startswith("log: forward")


def test_fused_ops_are_checked_in_forward():
    x = mg.randn(2, 4)
    msg = anomaly(lambda: mg.layer_norm(x * 0, 4, eps=0.0))      # 0 / 0 in a constant row
    assert msg.startswith("layer_norm: forward") and "(2, 4) float32" in msg


def test_forward_is_checked_under_no_grad_too():
    with mg.no_grad():
        msg = anomaly(lambda: mg.sqrt(mg.tensor([-1.0])))
    assert msg.startswith("sqrt: forward")


def test_integer_and_bool_results_are_not_checked():
    with mg.detect_anomaly():
        x = mg.tensor([3, 0, -2])
        assert (x * 2).tolist() == [6, 0, -4] and x.sum().item() == 1     # int results
        # ints and bools computed from a NaN input: no anomaly (only float results can
        # hold NaN), and the values PyTorch gives
        has_nan = mg.tensor([np.nan, 1.0])
        assert has_nan.argmax().item() == 0 and has_nan.argmax().dtype == mg.int64
        assert (has_nan != 0).tolist() == [True, True] and (has_nan > 0).tolist() == [False, True]


# ------------------------------------------------------------------ backward
def test_backward_anomaly_names_the_op_being_differentiated_and_its_module():
    """sqrt(0) is fine forward; its gradient 1 / (2 sqrt 0) is inf. The error names sqrt
    (not the division inside sqrt's backward) and the module sqrt ran in (not the scope
    active when backward() is called)."""
    x = mg.tensor([[0.0, 1.0, 4.0]], requires_grad=True)
    loss = Block(lambda t: t.sqrt())(x).sum()
    with mg.detect_anomaly(), mg.scope("somewhere_else", "Trainer"):
        with pytest.raises(AnomalyError) as info:
            loss.backward()
    msg = str(info.value)
    assert msg.startswith("sqrt: backward produced 1 inf (of 3 values) in the top-level module "
                          "(Block); input shapes (1, 3) float32"), msg
    assert "somewhere_else" not in msg


def test_backward_anomaly_in_a_child_module_names_its_path():
    net = Net(lambda t: (t * 0).sqrt())
    loss = net(mg.randn(2, 3)).sum()
    with mg.detect_anomaly():
        with pytest.raises(AnomalyError) as info:
            loss.backward()
    msg = str(info.value)
    assert msg.startswith("sqrt: backward") and "in module 'block'" in msg, msg


def test_fused_op_backward_anomaly():
    """layer_norm's forward is finite; a huge upstream gradient overflows its backward."""
    x = mg.tensor([[1.0, 2.0, 3.0, 10.0]], requires_grad=True)
    y = mg.layer_norm(x, 4)
    with mg.detect_anomaly():
        with pytest.raises(AnomalyError) as info:
            y.backward(mg.full((1, 4), 3e38))
    assert str(info.value).startswith("layer_norm: backward"), str(info.value)


def test_graph_recorded_outside_is_checked_when_backward_runs_inside():
    x = mg.tensor([0.0], requires_grad=True)
    loss = x.sqrt().sum()
    msg = anomaly(loss.backward)
    assert msg.startswith("sqrt: backward")


def test_create_graph_backward_is_checked_too():
    x = mg.tensor([0.0, 1.0], requires_grad=True)
    y = (x ** 1.5).sum()
    g = mg.grad(y, x, create_graph=True)             # 1.5 x^0.5: finite
    msg = anomaly(lambda: g.sum().backward())         # 0.75 x^-0.5: inf at 0
    assert msg.startswith("pow: backward"), msg


# ------------------------------------------------------------------ the mode itself
def test_off_by_default_nan_and_inf_are_values():
    y = mg.log(mg.tensor([-1.0, 0.0]))
    assert np.isnan(y.numpy()[0]) and np.isneginf(y.numpy()[1])
    x = mg.tensor([0.0], requires_grad=True)
    x.sqrt().sum().backward()
    assert np.isinf(x.grad.numpy()).all()


def test_mode_is_restored_after_the_block_and_after_an_error():
    with mg.detect_anomaly():
        with mg.detect_anomaly(False):
            mg.log(mg.tensor([-1.0]))                  # switched off inside: no error
        with pytest.raises(AnomalyError):
            mg.log(mg.tensor([-1.0]))
    mg.log(mg.tensor([-1.0]))                          # off again after the block
    with pytest.raises(ZeroDivisionError):
        with mg.detect_anomaly():
            raise ZeroDivisionError
    mg.log(mg.tensor([-1.0]))


def test_results_are_the_same_with_and_without_the_check():
    x = mg.randn(3, 4, requires_grad=True)
    (mg.softmax(x @ x.T, -1).sum() * x.tanh().sum()).backward()
    plain = x.grad.numpy().copy()
    x.grad = None
    with mg.detect_anomaly():
        (mg.softmax(x @ x.T, -1).sum() * x.tanh().sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), plain)


# ------------------------------------------------------------------ a transformer training step
def small_model():
    mg.manual_seed(0)
    return Seq2SeqTransformer(12, 12, d_model=16, nhead=2, num_encoder_layers=2,
                              num_decoder_layers=2, dim_feedforward=32, dropout=0.1)


def batch():
    r = np.random.default_rng(0)
    src = mg.tensor(r.integers(3, 12, (4, 7)))
    tgt = mg.tensor(r.integers(3, 12, (4, 8)))
    return src, tgt[:, :-1], tgt[:, 1:]


def train_step(model, opt, scale=1.0):
    src, tgt_in, tgt_out = batch()
    logits = model(src, tgt_in)
    loss = mg.cross_entropy(logits.reshape(-1, 12), tgt_out.reshape(-1)) * scale
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
def test_clean_transformer_step_passes_and_changes_nothing(fused):
    with mg.use_fused(fused):
        plain = small_model()
        train_step(plain, mg.optim.Adam(plain.parameters(), lr=1e-3))
        checked = small_model()
        opt = mg.optim.Adam(checked.parameters(), lr=1e-3)
        with mg.detect_anomaly():
            train_step(checked, opt)
    for (name, a), (_, b) in zip(plain.named_parameters(), checked.named_parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
def test_poisoned_weight_is_caught_in_its_module(fused):
    model = small_model()
    model.transformer.encoder.layers[1].feed_forward.linear1.weight.data[0, 0] = np.nan
    opt = mg.optim.SGD(model.parameters(), lr=0.1)
    with mg.use_fused(fused):
        msg = anomaly(lambda: train_step(model, opt))
    # the first op to touch the weight: the fused linear, or its transpose in reference mode
    assert re.match(r"\w+: forward produced \d+ NaN", msg), msg
    assert "in module 'transformer.encoder.layers.1.feed_forward.linear1' (Linear)" in msg
    assert "(32, 16) float32" in msg and "already held NaN" in msg


class BrokenRelu(mg.Function):
    """A user's custom op with a broken backward: NaN where the input was negative."""
    name = "broken_relu"

    def forward(self, x):
        self.negative = x < 0
        return np.maximum(x, 0)

    def backward(self, grad):
        return grad * mg.Tensor(np.where(self.negative, np.nan, 1.0).astype(grad.dtype))


def test_broken_backward_is_caught_in_the_transformer():
    """Forward is finite; the custom op's backward makes NaN: the error names it, in
    backward, with the module path it ran in and its input shape."""
    model = small_model()
    model.transformer.decoder.layers[1].feed_forward.activation = BrokenRelu.apply
    opt = mg.optim.SGD(model.parameters(), lr=0.1)
    msg = anomaly(lambda: train_step(model, opt))
    assert re.match(r"broken_relu: backward produced \d+ NaN \(of 896 values\) in module "
                    r"'transformer.decoder.layers.1.feed_forward' \(FeedForward\); "
                    r"input shapes \(4, 7, 32\) float32$", msg), msg
    for p in model.parameters():                      # the step never ran: weights still finite
        assert np.isfinite(p.numpy()).all()

"""nn.BatchNorm1d / BatchNorm2d and F.batch_norm against torch: outputs and gradients in
training and eval mode, running statistics (momentum, cumulative average), the state dict's
buffers, track_running_stats=False, affine=False, and the errors for bad input."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import minigrad as mg
import minigrad.nn as nn
from testutil import require_torch


def _pair(torch, cls, c, **kwargs):
    ours, theirs = getattr(nn, cls)(c, **kwargs), getattr(torch.nn, cls)(c, **kwargs)
    if ours.affine:
        rng = np.random.default_rng(c)
        w, b = rng.uniform(0.5, 1.5, c), rng.normal(size=c)
        with mg.no_grad():
            ours.weight.copy_(mg.tensor(w, dtype=ours.weight.dtype))
            ours.bias.copy_(mg.tensor(b, dtype=ours.bias.dtype))
        with torch.no_grad():
            theirs.weight.copy_(torch.tensor(w))
            theirs.bias.copy_(torch.tensor(b))
    return ours, theirs


@pytest.mark.torch
@settings(max_examples=12, deadline=None)
@given(shape=st.sampled_from([(4, 3), (2, 5), (3, 2, 4), (2, 3, 1), (2, 3, 4, 2), (1, 2, 3, 3)]),
       momentum=st.sampled_from([0.1, 0.5, None]), dtype=st.sampled_from(["float32", "float64"]),
       seed=st.integers(0, 2 ** 16))
def test_train_then_eval_matches_torch(shape, momentum, dtype, seed):
    torch = require_torch()
    cls = "BatchNorm2d" if len(shape) == 4 else "BatchNorm1d"
    ours, theirs = _pair(torch, cls, shape[1], momentum=momentum)
    ours.to(getattr(mg, dtype)), theirs.to(getattr(torch, dtype))
    rng = np.random.default_rng(seed)
    # float32: two values per channel make the gradient a near-cancellation (rounding ~1e-4);
    # float64 checks the formula tightly
    tol = dict(rtol=2e-3, atol=2e-4) if dtype == "float32" else dict(rtol=1e-9, atol=1e-11)
    for step in range(2):                         # two batches: the running averages compound
        a = rng.normal(2.0, 3.0, shape).astype(dtype)
        g = rng.normal(size=shape).astype(dtype)
        x, tx = mg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        out, ref = ours(x), theirs(tx)
        assert out.dtype == getattr(mg, dtype)
        np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), **tol)
        (out * mg.tensor(g)).sum().backward()
        (ref * torch.tensor(g)).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), **tol)
        np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), **tol)
        np.testing.assert_allclose(ours.bias.grad.numpy(), theirs.bias.grad.numpy(), **tol)
    for name in ("running_mean", "running_var"):
        np.testing.assert_allclose(getattr(ours, name).numpy(), getattr(theirs, name).numpy(), **tol)
    assert int(ours.num_batches_tracked.item()) == int(theirs.num_batches_tracked.item()) == 2
    ours.eval(), theirs.eval()
    a = rng.normal(size=shape).astype(dtype)
    np.testing.assert_allclose(ours(mg.tensor(a)).numpy(),
                               theirs(torch.tensor(a)).detach().numpy(), **tol)


@pytest.mark.torch
def test_state_dict_and_options_match_torch():
    torch = require_torch()
    for kwargs in ({}, {"affine": False}, {"track_running_stats": False}):
        ours, theirs = nn.BatchNorm1d(3, **kwargs), torch.nn.BatchNorm1d(3, **kwargs)
        assert list(ours.state_dict()) == list(theirs.state_dict())
        assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
        a = (np.arange(12.0).reshape(4, 3) ** 1.5).astype(np.float32)
        ours.eval(), theirs.eval()                 # without running stats: the batch's, even in eval
        np.testing.assert_allclose(ours(mg.tensor(a)).numpy(),
                                   theirs(torch.tensor(a)).detach().numpy(), rtol=1e-5, atol=1e-6)
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    assert nn.BatchNorm1d(3).state_dict()["num_batches_tracked"].dtype == mg.int64


def test_gradcheck_float64_in_training():
    norm = nn.BatchNorm1d(3).to(mg.float64)
    x = mg.tensor(np.random.default_rng(0).normal(size=(4, 3, 2)), requires_grad=True)
    assert mg.gradcheck(lambda t: norm(t) * mg.arange(24, dtype=mg.float64).view(4, 3, 2).sin(),
                        [x], atol=1e-6)


def test_errors_name_what_was_expected():
    with pytest.raises(mg.ShapeError, match="BatchNorm1d: expected input with 2 or 3 dims and 3 channels"):
        nn.BatchNorm1d(3)(mg.zeros(2, 4))
    with pytest.raises(mg.ShapeError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(mg.zeros(1, 3))
    with pytest.raises(mg.ShapeError, match="BatchNorm2d"):
        nn.BatchNorm2d(3)(mg.zeros(2, 3))

"""torch.nn.utils: rnn.pad_sequence and parameters_to_vector / vector_to_parameters against
torch (values, layout, padding side, gradients through the padding), and their errors."""
import numpy as np
import pytest

import minigrad as mg
import minigrad.nn as nn
from minigrad.nn.utils.rnn import pad_sequence
from testutil import require_torch


@pytest.mark.torch
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("trailing", [(), (3,), (2, 2)])
def test_pad_sequence_matches_torch(batch_first, side, trailing):
    torch = require_torch()
    from torch.nn.utils.rnn import pad_sequence as torch_pad
    rng = np.random.default_rng(len(trailing))
    arrays = [rng.normal(size=(n,) + trailing) for n in (3, 1, 4)]
    xs = [mg.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = pad_sequence(xs, batch_first=batch_first, padding_value=-1.5, padding_side=side)
    ref = torch_pad(ts, batch_first=batch_first, padding_value=-1.5, padding_side=side)
    assert tuple(out.shape) == tuple(ref.shape)
    np.testing.assert_array_equal(out.numpy(), ref.detach().numpy())
    g = rng.normal(size=tuple(ref.shape))
    (out * mg.tensor(g)).sum().backward()
    (ref * torch.tensor(g)).sum().backward()
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12)


def test_pad_sequence_keeps_integer_dtype_and_checks_shapes():
    out = pad_sequence([mg.tensor([1, 2, 3]), mg.tensor([4])], batch_first=True)
    assert out.dtype == mg.int64 and out.tolist() == [[1, 2, 3], [4, 0, 0]]
    assert nn.utils.rnn.pad_sequence is pad_sequence
    with pytest.raises(mg.ShapeError, match="trailing shape"):
        pad_sequence([mg.zeros(2, 3), mg.zeros(2, 4)])
    with pytest.raises(mg.ShapeError, match="empty"):
        pad_sequence([])


@pytest.mark.torch
def test_parameters_to_vector_and_back_match_torch():
    torch = require_torch()
    from torch.nn.utils import parameters_to_vector as t_p2v, vector_to_parameters as t_v2p
    net = nn.Sequential(nn.Linear(3, 2), nn.Tanh(), nn.Linear(2, 1))
    ref = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Tanh(), torch.nn.Linear(2, 1))
    ref.load_state_dict({k: torch.tensor(v.numpy()) for k, v in net.state_dict().items()})
    vec = nn.utils.parameters_to_vector(net.parameters())
    np.testing.assert_array_equal(vec.numpy(), t_p2v(ref.parameters()).detach().numpy())
    new = np.arange(vec.numel(), dtype=np.float32)
    nn.utils.vector_to_parameters(mg.tensor(new), net.parameters())
    t_v2p(torch.tensor(new), ref.parameters())
    for (n, p), (tn, tp) in zip(net.named_parameters(), ref.named_parameters()):
        assert n == tn
        np.testing.assert_array_equal(p.numpy(), tp.detach().numpy())
    with pytest.raises(mg.ShapeError, match="1-D vector of 11 values"):
        nn.utils.vector_to_parameters(mg.zeros(4), net.parameters())

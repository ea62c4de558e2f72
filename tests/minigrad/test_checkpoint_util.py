"""minigrad.utils.checkpoint.checkpoint against torch.utils.checkpoint.checkpoint."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.utils.checkpoint import checkpoint
from testutil import require_torch


def _block(lib):
    blk = lib.nn.Sequential(lib.nn.Linear(4, 8), lib.nn.GELU(), lib.nn.Linear(8, 4)).double()
    with lib.no_grad():
        for i, p in enumerate(blk.parameters()):
            p.copy_(lib.tensor(np.random.default_rng(i).standard_normal(tuple(p.shape)) * 0.5))
    return blk


@pytest.mark.torch
@pytest.mark.parametrize("use_reentrant", [True, False])
def test_checkpointed_blocks_give_torchs_values_and_gradients(use_reentrant):
    """Two checkpointed calls (one with a number and a None among the arguments): the
    output, the input's gradient and the parameters' gradients are torch's."""
    torch = require_torch()
    import torch.utils.checkpoint as torch_checkpoint
    results = []
    for lib, ck in ((mg, checkpoint), (torch, torch_checkpoint.checkpoint)):
        blk = _block(lib)
        x = lib.tensor(np.random.default_rng(9).standard_normal((3, 4)), requires_grad=True)
        y = ck(blk, x * 2, use_reentrant=use_reentrant)
        y = ck(lambda a, scale, extra: blk(a) * scale + (0 if extra is None else extra), y, 0.5,
               None, use_reentrant=use_reentrant)
        (y ** 2).sum().backward()
        results.append([y.detach().numpy(), x.grad.numpy()] +
                       [p.grad.numpy() for p in blk.parameters()])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def test_the_forward_keeps_no_graph_inside_and_dropout_draws_the_same_mask_again():
    """Only the checkpoint node is recorded; the rerun restores the generator's state, so
    dropout's mask (hence the gradient) is the first run's, and the random stream after
    the step is what it would be without checkpointing."""
    dropout = mg.nn.Dropout(0.5)
    grads, after = [], []
    for checkpointed in (True, False):
        mg.manual_seed(1)
        x = mg.tensor(np.linspace(0.5, 2.0, 24).reshape(4, 6), requires_grad=True)
        y = checkpoint(lambda a: dropout(a) * a, x) if checkpointed else dropout(x) * x
        if checkpointed:
            assert y.grad_fn.name == "checkpoint" and y.grad_fn.edges == [None]
        y.sum().backward()
        grads.append(x.grad.numpy())
        after.append(mg.rand(3).numpy())
    np.testing.assert_array_equal(grads[0], grads[1])
    np.testing.assert_array_equal(after[0], after[1])


def test_without_an_input_that_requires_grad_it_just_runs_and_parameters_still_learn():
    blk = _block(mg)
    y = checkpoint(blk, mg.ones(2, 4, dtype=mg.float64))
    y.sum().backward()
    assert all(p.grad is not None for p in blk.parameters())


def test_a_function_returning_several_tensors_is_refused_clearly():
    x = mg.ones(2, requires_grad=True)
    with pytest.raises(mg.MinigradError, match="must return one Tensor, got tuple"):
        checkpoint(lambda a: (a * 2, a * 3), x)
    with pytest.raises(mg.MinigradError, match="context_fn is not supported"):
        checkpoint(lambda a: a, x, context_fn=lambda: None)

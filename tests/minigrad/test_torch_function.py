"""torch-style `minigrad.autograd.Function` against torch.autograd.Function (issue 15):
several outputs, non-tensor outputs, mark_non_differentiable, needs_input_grad,
set_materialize_grads, the saved_tensors version check, non-tensor arguments."""
import numpy as np
import pytest

import minigrad as mg
from testutil import require_torch


def _sort_like(lib, materialize=True, log=None):
    """Several outputs: scaled values, shifted values, integer indices, a string."""
    class Multi(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, scale, label):
            ctx.set_materialize_grads(materialize)
            ctx.save_for_backward(x)
            ctx.scale = scale
            idx = (x > 0).long()
            ctx.mark_non_differentiable(idx)
            return x * scale, x * x, idx, label

        @staticmethod
        def backward(ctx, g_scaled, g_square, g_idx, g_label):
            (x,) = ctx.saved_tensors
            if log is not None:
                log.append((ctx.needs_input_grad,
                            None if g_scaled is None else g_scaled.tolist(),
                            None if g_square is None else g_square.tolist(),
                            None if g_idx is None else g_idx.tolist(), g_label))
            grad = None
            if g_scaled is not None:
                grad = g_scaled * ctx.scale
            if g_square is not None:
                grad = g_square * 2 * x if grad is None else grad + g_square * 2 * x
            return grad, None, None
    return Multi


@pytest.mark.parametrize("materialize", [True, False])
@pytest.mark.parametrize("use", ["first", "second", "both"])
def test_several_outputs_match_torch(materialize, use):
    torch = require_torch()
    out = {}
    for lib in (mg, torch):
        log = []
        x = lib.tensor([1.5, -2.0, 0.5], requires_grad=True)
        a, b, idx, label = _sort_like(lib, materialize, log).apply(x, 3.0, "tag")
        loss = {"first": lambda: (a * a).sum(), "second": lambda: b.sum() * 2,
                "both": lambda: (a * b).sum()}[use]()
        loss.backward()
        out[lib] = (a.requires_grad, b.requires_grad, idx.requires_grad, label,
                    str(idx.dtype).replace("torch.", ""), a.tolist(), b.tolist(),
                    x.grad.tolist(), log)
    assert out[mg] == out[torch]


def test_non_tensor_arguments_and_needs_input_grad_as_torch():
    torch = require_torch()
    out = {}
    for lib in (mg, torch):
        seen = []

        class Affine(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x, w, k, name):
                ctx.save_for_backward(x, w)
                ctx.k = k
                return (x * w + k, name)

            @staticmethod
            def backward(ctx, grad, g_name):
                seen.append((ctx.needs_input_grad, g_name))
                x, w = ctx.saved_tensors
                return (grad * w if ctx.needs_input_grad[0] else None,
                        grad * x if ctx.needs_input_grad[1] else None, None, None)
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        w = lib.tensor([3.0, -1.0])                    # needs no gradient
        y, name = Affine.apply(x, w, 5, "affine")
        y.sum().backward()
        out[lib] = (name, y.tolist(), x.grad.tolist(), w.grad, seen)
    assert out[mg] == out[torch]


def test_saved_tensor_changed_in_place_raises_as_torch():
    torch = require_torch()
    for lib, error in ((torch, RuntimeError), (mg, mg.AutogradError)):
        class Scale(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x, c):
                ctx.save_for_backward(c)
                return x * c

            @staticmethod
            def backward(ctx, grad):
                (c,) = ctx.saved_tensors
                return grad * c, None
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        c = lib.tensor([3.0, 4.0])
        y = Scale.apply(x, c)
        c.fill_(100.0)
        with pytest.raises(error, match="modified by an inplace operation"):
            y.sum().backward()


def test_saved_output_changed_in_place_raises_as_torch():
    torch = require_torch()
    for lib, error in ((torch, RuntimeError), (mg, mg.AutogradError)):
        class Exp(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                y = x.exp()
                ctx.save_for_backward(y)
                return y

            @staticmethod
            def backward(ctx, grad):
                (y,) = ctx.saved_tensors
                return grad * y
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = Exp.apply(x)
        z = y * 1
        with lib.no_grad():
            y.mul_(2)
        with pytest.raises(error, match="modified by an inplace operation"):
            z.sum().backward()


def test_no_grad_and_integer_only_outputs_record_nothing():
    Multi = _sort_like(mg)
    x = mg.tensor([1.0, -1.0], requires_grad=True)
    with mg.no_grad():
        a, b, idx, label = Multi.apply(x, 2.0, "t")
    assert not a.requires_grad and a.grad_fn is None and label == "t"


def test_several_outputs_pass_gradcheck_and_work_with_grad_hooks_and_create_graph():
    Multi = _sort_like(mg)
    x = mg.randn(4, dtype=mg.float64, requires_grad=True)
    assert mg.autograd.gradcheck(lambda t: Multi.apply(t, 0.7, "g")[:2], (x,))
    a, b, _, _ = Multi.apply(x, 2.0, "g")
    seen = []
    b.register_hook(lambda g: seen.append(g.tolist()))
    (ga,) = mg.autograd.grad((a + b).sum(), x, create_graph=True)
    np.testing.assert_allclose(ga.numpy(), 2.0 + 2 * x.numpy())
    assert seen == [[1.0] * 4]
    (gga,) = mg.autograd.grad(ga.sum(), x)                # the backward was itself recorded
    np.testing.assert_allclose(gga.numpy(), [2.0] * 4)


def test_grad_with_respect_to_one_output_of_several():
    Multi = _sort_like(mg)
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    a, b, _, _ = Multi.apply(x, 3.0, "g")
    loss = (a * b).sum()
    ga, gb = mg.autograd.grad(loss, [a, b])
    assert ga.tolist() == b.tolist() and gb.tolist() == a.tolist()


def test_wrong_number_of_gradients_and_a_gradient_for_a_non_tensor_raise():
    class Bad(mg.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            return x * k

        @staticmethod
        def backward(ctx, grad):
            return grad, grad
    x = mg.tensor([1.0], requires_grad=True)
    with pytest.raises(mg.AutogradError, match="not a Tensor"):
        Bad.apply(x, 2.0).sum().backward()

    class Extra(mg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 2, None               # an extra trailing None is fine (torch)
    x = mg.tensor([1.0], requires_grad=True)
    Extra.apply(x).sum().backward()
    assert x.grad.tolist() == [2.0]

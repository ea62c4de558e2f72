"""Second derivatives: gradients built with create_graph=True are differentiable again,
and agree with PyTorch's (float64, within 1e-10)."""
import numpy as np
import pytest

import minigrad as mg
from testutil import assert_close, require_torch

pytestmark = pytest.mark.torch


def _pair(r, shape, kind="normal"):
    """The same float64 values as a minigrad and a torch leaf."""
    torch = require_torch()
    v = r.standard_normal(shape) if kind == "normal" else r.uniform(0.5, 2.0, shape)
    return mg.tensor(v, dtype=mg.float64, requires_grad=True), torch.tensor(v, requires_grad=True)


def second_order(mg_f, torch_f, mg_xs, torch_xs, r):
    """First gradients of sum(w * f(x)), then the gradient of sum(v * first) (a
    Hessian-vector product), in both frameworks; compare both levels."""
    torch = require_torch()
    out, tout = mg_f(*mg_xs), torch_f(*torch_xs)
    assert_close(out, tout)
    w = r.standard_normal(out.shape)
    g = mg.grad((out * mg.tensor(w, dtype=mg.float64)).sum(), mg_xs, create_graph=True)
    tg = torch.autograd.grad((tout * torch.tensor(w)).sum(), torch_xs, create_graph=True)
    vs = [r.standard_normal(x.shape) for x in mg_xs]
    for a, b in zip(g, tg):
        assert_close(a, b)
        assert a._ctx is not None, "create_graph=True must give a differentiable gradient"
    mg_dot = sum((a * mg.tensor(v, dtype=mg.float64)).sum() for a, v in zip(g, vs))
    t_dot = sum((b * torch.tensor(v)).sum() for b, v in zip(tg, vs))
    hvp = mg.grad(mg_dot, mg_xs, allow_unused=True)
    thvp = torch.autograd.grad(t_dot, torch_xs, allow_unused=True)
    for x, a, b in zip(mg_xs, hvp, thvp):
        a = np.zeros(x.shape) if a is None else a
        b = torch.zeros(x.shape, dtype=torch.float64) if b is None else b
        assert_close(a, b)


CASES = {
    # the four the issue names
    "tanh": ([(3, 4)], lambda x: x.tanh(), lambda x: x.tanh()),
    "exp": ([(3, 4)], lambda x: x.exp(), lambda x: x.exp()),
    "mul": ([(3, 4), (4,)], lambda a, b: a * b * a, lambda a, b: a * b * a),
    "matmul": ([(2, 3, 4), (4, 5)], lambda a, b: (a @ b) * (a @ b), lambda a, b: (a @ b) * (a @ b)),
    # and the other primitive ops whose backward is written with recorded ops
    "div": ([(3, 4), (3, 1)], lambda a, b: a / (b * b + 1), lambda a, b: a / (b * b + 1)),
    "log_sqrt": ([(3, 4)], lambda x: (x * x + 1).log() + (x * x + 1).sqrt(),
                 lambda x: (x * x + 1).log() + (x * x + 1).sqrt()),
    "sigmoid": ([(3, 4)], lambda x: x.sigmoid(), lambda x: x.sigmoid()),
    "pow": ([(3, 4)], lambda x: x ** 3 + x.abs() ** 2.5, lambda x: x ** 3 + x.abs() ** 2.5),
    "relu_abs_clip": ([(3, 4)], lambda x: x.relu() * x + x.abs() * x + x.clip(-0.5, 0.5) * x,
                      lambda x: x.relu() * x + x.abs() * x + x.clamp(-0.5, 0.5) * x),
    "maximum": ([(3, 4), (4,)], lambda a, b: mg.maximum(a, b) * a,
                lambda a, b: require_torch().maximum(a, b) * a),
    "reductions": ([(3, 4)], lambda x: x.sum(0) * x.mean(1, keepdims=True) + x.var(-1, keepdims=True)
                   * x.amax(0),
                   lambda x: x.sum(0) * x.mean(1, keepdim=True) + x.var(-1, keepdim=True) * x.amax(0)),
    "movement": ([(2, 3, 4)], lambda x: x.permute(2, 0, 1).reshape(4, 6) * x.reshape(4, 6)
                 + mg.concat([x, x * x], 1).sum(0).reshape(4, 6)
                 + x.transpose(0, 2).flatten(1)[::-1] * x[:, ::2].sum(),
                 lambda x: x.permute(2, 0, 1).reshape(4, 6) * x.reshape(4, 6)
                 + require_torch().cat([x, x * x], 1).sum(0).reshape(4, 6)
                 + x.transpose(0, 2).flatten(1).flip(0) * x[:, ::2].sum()),
    "getitem": ([(4, 3)], lambda x: x[np.array([0, 0, 3])] * x[1:4] * x[:3, 1:2],
                lambda x: x[[0, 0, 3]] * x[1:4] * x[:3, 1:2]),
    "where_masked_fill": ([(3, 4), (3, 4)],
                          lambda a, b: mg.where(ODD, a * b, b * b) * mg.masked_fill(a, ODD, 2.0),
                          lambda a, b: require_torch().where(require_torch().from_numpy(ODD), a * b, b * b)
                          * a.masked_fill(require_torch().from_numpy(ODD), 2.0)),
    "composed_softmax": ([(3, 4)], lambda x: _composed(mg.softmax, x * x),
                         lambda x: (x * x).softmax(-1)),
    "composed_layer_norm": ([(3, 4)], lambda x: _composed(lambda t: mg.layer_norm(t, 4), x * x),
                            lambda x: require_torch().nn.functional.layer_norm(x * x, (4,))),
}
ODD = (np.arange(12).reshape(3, 4) % 2).astype(bool)


def _composed(fn, x):
    """The reference version of a fused op is built from primitive ops: twice differentiable."""
    with mg.use_fused(False):
        return fn(x)


@pytest.mark.parametrize("name", list(CASES))
def test_second_derivative_matches_torch(name):
    shapes, mg_f, torch_f = CASES[name]
    r = np.random.default_rng(7)
    pairs = [_pair(r, s) for s in shapes]
    second_order(mg_f, torch_f, [p[0] for p in pairs], [p[1] for p in pairs], r)


def test_tanh_second_derivative_in_closed_form():
    x = mg.tensor(np.linspace(-2, 2, 9), dtype=mg.float64, requires_grad=True)
    (g,) = mg.grad(x.tanh().sum(), [x], create_graph=True)
    (h,) = mg.grad(g.sum(), [x])
    t = np.tanh(x.numpy())
    np.testing.assert_allclose(h.numpy(), -2 * t * (1 - t * t), rtol=1e-12, atol=1e-14)


def test_mlp_hessian_vector_product_matches_torch():
    """A small MLP's loss: gradient with create_graph, then Hessian-vector product."""
    torch = require_torch()
    r = np.random.default_rng(3)
    x, y = r.standard_normal((8, 5)), r.standard_normal((8, 2))
    shapes = [(5, 6), (6,), (6, 2), (2,)]
    params = [_pair(r, s) for s in shapes]
    vs = [r.standard_normal(s) for s in shapes]

    def loss(w1, b1, w2, b2, lib):
        xt, yt = lib(x), lib(y)
        h = (xt @ w1 + b1).tanh()
        return ((h @ w2 + b2 - yt) ** 2).mean()

    mg_p = [p[0] for p in params]
    t_p = [p[1] for p in params]
    mg_loss = loss(*mg_p, lambda a: mg.tensor(a, dtype=mg.float64))
    t_loss = loss(*t_p, torch.tensor)
    assert_close(mg_loss, t_loss)
    grads = mg.grad(mg_loss, mg_p, create_graph=True)
    tgrads = torch.autograd.grad(t_loss, t_p, create_graph=True)
    hvp = mg.grad(sum((g * mg.tensor(v, dtype=mg.float64)).sum() for g, v in zip(grads, vs)), mg_p)
    thvp = torch.autograd.grad(sum((g * torch.tensor(v)).sum() for g, v in zip(tgrads, vs)), t_p)
    for a, b in zip(grads, tgrads):
        assert_close(a, b)
    for a, b in zip(hvp, thvp):
        assert_close(a, b)
    # and the same product through Tensor.backward(create_graph=True) into .grad
    mg_loss2 = loss(*mg_p, lambda a: mg.tensor(a, dtype=mg.float64))
    mg_loss2.backward(create_graph=True)
    dot = sum((p.grad * mg.tensor(v, dtype=mg.float64)).sum() for p, v in zip(mg_p, vs))
    hvp2 = mg.grad(dot, mg_p)
    for a, b in zip(hvp2, thvp):
        assert_close(a, b)


def test_third_derivative_of_exp_and_tanh():
    x = mg.tensor([0.3, -0.7], dtype=mg.float64, requires_grad=True)
    y = (x.exp() + x.tanh()).sum()
    (g1,) = mg.grad(y, [x], create_graph=True)
    (g2,) = mg.grad(g1.sum(), [x], create_graph=True)
    (g3,) = mg.grad(g2.sum(), [x])
    t = np.tanh(x.numpy())
    expected = np.exp(x.numpy()) + (-2 * (1 - t * t) ** 2 + 4 * t * t * (1 - t * t))
    np.testing.assert_allclose(g3.numpy(), expected, rtol=1e-12)

"""minigrad.autograd's public face, each against torch: version counters, grad modes,
the torch-style Function, tensor hooks, retain_grad, autograd.grad / backward."""
import threading

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.errors import AutogradError
from testutil import assert_close, require_torch

pytestmark = pytest.mark.torch


def pair(shape=(4, 3), seed=0):
    torch = require_torch()
    v = np.random.default_rng(seed).normal(size=shape)
    return mg.tensor(v, dtype=mg.float64, requires_grad=True), torch.tensor(v, requires_grad=True)


# ------------------------------------------------------------------ version counters
def test_changing_a_saved_tensor_in_place_raises_at_backward_as_torch():
    torch = require_torch()
    x, tx = pair((3,))
    c, tc = mg.tensor([1.0, 2.0, 3.0], dtype=mg.float64), torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    y, ty = (x * c).sum(), (tx * tc).sum()
    assert c._version == 0 and tc._version == 0
    c.fill_(100.0)
    tc.fill_(100.0)
    assert c._version == tc._version == 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        ty.backward()
    with pytest.raises(AutogradError, match="modified by an inplace operation") as info:
        y.backward()
    msg = str(info.value)
    assert msg.startswith("mul:") and "(3,)" in msg and "version 1" in msg and "version 0" in msg


OUTPUT_SAVERS = {            # ops whose backward reads their own result, as PyTorch's
    "exp": lambda m, x: m.exp(x), "sqrt": lambda m, x: m.sqrt(x.abs() + 1),
    "tanh": lambda m, x: m.tanh(x), "sigmoid": lambda m, x: m.sigmoid(x),
    "reciprocal": lambda m, x: m.reciprocal(x), "softmax": lambda m, x: m.softmax(x, dim=-1),
    "log_softmax": lambda m, x: m.log_softmax(x, dim=-1),
    "cumprod": lambda m, x: m.cumprod(x, dim=0), "prod": lambda m, x: m.prod(x, dim=0)}


@pytest.mark.parametrize("op", list(OUTPUT_SAVERS))
@pytest.mark.parametrize("change", ["mul_", "add_"])
def test_changing_an_output_that_backward_reads_raises_as_torch(op, change):
    """y = exp(x); y.mul_(2); y.sum().backward(): the gradient would be read from the
    changed y, so PyTorch raises, and so must minigrad (it once gave a wrong gradient)."""
    torch = require_torch()
    x, tx = pair((3, 4))
    for lib, t, error in ((torch, tx, RuntimeError), (mg, x, AutogradError)):
        y = OUTPUT_SAVERS[op](lib, t)
        getattr(y, change)(2.0)
        with pytest.raises(error, match="modified by an inplace operation"):
            y.sum().backward()
    # out of place, or a changed copy, is fine
    y = OUTPUT_SAVERS[op](mg, x)
    y.clone().mul_(2.0)
    (y * 2.0).sum().backward()
    assert x.grad is not None


def test_each_in_place_op_counts_a_version():
    t = mg.zeros(2, 3)
    t.fill_(1.0)
    t.zero_()
    t.copy_(mg.ones(2, 3))
    t[0] = 5.0
    assert t._version == 4


def test_optimizer_step_between_forward_and_backward_raises():
    torch = require_torch()
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    tmodel = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    opt, topt = mg.optim.SGD(model.parameters(), lr=0.1), torch.optim.SGD(tmodel.parameters(), lr=0.1)
    x = mg.randn(4, 3)
    model(x).sum().backward()
    tmodel(torch.randn(4, 3)).sum().backward()
    loss, tloss = model(x).sum(), tmodel(torch.randn(4, 3)).sum()
    opt.step()
    topt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        tloss.backward()
    with pytest.raises(AutogradError, match="modified by an inplace operation"):
        loss.backward()


def test_ops_that_save_nothing_do_not_raise_as_torch():
    torch = require_torch()
    x, tx = pair((3,))
    c, tc = mg.ones(3, dtype=mg.float64), torch.ones(3, dtype=torch.float64)
    y, ty = (x + c).sum(), (tx + tc).sum()
    c.fill_(5.0)
    tc.fill_(5.0)
    y.backward()
    ty.backward()
    assert_close(x.grad, tx.grad)


def test_save_for_backward_checks_versions_in_a_custom_function():
    class Square(mg.autograd.Function):
        @staticmethod
        def forward(ctx, x, w):
            ctx.save_for_backward(x, w)
            return x * x * w

        @staticmethod
        def backward(ctx, grad):
            x, w = ctx.saved_tensors
            return grad * 2 * x * w, None

    x = mg.randn(3, requires_grad=True)
    w = mg.ones(3)
    y = Square.apply(x, w).sum()
    w.fill_(2.0)
    with pytest.raises(AutogradError, match="Square: one of the variables needed"):
        y.backward()


# ------------------------------------------------------------------ grad modes
@pytest.mark.parametrize("mode", ["no_grad", "enable_grad", "inference_mode"])
def test_grad_modes_as_decorators_with_and_without_parentheses(mode):
    torch = require_torch()
    for lib, x in ((mg, mg.ones(2, requires_grad=True)), (torch, torch.ones(2, requires_grad=True))):
        deco = getattr(lib, mode)

        @deco
        def bare(t):
            return t * 2

        @deco()
        def called(t):
            return t * 2

        with lib.no_grad() if mode == "enable_grad" else lib.enable_grad():
            results = [bare(x).requires_grad, called(x).requires_grad]
            with deco():
                results.append((x * 2).requires_grad)
        assert results == [mode == "enable_grad"] * 3, (lib.__name__, mode, results)
        assert (x * 2).requires_grad


def test_set_grad_enabled_as_a_call_a_context_and_a_decorator():
    torch = require_torch()
    for lib in (mg, torch):
        x = lib.ones(2, requires_grad=True)
        lib.set_grad_enabled(False)
        assert not lib.is_grad_enabled() and not (x * 2).requires_grad
        lib.set_grad_enabled(True)
        assert (x * 2).requires_grad
        with lib.set_grad_enabled(False):
            assert not (x * 2).requires_grad
        assert lib.is_grad_enabled()

        @lib.set_grad_enabled(False)
        def f():
            return (x * 2).requires_grad
        assert lib.is_grad_enabled() and f() is False and lib.is_grad_enabled()


def test_grad_mode_stays_per_thread():
    seen = []
    with mg.no_grad():
        t = threading.Thread(target=lambda: seen.append(mg.is_grad_enabled()))
        t.start()
        t.join()
    assert seen == [True]


# ------------------------------------------------------------------ torch-style Function
def _cube(lib):
    class Cube(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, scale):
            ctx.save_for_backward(x)
            ctx.scale = scale
            return scale * x ** 3

        @staticmethod
        def backward(ctx, grad_output):
            (x,) = ctx.saved_tensors
            assert ctx.needs_input_grad == (True, False)
            return grad_output * 3 * ctx.scale * x ** 2, None
    return Cube


def test_custom_function_matches_torch_with_double_backward():
    torch = require_torch()
    x, tx = pair()
    y, ty = _cube(mg).apply(x, 0.5), _cube(torch).apply(tx, 0.5)
    assert_close(y, ty)
    assert y.grad_fn is not None and not y.is_leaf and x.is_leaf
    (g,) = mg.autograd.grad(y.sum(), x, create_graph=True)
    (tg,) = torch.autograd.grad(ty.sum(), tx, create_graph=True)
    assert_close(g, tg)
    mg.autograd.backward(g.sum())
    torch.autograd.backward(tg.sum())
    assert_close(x.grad, tx.grad)


def test_custom_function_passes_gradcheck_and_rejects_wrong_gradient_counts():
    x = mg.randn(3, 2, dtype=mg.float64, requires_grad=True)
    assert mg.autograd.gradcheck(lambda t: _cube(mg).apply(t, 0.7), (x,))

    class Bad(mg.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            return x * k

        @staticmethod
        def backward(ctx, grad):
            return grad
    with pytest.raises(AutogradError, match="Bad: backward returned 1 gradients"):
        Bad.apply(x, 2.0).sum().backward()


def test_mark_non_differentiable():
    class Sign(mg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            out = x.sign() if hasattr(x, "sign") else (x > 0).float()
            ctx.mark_non_differentiable(out)
            return out

        @staticmethod
        def backward(ctx, grad):
            return None
    assert not Sign.apply(mg.randn(3, requires_grad=True)).requires_grad


# ------------------------------------------------------------------ tensor hooks
def test_register_hook_replaces_gradients_and_retain_grad_as_torch():
    torch = require_torch()
    out = {}
    for lib in (mg, torch):
        h = lib.tensor([1.0, -2.0, 3.0], requires_grad=True)
        seen = []
        handle = h.register_hook(lambda g: seen.append(g * 1) or g * 2)
        mid = h * 10
        mid.retain_grad()
        mid_hook = mid.register_hook(lambda g: g + 1)     # runs before retain_grad stores it
        (mid * mid).sum().backward()
        handle.remove()
        mid_hook.remove()
        h.grad = None
        (h * 3).sum().backward()                          # hook removed: plain gradient
        out[lib] = (seen[0].tolist(), mid.grad.tolist(), h.grad.tolist(), mid.is_leaf,
                    h.is_leaf, mid.retains_grad)
    assert out[mg] == out[torch]


def test_hook_on_a_tensor_that_needs_no_grad_raises():
    with pytest.raises(AutogradError, match="register_hook"):
        mg.ones(2).register_hook(lambda g: g)


# ------------------------------------------------------------------ settings and defaults
def test_unknown_op_setting_is_an_error_naming_the_op():
    from minigrad.ops.reduce import Sum
    with pytest.raises(TypeError, match=r"sum: unexpected setting\(s\) \['dim'\], missing \[\]"):
        Sum.apply(mg.ones(2), axes=(0,), keepdims=False, dim=0)
    with pytest.raises(TypeError, match=r"sum: unexpected setting\(s\) \[\], missing \['keepdims'\]"):
        Sum.apply(mg.ones(2), axes=(0,))
    assert Sum.settings == {"axes", "keepdims"}


def test_default_dtype_is_global_across_threads():
    mg.set_default_dtype(mg.float64)
    seen = []
    t = threading.Thread(target=lambda: seen.append((mg.get_default_dtype(), mg.tensor([1.0]).dtype)))
    t.start()
    t.join()
    assert seen == [(mg.float64, mg.float64)]


def test_float64_default_end_to_end():
    mg.set_default_dtype(mg.float64)
    for t in (mg.tensor([1.5]), mg.zeros(2), mg.ones(2), mg.randn(2), mg.rand(2), mg.full((2,), 0.5),
              mg.exp(mg.tensor([1, 2])), mg.arange(3).mean()):
        assert t.dtype == mg.float64, t
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.LayerNorm(4), nn.Linear(4, 2))
    assert all(p.dtype == mg.float64 for p in model.parameters())
    opt = mg.optim.Adam(model.parameters(), lr=1e-2)
    x = mg.randn(5, 3)
    loss = mg.cross_entropy(model(x), mg.tensor([0, 1, 0, 1, 1]))
    assert loss.dtype == mg.float64
    loss.backward()
    opt.step()
    assert all(p.grad.dtype == mg.float64 and p.dtype == mg.float64 for p in model.parameters())


# ------------------------------------------------------------------ in-place arithmetic
def test_in_place_arithmetic_updates_the_same_tensor_as_torch():
    torch = require_torch()
    out = {}
    for lib in (mg, torch):
        w = lib.zeros(3, 1, requires_grad=True)
        x = lib.tensor(np.arange(15.0, dtype=np.float32).reshape(5, 3) / 10)
        ref = w
        for _ in range(3):
            (x @ w).pow(2).sum().backward() if hasattr(w, "pow") else ((x @ w) ** 2).sum().backward()
            with lib.no_grad():
                w -= 0.01 * w.grad
                w.grad.zero_()
        c = lib.ones(4)
        c += 1
        c.mul_(3).sub_(1, alpha=2).div_(2).clamp_(0, 1.75)
        c.masked_fill_(lib.tensor([True, False, False, True]), -1.0)
        out[lib] = (ref is w, w.is_leaf, w.requires_grad, np.round(w.detach().numpy().ravel(), 6).tolist(),
                    c.tolist(), w._version, c._version)
    assert out[mg] == out[torch]


def test_in_place_errors_as_torch():
    with pytest.raises(mg.MinigradError, match="add_"):
        w = mg.zeros(2, requires_grad=True)
        w += 1                                         # a leaf that requires grad, grad on
    i = mg.tensor([1, 2])
    with pytest.raises(mg.DTypeError, match="can't be cast"):
        i *= 0.5
    with pytest.raises(mg.ShapeError, match="cannot broadcast"):
        mg.ones(3).add_(mg.ones(2, 3))
    h = mg.randn(3, requires_grad=True) * 2            # inside the graph: recorded in place
    h2 = h
    h += 1
    assert h is h2 and h.grad_fn.name == "add"


# ------------------------------------------------------------------ autograd.functional
def _nested(result):
    """Tensors, or (nested) tuples of them, as nested lists of float64 arrays."""
    if isinstance(result, (tuple, list)):
        return [_nested(r) for r in result]
    return np.asarray(result.detach().numpy(), dtype=np.float64)


def _assert_nested_close(a, b):
    if isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b)
        for x, y in zip(a, b):
            _assert_nested_close(x, y)
    else:
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


FUNCTIONALS = {
    "one in, one out": (lambda lib: (lambda v: (v ** 2).sum() * v.tanh()), [(3,)]),
    "matrix in": (lambda lib: (lambda m: m @ m.t()), [(2, 3)]),
    "two in, two out": (lambda lib: (lambda a, b: (a * b.exp(), (a.sin() * b).sum())),
                        [(2,), (2,)]),
    "an unused input": (lambda lib: (lambda a, b: a.exp()), [(2,), (3,)]),
}


@pytest.mark.parametrize("case", list(FUNCTIONALS))
def test_jacobian_hessian_and_vjp_match_torch(case):
    torch = require_torch()
    make, shapes = FUNCTIONALS[case]
    values = [np.random.default_rng(i).normal(size=s) for i, s in enumerate(shapes)]
    ins = {lib: (lib.tensor(values[0], dtype=lib.float64) if len(values) == 1 else
                 tuple(lib.tensor(v, dtype=lib.float64) for v in values)) for lib in (mg, torch)}
    jac = {lib: lib.autograd.functional.jacobian(make(lib), ins[lib]) for lib in (mg, torch)}
    _assert_nested_close(_nested(jac[mg]), _nested(jac[torch]))

    def scalar(lib):
        f = make(lib)
        return lambda *xs: sum((o ** 2).sum() for o in (f(*xs) if isinstance(f(*xs), tuple)
                                                      else (f(*xs),)))
    hes = {lib: lib.autograd.functional.hessian(scalar(lib), ins[lib]) for lib in (mg, torch)}
    _assert_nested_close(_nested(hes[mg]), _nested(hes[torch]))
    if case == "one in, one out":
        v = np.random.default_rng(9).normal(size=shapes[0])
        got = {lib: lib.autograd.functional.vjp(make(lib), ins[lib], lib.tensor(v, dtype=lib.float64))
               for lib in (mg, torch)}
        _assert_nested_close(_nested(got[mg]), _nested(got[torch]))
    if case == "an unused input":
        for lib, error in ((torch, RuntimeError), (mg, AutogradError)):
            with pytest.raises(error):
                lib.autograd.functional.jacobian(make(lib), ins[lib], strict=True)


@pytest.mark.parametrize("accumulate", [False, True])
def test_index_put_matches_torch(accumulate):
    torch = require_torch()
    results = []
    for lib in (torch, mg):
        z = lib.arange(12.0).reshape(3, 4)
        z.index_put_((lib.tensor([0, 2, 2, 0]), lib.tensor([1, 1, 3, 1])),
                     lib.tensor([1.0, 2.0, 3.0, 4.0]), accumulate=accumulate)
        z.index_put_((lib.tensor([1]),), lib.tensor(-1.0), accumulate=accumulate)
        z.index_put_((lib.tensor([[True, False, False, True]] * 3),), lib.tensor(0.5),
                     accumulate=accumulate)
        results.append(z.numpy())
        assert z._version == 3
    np.testing.assert_array_equal(results[0], results[1])
    with pytest.raises(mg.MinigradError, match="tuple"):
        mg.zeros(2).index_put_(mg.tensor([0]), mg.tensor(1.0))
    leaf = mg.zeros(2, requires_grad=True)
    with pytest.raises(AutogradError, match="leaf"):
        leaf.index_put_((mg.tensor([0]),), mg.tensor(1.0))


def test_backward_inputs_materialized_grads_inference_mode_keyword_and_anomaly_switch():
    """backward(inputs=) fills only those tensors' .grad; grad(materialize_grads=True) gives
    zeros for unused inputs; inference_mode(mode=False); set_detect_anomaly; the tensor
    method register_post_accumulate_grad_hook. Each as torch."""
    torch = require_torch()
    seen = []
    for lib in (mg, torch):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b = lib.tensor([3.0], requires_grad=True)
        h = (a * 3)
        h.retain_grad()
        ((a * a).sum() + b.sum() * 2 + h.sum()).backward(inputs=[a, h])
        unused = lib.autograd.grad((a * 2).sum(), [a, b], materialize_grads=True)
        with lib.inference_mode(mode=False):
            z = a * 2
        with lib.autograd.set_detect_anomaly(True):
            w = (a * 2).sum()
        hooked = []
        leaf = lib.tensor([1.0], requires_grad=True)
        handle = leaf.register_post_accumulate_grad_hook(lambda t: hooked.append(t.grad.tolist()))
        (leaf * 3).sum().backward()
        handle.remove()
        seen.append((a.grad.tolist(), b.grad, h.grad.tolist(), [g.tolist() for g in unused],
                     z.requires_grad, w.item(), hooked))
    assert seen[0] == seen[1]


def test_a_backward_inside_a_backward_keeps_the_outer_ones_hooks_and_callbacks():
    """checkpoint's rerun runs a backward inside an op's backward: the outer backward's
    post-accumulate hooks and queued callbacks carry on after it (the inner one reset
    them, and the outer one then failed at its end)."""
    from minigrad.utils.checkpoint import checkpoint
    hooked_before = mg.autograd.hooked_leaves()           # (other tests' leaves may hold some)
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    fired, done = [], []

    def hook(t):
        fired.append(t.grad.tolist())
        mg.autograd.queue_callback(lambda: done.append(t.grad.tolist()))
    handle = w.register_post_accumulate_grad_hook(hook)
    x = mg.tensor([0.5, 0.5], requires_grad=True)
    y = checkpoint(lambda a: a * w, x)
    ((y * mg.tensor([1.0, 3.0])).sum() + (w * 3).sum()).backward()
    handle.remove()
    assert w.grad.tolist() == [3.5, 4.5] and x.grad.tolist() == [1.0, 6.0]
    assert fired[-1] == [3.5, 4.5] and done[-1] == [3.5, 4.5]
    assert mg.autograd.hooked_leaves() == hooked_before

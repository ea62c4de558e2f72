"""The Tensor API as torch spells it (issue 15): size(), dim(), numel(), torch.nn after
`import torch`, `.data`; each against PyTorch."""
import subprocess
import sys

import numpy as np
import pytest

import minigrad as mg

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 3), (2, 0, 4), (1, 2, 3, 4)])
def test_size_dim_numel_as_torch(shape):
    a = np.zeros(shape, np.float32)
    x, t = mg.tensor(a), torch.tensor(a)
    assert x.size() == t.size() and isinstance(x.size(), tuple)
    assert x.dim() == t.dim() == x.ndim and x.numel() == t.numel()
    for d in range(-len(shape), len(shape)):
        assert x.size(d) == t.size(d)
    assert x.size().numel() == t.size().numel()


def test_size_rejects_a_dim_out_of_range():
    with pytest.raises(mg.ShapeError, match="size: dim 2"):
        mg.zeros(2, 3).size(2)


def test_nn_is_reachable_after_import_but_not_imported_with_the_core():
    code = ("import sys, minigrad; assert 'minigrad.nn' not in sys.modules; "
            "import minigrad as torch; torch.nn.Linear(2, 3); torch.nn.functional.relu; "
            "torch.optim.lr_scheduler.StepLR; torch.utils.data.DataLoader; torch.models")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        mg.nope


def test_data_is_a_tensor_sharing_storage_outside_autograd():
    p = mg.nn.Parameter(mg.ones(3))
    p.grad = mg.full((3,), 2.0)
    view = p.data
    assert isinstance(view, mg.Tensor) and not view.requires_grad and view.grad_fn is None
    p.data -= 0.25 * p.grad                      # torch's manual SGD idiom: in place
    p.data.clamp_(-10, 0.6)
    np.testing.assert_allclose(p.numpy(), [0.5, 0.5, 0.5])
    assert p.dtype == np.float32 and p.requires_grad
    assert np.shares_memory(view.array, p.array)
    p.data = mg.zeros(2)                         # assigning replaces the storage, as torch
    assert p.shape == (2,) and p.requires_grad
    with pytest.raises(mg.DTypeError, match="data"):
        p.data = [1.0]


def _pair(shape, seed=0, dtype=np.float64):
    a = np.random.default_rng(seed).normal(size=shape).astype(dtype)
    return mg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


@pytest.mark.parametrize("shape", [(4,), (2, 3), (2, 3, 4)])
@pytest.mark.parametrize("name", ["sin", "cos", "rsqrt"])
def test_unary_math_as_torch_with_gradients(name, shape):
    x, t = _pair(shape)
    if name == "rsqrt":
        x, t = (x * x + 0.5).detach().requires_grad_(), (t * t + 0.5).detach().requires_grad_()
    out, ref = getattr(x, name)(), getattr(t, name)()
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-12)
    g = np.random.default_rng(1).normal(size=shape)
    out.backward(mg.tensor(g))
    ref.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-10)
    assert mg.gradcheck(getattr(mg, name), [x])
    assert mg.sin(mg.tensor([1, 2])).dtype == np.float32      # ints become the default float


@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 5), (5, 2)])
@pytest.mark.parametrize("diagonal", [-1, 0, 2])
def test_tril_triu_as_torch(shape, diagonal):
    x, t = _pair(shape)
    for name in ("tril", "triu"):
        out = getattr(mg, name)(x, diagonal=diagonal)
        np.testing.assert_array_equal(out.numpy(), getattr(torch, name)(t, diagonal).detach().numpy())
        assert mg.gradcheck(lambda a: getattr(a, name)(diagonal), [x])
    with pytest.raises(mg.ShapeError, match="tril"):
        mg.tril(mg.ones(3))


@pytest.mark.parametrize("shape,dim", [((4,), 0), ((3, 4), 1), ((3, 4), 0), ((2, 3, 4), -1)])
def test_max_min_with_dim_give_values_and_indices_as_torch(shape, dim):
    x, t = _pair(shape)
    for name in ("max", "min"):
        for keepdim in (False, True):
            mine, theirs = getattr(x, name)(dim=dim, keepdim=keepdim), getattr(t, name)(dim, keepdim)
            values, indices = mine
            np.testing.assert_array_equal(values.numpy(), theirs.values.detach().numpy())
            np.testing.assert_array_equal(mine.indices.numpy(), theirs.indices.numpy())
            assert indices.dtype == np.int64
        assert mg.gradcheck(lambda a: getattr(a, name)(dim).values, [x])
        assert getattr(x, name)().item() == getattr(t, name)().item()
        np.testing.assert_array_equal(getattr(mg, name)(x, x * 0).numpy(),
                                      getattr(torch, name)(t, t * 0).detach().numpy())
    np.testing.assert_array_equal(x.amax(dim).numpy(), t.amax(dim).detach().numpy())
    # the gradient goes to the element the index names (torch), not shared among ties
    tie = mg.tensor([[1.0, 1.0]], requires_grad=True)
    tie.max(1).values.sum().backward()
    ttie = torch.tensor([[1.0, 1.0]], requires_grad=True)
    ttie.max(1).values.sum().backward()
    np.testing.assert_array_equal(tie.grad.numpy(), ttie.grad.numpy())


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4)])
def test_dim_keepdim_and_their_numpy_aliases(shape):
    x, t = _pair(shape)
    for name in ("sum", "mean", "var", "std", "amax", "softmax", "log_softmax", "argmax"):
        kw = {} if name in ("softmax", "log_softmax") else {"keepdim": True}
        ref = getattr(t, name)(dim=-1, **kw).detach().numpy()
        np.testing.assert_allclose(getattr(x, name)(dim=-1, **kw).numpy(), ref, rtol=1e-10)
        np_kw = {} if not kw else {"keepdims": True}
        np.testing.assert_allclose(getattr(x, name)(axis=-1, **np_kw).numpy(), ref, rtol=1e-10)
    assert mg.gradcheck(lambda a: a.std(dim=0, keepdim=True), [x])
    with pytest.raises(mg.ShapeError, match="both dim= and"):
        x.sum(dim=0, axis=0)
    np.testing.assert_array_equal(mg.cat([x, x], dim=0).numpy(), torch.cat([t, t], dim=0).detach().numpy())
    np.testing.assert_array_equal(x.unsqueeze(dim=0).shape, t.unsqueeze(dim=0).shape)
    np.testing.assert_array_equal(x.transpose(0, -1).numpy(), t.transpose(0, -1).detach().numpy())
    np.testing.assert_array_equal(x.flatten(start_dim=0).numpy(), t.flatten(start_dim=0).detach().numpy())


@pytest.mark.parametrize("shape,dim", [((4, 5), 1), ((4, 5), 0), ((2, 3, 4), 2)])
def test_gather_scatter_as_torch(shape, dim):
    x, t = _pair(shape)
    r = np.random.default_rng(2)
    index = r.integers(0, shape[dim], size=shape)
    out = mg.gather(x, dim, mg.tensor(index))
    np.testing.assert_array_equal(out.numpy(), torch.gather(t, dim, torch.tensor(index)).detach().numpy())
    assert mg.gradcheck(lambda a: a.gather(dim, mg.tensor(index)), [x])   # repeats add up
    src = r.normal(size=shape)
    for op in ("scatter_", "scatter_add_"):
        mine, theirs = x.detach().clone(), t.detach().clone()
        getattr(mine, op)(dim, mg.tensor(index), mg.tensor(src))
        getattr(theirs, op)(dim, torch.tensor(index), torch.tensor(src))
        if op == "scatter_add_":
            np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-12)
    unique = np.argsort(r.random(shape), axis=dim)           # scatter_ with distinct targets
    mine, theirs = x.detach().clone(), t.detach().clone()
    mine.scatter_(dim, mg.tensor(unique), 3.5)
    theirs.scatter_(dim, torch.tensor(unique), 3.5)
    np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    mine.index_fill_(dim, mg.tensor([0]), -1.0)
    theirs.index_fill_(dim, torch.tensor([0]), -1.0)
    np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    with pytest.raises(mg.IndexOutOfRangeError, match="gather"):
        mg.gather(x, dim, mg.tensor(index + shape[dim]))


def test_nonzero_type_and_dtype_names_as_torch():
    a = np.array([[0, 1.5, 0], [2, 0, 3]])
    np.testing.assert_array_equal(mg.nonzero(mg.tensor(a)).numpy(), torch.nonzero(torch.tensor(a)).numpy())
    for mine, theirs in zip(mg.tensor(a).nonzero(as_tuple=True), torch.tensor(a).nonzero(as_tuple=True)):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    x = mg.ones(2, 2).type(mg.uint8)
    assert x.dtype == np.uint8 and mg.zeros(2).type_as(x).dtype == np.uint8
    assert (mg.long, mg.int, mg.double, mg.half, mg.float, mg.bool) == \
        (np.int64, np.int32, np.float64, np.float16, np.float32, np.bool_)
    assert isinstance(True, bool)                                # builtins untouched inside minigrad


def test_tensor_copies_while_from_numpy_and_as_tensor_share():
    a = np.zeros(3, np.float32)
    copied, shared, alias = mg.tensor(a), mg.from_numpy(a), mg.as_tensor(a)
    a[0] = 5.0
    assert copied.numpy()[0] == torch.tensor(np.zeros(3)).numpy()[0] == 0.0
    assert shared.numpy()[0] == alias.numpy()[0] == 5.0
    base = mg.ones(2)
    assert not np.shares_memory(mg.tensor(base).array, base.array)
    assert mg.tensor(a, requires_grad=True).requires_grad


def test_where_of_two_scalars_and_of_a_condition_alone_as_torch():
    cond = np.array([True, False, True])
    for a, b in [(1, 0), (True, False), (1, 0.5), (2.5, 1.5)]:
        got, expected = mg.where(mg.tensor(cond), a, b), torch.where(torch.tensor(cond), a, b)
        assert str(got.dtype) == str(expected.dtype).replace("torch.", "")
        np.testing.assert_array_equal(got.numpy(), expected.numpy())
    grid = np.array([[0, 3], [2, 0]])
    got, expected = mg.where(mg.tensor(grid) > 0), torch.where(torch.tensor(grid) > 0)
    assert len(got) == len(expected) == 2
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g.numpy(), e.numpy())


def test_shape_mistakes_are_runtime_errors_as_torch_and_value_errors():
    for bad in (lambda: mg.zeros(2, 3) + mg.zeros(4), lambda: mg.zeros(2, 3) @ mg.zeros(2, 3),
                lambda: mg.zeros(2, 3).reshape(4), lambda: mg.zeros(3).item(),
                lambda: bool(mg.zeros(3))):
        with pytest.raises(RuntimeError):
            bad()
        with pytest.raises(ValueError):
            bad()


def test_everyday_idioms_of_a_torch_program_work_as_torch():
    """Found by running users' programs: format strings, device objects, to(non_blocking),
    var(unbiased=False), var_mean/std_mean, addmm/baddbmm, manual_seed(-1), the
    matmul-precision switch, pin_memory."""
    seen = []
    for lib in (mg, torch):
        x = lib.tensor([[1.0, 2.0, 4.0], [3.0, -1.0, 0.5]], dtype=lib.float64)
        loss = (x * x).mean()
        lib.manual_seed(-1)
        lib.set_float32_matmul_precision("high")
        v, m = lib.var_mean(x, dim=1, keepdim=True, unbiased=False)
        s, m2 = lib.std_mean(x, dim=0)
        a = lib.tensor(np.arange(6.0).reshape(2, 3))
        b = lib.tensor(np.arange(12.0).reshape(2, 3, 2))
        seen.append([
            f"{loss:.4f}", x.device.type, x.device.index, str(x.device),
            x.to(x.device, non_blocking=True).tolist(),
            x.var(-1, keepdim=True, unbiased=False).tolist(),
            v.tolist(), m.tolist(), s.tolist(), m2.tolist(),
            lib.addmm(lib.tensor([1.0, -1.0], dtype=lib.float64), x, a.T, beta=0.5, alpha=2).tolist(),
            lib.baddbmm(lib.zeros(2, 1, 2, dtype=lib.float64), a.reshape(2, 1, 3), b).tolist(),
            lib.initial_seed(), lib.get_float32_matmul_precision()])
        lib.set_float32_matmul_precision("highest")
        with pytest.raises(TypeError):
            f"{x:.2f}"
    assert seen[0] == seen[1]
    x = mg.ones(2)
    assert x.pin_memory() is x and not x.is_pinned()      # (torch needs a GPU for these)


@pytest.mark.parametrize("values", [
    [[1.0, 2.5]], [0.707, 0.0479], [1e-5, 1.0], [1e9, 3.0], [float("nan"), float("inf"), -1.5],
    [1.0, 5000.0], [0.0, 0.0], [-0.5, 2000.25], 3.14159, [[True, False]], [[1, 2, 3], [4, 5, 6]],
    [float("nan"), 4.0], [float("-inf"), 1000.0, 0.5]],
    ids=lambda v: str(v)[:20])
def test_tensors_print_as_torch_prints_them(values):
    """Default-dtype floats, int64 and bool print exactly as torch's (4 decimals or
    scientific notation, whole numbers as "2.", no dtype suffix)."""
    array = np.array(values)
    if array.dtype == np.float64:
        array = array.astype(np.float32)
    assert repr(mg.tensor(array)) == repr(torch.tensor(array))
    assert repr(mg.tensor(array, requires_grad=array.dtype.kind == "f")) == \
        repr(torch.tensor(array, requires_grad=array.dtype.kind == "f"))


def test_in_place_views_detach_and_requires_grad_rules_as_torch():
    seen = []
    for lib in (mg, torch):
        x = lib.ones(2, 1, requires_grad=True)
        y = x * 2
        y.squeeze_()
        y.unsqueeze_(0)
        y.t_()
        (y * lib.tensor([[1.0], [2.0]])).sum().backward()
        z = x * 3
        z.detach_()
        errors = []
        for bad in (lambda: (x * 2).requires_grad_(False), lambda: x.squeeze_(),
                    lambda: lib.tensor([1, 2], requires_grad=True)):
            try:
                bad()
            except RuntimeError:
                errors.append("RuntimeError")
        seen.append((tuple(y.shape), x.grad.tolist(), z.requires_grad, z.grad_fn is None,
                     errors, str(lib.tensor([1], dtype=lib.int8).short().dtype).split(".")[-1],
                     str((lib.tensor([1], dtype=lib.int8) + lib.tensor([1], dtype=lib.uint8)).dtype)
                     .split(".")[-1]))
    assert seen[0] == seen[1]

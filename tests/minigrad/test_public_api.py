"""Public behaviour the rest of the suite used without testing (issue 22): the float64
default dtype, dtype conversions, is_leaf, from_numpy's shared memory, contiguous,
cat and clamp, each against PyTorch's answer where it has one."""
import numpy as np
import pytest

import minigrad as mg
from testutil import require_torch


# ------------------------------------------------------------------ set_default_dtype
def test_float64_default_dtype_is_used_by_creation_and_kept_by_ops():
    mg.set_default_dtype(mg.float64)               # (conftest restores float32 afterwards)
    assert mg.get_default_dtype() == mg.float64
    made = {"tensor": mg.tensor([1.0, 2.5]), "python float": mg.tensor(0.1),
            "zeros": mg.zeros(2, 3), "ones": mg.ones(3), "randn": mg.randn(4),
            "rand": mg.rand(2), "full": mg.full((2,), 0.5)}
    for name, t in made.items():
        assert t.dtype == np.float64, name
    assert mg.tensor(0.1).item() == 0.1                 # not rounded through float32
    x = mg.randn(3, 4, requires_grad=True)
    loss = (x.exp() * 1e-3 + x @ mg.randn(4, 2).sum(1, True)).mean()
    loss.backward()
    assert loss.dtype == x.grad.dtype == np.float64
    # integers and explicit dtypes are not affected
    assert mg.tensor([1, 2]).dtype == np.int64 and mg.zeros(2, dtype=mg.float32).dtype == np.float32


def test_float64_default_matches_torch_with_float64_default():
    torch = require_torch()
    mg.set_default_dtype(mg.float64)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        assert str(torch.tensor([1.5]).dtype) == "torch." + str(mg.tensor([1.5]).dtype)
    finally:
        torch.set_default_dtype(previous)


def test_set_default_dtype_refuses_non_float_dtypes():
    with pytest.raises(mg.DTypeError, match="floating point"):
        mg.set_default_dtype(mg.int64)
    assert mg.get_default_dtype() == mg.float32


# ------------------------------------------------------------------ conversions, is_leaf
@pytest.mark.parametrize("method, dtype", [("float", "float32"), ("double", "float64"),
                                           ("half", "float16"), ("int", "int32"),
                                           ("bool", "bool")])
def test_dtype_conversion_methods_match_torch(method, dtype):
    torch = require_torch()
    values = np.array([[1.75, -2.5, 0.0], [3.0, -0.25, 7.5]], np.float32)
    mine = getattr(mg.tensor(values), method)()
    theirs = getattr(torch.tensor(values), method)()
    assert mine.dtype == np.dtype(dtype) and str(theirs.dtype) == "torch." + dtype
    np.testing.assert_array_equal(mine.numpy(), theirs.numpy())      # int() truncates to 0


def test_float_conversion_carries_the_gradient_back_in_the_input_dtype():
    x = mg.tensor([1.0, -2.0], dtype=mg.float64, requires_grad=True)
    y = x.float()
    assert y.dtype == np.float32 and y.requires_grad and not y.is_leaf
    (y * mg.tensor([3.0, 4.0])).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])


def test_is_leaf_as_in_torch():
    a = mg.randn(2, requires_grad=True)
    b = mg.randn(2)
    assert a.is_leaf and b.is_leaf                       # made by the user
    assert not (a * 2).is_leaf and (b * 2).is_leaf       # computed: a leaf only without grad
    assert a.detach().is_leaf
    with mg.no_grad():
        assert (a * 2).is_leaf


# ------------------------------------------------------------------ from_numpy, contiguous
def test_from_numpy_shares_memory_both_ways_and_keeps_the_dtype():
    for dtype in (np.float32, np.float64, np.int64, np.bool_):
        a = np.zeros((2, 3), dtype)
        t = mg.from_numpy(a)
        assert t.dtype == dtype and t.shape == (2, 3)
        a[0, 1] = 1
        assert t.numpy()[0, 1] == 1                      # a change of the array shows...
        t.data[1, 2] = 1
        assert a[1, 2] == 1                              # ...and so does one of the tensor


def test_contiguous_keeps_values_shape_and_gradient():
    x = mg.randn(3, 4, requires_grad=True)
    t = x.transpose(0, 1)
    c = t.contiguous()
    assert c.shape == (4, 3)
    np.testing.assert_array_equal(c.numpy(), x.numpy().T)
    (c * mg.arange(12).reshape(4, 3)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.arange(12).reshape(4, 3).T)


# ------------------------------------------------------------------ cat, clamp
def test_cat_matches_torch_in_values_dtype_and_gradient():
    torch = require_torch()
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = -np.arange(9, dtype=np.float32).reshape(3, 3)
    for dim, (x, y) in ((0, (a, b)), (1, (a, b[:2])), (-1, (a, b[:2]))):
        mx, my = mg.tensor(x, requires_grad=True), mg.tensor(y, requires_grad=True)
        tx, ty = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
        mine, theirs = mg.cat([mx, my], dim), torch.cat([tx, ty], dim)
        np.testing.assert_array_equal(mine.numpy(), theirs.detach().numpy())
        w = np.random.default_rng(dim + 5).normal(size=mine.shape).astype(np.float32)
        (mine * mg.tensor(w)).sum().backward()
        (theirs * torch.tensor(w)).sum().backward()
        np.testing.assert_array_equal(mx.grad.numpy(), tx.grad.numpy())
        np.testing.assert_array_equal(my.grad.numpy(), ty.grad.numpy())


def test_cat_of_mismatched_shapes_is_a_minigrad_error():
    with pytest.raises(mg.MinigradError, match=r"\(2, 3\)|\(3, 2\)"):
        mg.cat([mg.zeros(2, 3), mg.zeros(3, 2)], 1)


@pytest.mark.parametrize("low, high", [(-1.0, 1.0), (None, 0.5), (-0.5, None), (0.3, 0.3)])
def test_clamp_matches_torch_in_values_and_gradient(low, high):
    torch = require_torch()
    x = np.array([-2.0, -1.0, -0.5, 0.0, 0.3, 0.5, 1.0, 2.5], np.float32)
    mx, tx = mg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    mine, theirs = mg.clamp(mx, min=low, max=high), torch.clamp(tx, min=low, max=high)
    np.testing.assert_array_equal(mine.numpy(), theirs.detach().numpy())
    np.testing.assert_array_equal(mx.clamp(min=low, max=high).numpy(), mine.numpy())
    w = np.linspace(-1, 1, x.size).astype(np.float32)
    (mine * mg.tensor(w)).sum().backward()
    (theirs * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(mx.grad.numpy(), tx.grad.numpy())

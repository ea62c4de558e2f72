"""Bad input fails loudly: each message names the op and what it got (shapes, dtypes,
devices), so the user can find the mistake without a debugger."""
import importlib.util
import types

import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd.engine import _check_same_device
from minigrad.errors import (AutogradError, DeviceError, DTypeError, IndexOutOfRangeError,
                             MinigradError, ShapeError)


def raises(fn, error, *fragments):
    """Run `fn`, expect `error`, and check every fragment appears in its message."""
    with pytest.raises(error) as info:
        fn()
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# ------------------------------------------------------------------ the cases of the issue
def test_matmul_shape_mismatch_names_both_shapes():
    raises(lambda: mg.randn(2, 3, 4) @ mg.randn(5, 6), ShapeError,
           "matmul", "(2, 3, 4)", "(5, 6)", "4 != 5")


def test_broadcast_failure_names_op_and_shapes():
    raises(lambda: mg.randn(2, 3) + mg.randn(4), ShapeError, "add", "(2, 3)", "(4,)")
    raises(lambda: mg.maximum(mg.randn(2, 3), mg.randn(2)), ShapeError, "maximum", "(2, 3)", "(2,)")
    raises(lambda: mg.randn(2, 3).broadcast_to((4, 3, 3)), ShapeError,
           "broadcast_to", "(2, 3)", "(4, 3, 3)")


@pytest.mark.parametrize("call, op", [
    (lambda x: x.sum(axis=3), "sum"),
    (lambda x: x.mean(axis=(0, -3)), "mean"),
    (lambda x: x.max(axis=2), "max"),
    (lambda x: mg.softmax(x, axis=-3), "softmax"),
    (lambda x: x.unsqueeze(4), "unsqueeze"),
    (lambda x: x.swapaxes(0, 2), "swapaxes"),
    (lambda x: mg.concat([x, x], axis=2), "concat"),
])
def test_bad_axis_names_op_axis_and_rank(call, op):
    raises(lambda: call(mg.randn(2, 3)), ShapeError, op, "out of range", "2 dimensions")


def test_repeated_axis_is_rejected():
    raises(lambda: mg.randn(2, 3).sum(axis=(1, -1)), ShapeError, "sum", "repeats")


@pytest.mark.parametrize("make", [
    lambda: mg.tensor([1, 2, 3], requires_grad=True),
    lambda: mg.zeros(3, dtype=mg.int64, requires_grad=True),
    lambda: mg.tensor([True, False]).requires_grad_(),
])
def test_integer_or_bool_tensor_cannot_require_grad(make):
    raises(make, DTypeError, "requires_grad", "floating point", "got dtype")


def test_requires_grad_message_names_the_dtype():
    raises(lambda: mg.tensor([1, 2], dtype=mg.int32, requires_grad=True), DTypeError, "int32")


def test_backward_of_non_scalar_needs_a_gradient():
    y = mg.randn(2, 3, requires_grad=True) * 2
    raises(lambda: y.backward(), AutogradError, "backward", "scalar", "(2, 3)")
    raises(lambda: mg.grad(y, []), AutogradError, "grad", "(2, 3)")


def test_backward_with_a_gradient_of_the_wrong_shape():
    y = mg.randn(2, 3, requires_grad=True) * 2
    raises(lambda: y.backward(mg.ones(3, 2)), ShapeError, "backward", "(3, 2)", "(2, 3)")


@pytest.mark.parametrize("fused_op", [
    lambda x: mg.log_softmax(x, -1),
    lambda x: mg.layer_norm(x, 3),
    lambda x: mg.gelu(x),
    lambda x: mg.scaled_dot_product_attention(x, x, x),
], ids=["log_softmax", "layer_norm", "gelu", "attention"])
def test_double_backward_through_once_differentiable_op_raises(fused_op):
    x = mg.randn(2, 3, dtype=mg.float64, requires_grad=True)
    w = mg.randn(2, 3, dtype=mg.float64)
    (g,) = mg.grad((fused_op(x) * w).sum(), [x], create_graph=True)
    name = fused_op(x)._ctx.name
    raises(lambda: mg.grad((g * g).sum(), x), AutogradError, name, "once-differentiable",
           "use_fused(False)")


def test_second_backward_without_retain_graph_explains_itself():
    x = mg.randn(3, requires_grad=True)
    loss = (x.tanh() * 2).sum()
    loss.backward()
    raises(lambda: loss.backward(), AutogradError, "already freed", "retain_graph=True")


# ------------------------------------------------------------------ devices
class _FakeGpuArray:
    """Stands in for a CuPy array on cuda:0 (CuPy is not needed for this check): all
    `_check_same_device` and the error message look at are its type and its device."""
    device = types.SimpleNamespace(id=0)
    dtype = np.dtype(np.float32)
    shape = (2,)
    ndim = 1


def _on_fake_gpu(t):
    t.array = _FakeGpuArray()
    return t


def test_mixing_devices_names_both_devices():
    a, b = mg.randn(2), _on_fake_gpu(mg.randn(2))
    assert b.device == "cuda:0"
    raises(lambda: _check_same_device("add", (a, b)), DeviceError, "add", "cpu", "cuda:0")
    # through a real op: the check runs before the op touches the (fake) array
    raises(lambda: a + b, DeviceError, "add", "different devices", "cpu", "cuda:0")
    raises(lambda: mg.where(a > 0, a, b), DeviceError, "where", "cpu", "cuda:0")


def test_same_device_check_passes_for_cpu_tensors():
    _check_same_device("add", (mg.randn(2), mg.randn(2), mg.randn(2)))


@pytest.mark.skipif(importlib.util.find_spec("cupy") is not None,
                    reason="CuPy is installed: the missing-CuPy message cannot be shown")
@pytest.mark.parametrize("make", [
    lambda: mg.zeros(2, device="cuda"),
    lambda: mg.randn(2).to("cuda"),
    lambda: mg.randn(2, device="cuda:1"),
    lambda: mg.tensor([1.0], device="cuda"),
])
def test_cuda_without_cupy_says_how_to_install_it(make):
    raises(make, DeviceError, "cuda", "CuPy", "pip install")


def test_unknown_device_lists_the_valid_ones():
    raises(lambda: mg.zeros(2, device="tpu"), DeviceError, "'tpu'", "'cpu'", "'cuda'")


# ------------------------------------------------------------------ more shapes, dtypes and indices
CASES = [
    (lambda: mg.randn(2, 3).reshape(4, 2), ShapeError, ["reshape", "(2, 3)", "(4, 2)"]),
    (lambda: mg.randn(2, 3).permute(0, 0), ShapeError, ["permute"]),
    (lambda: mg.randn(2, 3).expand(2), ShapeError, ["expand", "(2,)", "(2, 3)"]),
    (lambda: mg.concat([mg.randn(2, 3), mg.randn(3, 2)]), ShapeError, ["concat", "(2, 3)", "(3, 2)"]),
    (lambda: mg.stack([mg.randn(2, 3), mg.randn(3, 2)]), ShapeError, ["stack", "(2, 3)", "(3, 2)"]),
    (lambda: mg.randn(2, 3).split([1, 3], 1), ShapeError, ["split", "[1, 3]", "3"]),
    (lambda: mg.randn(2, 3)[5], IndexOutOfRangeError, ["getitem", "5", "size 2", "(2, 3)"]),
    (lambda: mg.randn(2, 3)[:, np.array([0, 3])], IndexOutOfRangeError, ["getitem", "3", "axis 1"]),
    (lambda: mg.randn(2, 3)[0, 0, 0], IndexOutOfRangeError, ["getitem", "too many", "(2, 3)"]),
    (lambda: mg.masked_fill(mg.randn(2, 3), mg.tensor([1, 0, 1]), 0.0), DTypeError,
     ["masked_fill", "bool", "int64"]),
    (lambda: mg.masked_fill(mg.randn(2, 3), np.ones((4, 3), bool), 0.0), ShapeError,
     ["masked_fill", "(4, 3)", "(2, 3)"]),
    (lambda: mg.where(mg.tensor([1, 0, 1]), mg.randn(3), mg.randn(3)), DTypeError,
     ["where", "bool", "int64"]),
    (lambda: mg.layer_norm(mg.randn(2, 3), 4), ShapeError, ["layer_norm", "(2, 3)", "(4,)"]),
    (lambda: mg.layer_norm(mg.randn(2, 3), 3, mg.ones(2)), ShapeError, ["layer_norm", "weight", "(2,)"]),
    (lambda: mg.softmax(mg.tensor([1, 2])), DTypeError, ["softmax", "int64"]),
    (lambda: mg.cross_entropy(mg.randn(2, 3), mg.tensor([0, 3])), IndexOutOfRangeError,
     ["cross_entropy", "3", "3 classes"]),
    (lambda: mg.cross_entropy(mg.randn(2, 3), mg.tensor([0, 1, 2])), ShapeError,
     ["cross_entropy", "(2, 3)", "(2,)", "(3,)"]),
    (lambda: mg.cross_entropy(mg.randn(2, 3), mg.tensor([0.0, 1.0])), DTypeError,
     ["cross_entropy", "float"]),
    (lambda: mg.cross_entropy(mg.randn(2, 3), mg.tensor([0, 1]), reduction="avg"), MinigradError,
     ["cross_entropy", "'avg'"]),
    (lambda: mg.embedding(mg.tensor([0, 7]), mg.randn(5, 2)), IndexOutOfRangeError,
     ["embedding", "7", "5", "(5, 2)"]),
    (lambda: mg.embedding(mg.tensor([0.0]), mg.randn(5, 2)), DTypeError, ["embedding", "float"]),
    (lambda: mg.scaled_dot_product_attention(mg.randn(2, 3, 4), mg.randn(2, 5, 3), mg.randn(2, 5, 3)),
     ShapeError, ["scaled_dot_product_attention", "(2, 3, 4)", "(2, 5, 3)"]),
    (lambda: mg.scaled_dot_product_attention(mg.randn(3, 4), mg.randn(5, 4), mg.randn(5, 4),
                                             attn_mask=np.ones((2, 5), bool)),
     ShapeError, ["scaled_dot_product_attention", "attn_mask", "(2, 5)", "(3, 5)"]),
    (lambda: mg.scaled_dot_product_attention(mg.randn(3, 4), mg.randn(5, 4), mg.randn(5, 4),
                                             attn_mask=np.ones((3, 5), np.int64)),
     DTypeError, ["scaled_dot_product_attention", "int64"]),
    (lambda: mg.scaled_dot_product_attention(mg.randn(3, 4), mg.randn(5, 4, dtype=mg.float64),
                                             mg.randn(5, 4)),
     DTypeError, ["scaled_dot_product_attention", "float32", "float64"]),
    (lambda: mg.dropout(mg.randn(3), 1.5), MinigradError, ["dropout", "1.5"]),
    (lambda: mg.gelu(mg.randn(3), approximate="fast"), MinigradError, ["gelu", "'fast'"]),
    (lambda: mg.gradcheck(lambda x: x * 2, [mg.randn(3, requires_grad=True)]), MinigradError,
     ["gradcheck", "float64", "float32"]),
    (lambda: mg.randn(2, 3).item(), MinigradError, ["item", "(2, 3)"]),
    (lambda: mg.set_default_dtype(mg.int64), DTypeError, ["set_default_dtype", "int64"]),
]


@pytest.mark.parametrize("call, error, fragments", CASES,
                         ids=[f"{c[2][0]}-{c[1].__name__}-{i}" for i, c in enumerate(CASES)])
def test_message_names_op_and_input(call, error, fragments):
    raises(call, error, *fragments)


def test_errors_are_also_builtin_exceptions():
    """A user catching ValueError / TypeError / IndexError catches minigrad's too."""
    with pytest.raises(ValueError):
        mg.randn(2, 3) @ mg.randn(2, 3)
    with pytest.raises(TypeError):
        mg.tensor([1]).requires_grad_()
    with pytest.raises(IndexError):
        mg.randn(2)[3]


def test_unused_input_of_grad_is_reported():
    x, unused = mg.randn(3, requires_grad=True), mg.randn(3, requires_grad=True)
    raises(lambda: mg.grad((x * 2).sum(), [x, unused]), AutogradError,
           "grad", "(3,)", "not used", "allow_unused=True")
    assert mg.grad((x * 2).sum(), [x, unused], allow_unused=True)[1] is None

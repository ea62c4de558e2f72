"""minigrad.gradcheck is the ground truth of the op tests, so it must catch a wrong
backward, not only bless right ones."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import Function
from minigrad.errors import MinigradError


class _WrongSquare(Function):
    """x**2 with a backward that forgets the factor 2."""
    name = "wrong_square"

    def forward(self, a):
        return a * a

    def backward(self, grad):
        return grad * self.inputs[0]


class _SlightlyWrongTanh(Function):
    """tanh whose gradient is off by 1e-3 in one element only."""
    name = "slightly_wrong_tanh"

    def forward(self, a):
        self.out = np.tanh(a)
        return self.out

    def backward(self, grad):
        local = 1 - self.out ** 2
        local.reshape(-1)[-1] += 1e-3
        return grad * mg.tensor(local)


def _x(*shape):
    return mg.randn(*shape, dtype=mg.float64, requires_grad=True)


def test_catches_a_wrong_gradient():
    with pytest.raises(MinigradError, match="gradient mismatch"):
        mg.gradcheck(lambda x: _WrongSquare.apply(x), [_x(3, 2)])


def test_catches_an_error_in_a_single_element():
    with pytest.raises(MinigradError, match=r"at \(1, 2\)"):
        mg.gradcheck(lambda x: _SlightlyWrongTanh.apply(x), [_x(2, 3)])


def test_returns_false_instead_of_raising_when_asked():
    assert mg.gradcheck(lambda x: _WrongSquare.apply(x), [_x(3)], raise_exception=False) is False
    assert mg.gradcheck(lambda x: x * x, [_x(3)]) is True


def test_checks_every_input_and_tuple_outputs():
    a, b = _x(2, 3), _x(3)
    assert mg.gradcheck(lambda a, b: (a * b, (a + b).tanh()), [a, b])
    with pytest.raises(MinigradError, match=r"shape \(3,\)"):
        mg.gradcheck(lambda a, b: (a * b, _WrongSquare.apply(b)), [a, b])


def test_non_contiguous_input_and_constants():
    base = _x(4, 6)
    view = mg.from_numpy(base.numpy()[:, ::2].T).requires_grad_()  # a strided view
    assert not view.array.flags.c_contiguous
    const = mg.randn(3, 4, dtype=mg.float64)                       # no grad: not perturbed
    assert mg.gradcheck(lambda v, c: (v * c).exp(), [view, const])


def test_inputs_are_restored_after_the_check():
    x = _x(3, 2)
    before = x.numpy().copy()
    mg.gradcheck(lambda x: x.tanh(), [x])
    np.testing.assert_array_equal(x.numpy(), before)

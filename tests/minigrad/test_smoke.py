import numpy as np

import minigrad as mg


def test_tanh_square_gradient():
    x = mg.randn(3, 4, requires_grad=True)
    (x.tanh() ** 2).sum().backward()
    t = np.tanh(x.numpy())
    np.testing.assert_allclose(x.grad.numpy(), 2 * t * (1 - t * t), rtol=1e-5, atol=1e-6)
    assert x.grad.dtype == mg.float32


def test_leaf_gradients_own_their_memory():
    """add passes one gradient to both inputs; in-place clipping of one must not touch the other."""
    a = mg.randn(3, requires_grad=True)
    b = mg.randn(3, requires_grad=True)
    (a + b).sum().backward()
    assert not np.shares_memory(a.grad.array, b.grad.array)
    a.grad.array *= 0.5
    np.testing.assert_array_equal(b.grad.numpy(), np.ones(3, dtype=np.float32))
    assert a.grad.array.flags.writeable and b.grad.array.flags.writeable


def test_set_num_threads_round_trip():
    before = mg.get_num_threads()
    if before is None:            # NumPy's BLAS is not a bundled OpenBLAS: nothing to set
        assert mg.set_num_threads(1) is None
        return
    assert mg.set_num_threads(2) == before
    assert mg.get_num_threads() == 2
    mg.set_num_threads(before)
    assert mg.get_num_threads() == before

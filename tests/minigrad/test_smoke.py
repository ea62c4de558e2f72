import numpy as np

import minigrad as mg


def test_tanh_square_gradient():
    x = mg.randn(3, 4, requires_grad=True)
    (x.tanh() ** 2).sum().backward()
    t = np.tanh(x.numpy())
    np.testing.assert_allclose(x.grad.numpy(), 2 * t * (1 - t * t), rtol=1e-5, atol=1e-6)
    assert x.grad.dtype == mg.float32

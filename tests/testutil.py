"""Helpers shared by the test suite (importable as `testutil`: tests/ is on pythonpath)."""
import numpy as np
import pytest

import minigrad as mg


def require_torch():
    """Import torch or skip the test cleanly (CI installs it)."""
    return pytest.importorskip("torch")


def to_torch(t, requires_grad=None):
    torch = require_torch()
    x = torch.tensor(np.array(t.numpy() if isinstance(t, mg.Tensor) else t))
    if requires_grad if requires_grad is not None else (isinstance(t, mg.Tensor) and t.requires_grad):
        x.requires_grad_(True)
    return x


def assert_close(actual, expected, rtol=None, atol=None, dtype=None):
    """Compare a minigrad tensor / array with a torch tensor / array, tolerance by dtype."""
    a = actual.numpy() if isinstance(actual, mg.Tensor) else np.asarray(actual)
    e = expected.detach().numpy() if hasattr(expected, "detach") else np.asarray(expected)
    dtype = dtype or a.dtype
    if rtol is None:
        rtol = 1e-10 if dtype == np.float64 else 1e-5
    if atol is None:
        atol = 1e-10 if dtype == np.float64 else 1e-5
    assert a.shape == e.shape, f"shape {a.shape} != {e.shape}"
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol)

"""Helpers shared by the test suite (importable as `testutil`: tests/ is on pythonpath)."""
import importlib
import os
import shutil

import numpy as np
import pytest

import minigrad as mg

# What CI installs so that no check is skipped there: the oracles and Graphviz's `dot`.
ORACLES = ("torch", "transformers", "graphviz")


def in_ci():
    """True when the CI environment variable is set (GitHub Actions, GitLab, ... set it)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing(reason):
    """Skip the test for want of a tool, or, in CI (which installs every tool), fail it:
    a skipped oracle there would hide every check that needs it."""
    if in_ci():
        pytest.fail(f"CI: {reason}; CI installs it, so the tests that need it must run "
                    "(unset CI to let them skip)", pytrace=False)
    pytest.skip(reason)


# Hypothesis draws the same cases on every run (so CI is repeatable and a failure can be
# rerun as it was); MINIGRAD_HYPOTHESIS_RANDOM=1 draws fresh cases, for a search for bugs:
#   MINIGRAD_HYPOTHESIS_RANDOM=1 MINIGRAD_EXAMPLES=200 python -m pytest tests/minigrad/test_ops.py
# (the fuzz suite's own switch is MINIGRAD_FUZZ_RANDOM, see tests/reliability/fuzzlib.py).
FRESH_CASES = os.environ.get("MINIGRAD_HYPOTHESIS_RANDOM", "").strip().lower() not in (
    "", "0", "false", "no")


def require(module, install=None):
    """Import `module` (an oracle such as torch or transformers), or `missing`."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        missing(f"{module} cannot be imported ({e}): pip install {install or module}")


def require_torch():
    """Import torch: skipped without it locally, a failure in CI (which installs it)."""
    return require("torch")


def require_transformers():
    """Import transformers (Hugging Face): skipped without it locally, a failure in CI."""
    return require("transformers")


def require_dot():
    """Graphviz's `dot` program: skipped without it locally, a failure in CI."""
    if shutil.which("dot") is None:
        missing("Graphviz's `dot` program is not installed (apt-get install graphviz)")


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

"""Finite-difference gradient checks: the ground truth every backward is tested against."""
import numpy as np

from .engine import grad as autograd_grad
from ..errors import MinigradError
from ..tensor import Tensor


def _project(outputs, weights):
    total = None
    for o, w in zip(outputs, weights):
        term = (o * Tensor(w, device=o.device)).sum()
        total = term if total is None else total + term
    return total


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0, raise_exception=True):
    """Compare autograd's gradient of `fn` with central differences, in float64.

    `fn(*inputs)` returns a Tensor or a tuple of Tensors. The outputs are reduced
    to one scalar with fixed random weights, so one backward pass checks the
    whole vector-Jacobian product; every float input requiring grad is checked
    element by element. Returns True, or raises (or returns False) on a mismatch.
    """
    inputs = list(inputs)
    for t in inputs:
        if isinstance(t, Tensor) and t.requires_grad and t.dtype != np.float64:
            raise MinigradError(f"gradcheck: inputs must be float64, got {t.dtype} "
                                f"(shape {tuple(t.shape)})")
    rng = np.random.default_rng(seed)

    def outputs():
        out = fn(*inputs)
        return list(out) if isinstance(out, (tuple, list)) else [out]

    first = outputs()
    weights = [rng.standard_normal(o.shape) for o in first]
    wanted = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    analytic = autograd_grad(_project(first, weights), wanted, allow_unused=True)
    for t, g in zip(wanted, analytic):
        g = np.zeros(t.shape) if g is None else g.numpy()
        numeric = np.zeros(t.shape)
        for idx in np.ndindex(*t.shape):      # works on non-contiguous inputs too
            orig = t.array[idx]
            t.array[idx] = orig + eps
            plus = _project(outputs(), weights).item()
            t.array[idx] = orig - eps
            minus = _project(outputs(), weights).item()
            t.array[idx] = orig
            numeric[idx] = (plus - minus) / (2 * eps)
        if not np.allclose(g, numeric, atol=atol, rtol=rtol, equal_nan=False):
            worst = tuple(int(i) for i in np.unravel_index(np.argmax(np.abs(g - numeric)), t.shape)) \
                if t.numel() else ()
            msg = (f"gradcheck: gradient mismatch for input of shape {tuple(t.shape)} at {worst}: "
                   f"analytic {g[worst] if t.numel() else g}, numeric {numeric[worst] if t.numel() else numeric}")
            if raise_exception:
                raise MinigradError(msg)
            return False
    return True

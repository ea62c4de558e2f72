"""Every entry of the op tables (tests/minigrad/test_ops.py, test_ops_torch_extra.py,
test_ops_torch_aliases.py) on "cuda" gives the CPU's numbers: outputs, output dtypes
and the gradient of every input, for drawn shapes, broadcasting and layouts, in
float32 and float64.

The CPU side is the reference: it is itself checked against PyTorch and by finite
differences in those files. Ops that draw random numbers (dropout) cannot match the
CPU's stream, so there only shapes and dtypes are compared.

Runs only where CuPy sees an NVIDIA GPU (benchmarks/gpu_check.sh runs it there);
elsewhere each test is skipped with the reason.
"""
import importlib.util
import os
import pathlib
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minigrad as mg
from opspecs import outputs

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not mg.cuda_is_available(), reason="needs CuPy and an NVIDIA GPU")]

HERE = pathlib.Path(__file__).resolve().parent


def _table(filename):
    """The SPECS list and lay_out of one op-table test file (loaded by path: with
    --import-mode=importlib the test files are not importable by name)."""
    name = f"_cuda_table_{pathlib.Path(filename).stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, HERE.parent / "minigrad" / filename)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


TABLES = [_table(f) for f in ("test_ops.py", "test_ops_torch_extra.py", "test_ops_torch_aliases.py")]
SPECS = [(table.__name__.removeprefix("_cuda_table_"), spec) for table in TABLES for spec in table.SPECS]
RANDOM = ("dropout",)        # ops whose values come from the device's random stream
EXAMPLES = int(os.environ.get("MINIGRAD_CUDA_EXAMPLES", "6"))
TOL = {np.float32: 2e-5, np.float64: 1e-10}


def _layout(data, values, dtype):
    """Each input contiguous or transposed (a non-contiguous view on the device too)."""
    out = []
    for v in values:
        v = np.asarray(v, dtype=dtype)
        transposed = v.ndim > 1 and data.draw(st.booleans(), label="transposed")
        out.append(np.asfortranarray(v) if transposed else v.copy())
    return out


def _run(spec, arrays, params, device):
    xs = [mg.tensor(a, device=device, requires_grad=True) for a in arrays]
    outs = outputs(spec.mg(*xs, **params))
    r = np.random.default_rng(0)
    weights = [mg.tensor(r.standard_normal(o.shape).astype(o.dtype), device=device)
               for o in outs]
    floats = [(o, w) for o, w in zip(outs, weights) if o.dtype.kind == "f" and o.requires_grad]
    grads = [None] * len(xs)
    if floats:
        grads = mg.grad([o for o, _ in floats], xs, grad_outputs=[w for _, w in floats],
                        allow_unused=True)
    return outs, grads


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("table,spec", SPECS, ids=[f"{t}:{s!r}" for t, s in SPECS])
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_op_on_cuda_matches_cpu(table, spec, dtype, data):
    case = spec.draw(data)
    arrays = _layout(data, case.values, dtype)
    cpu_outs, cpu_grads = _run(spec, arrays, case.params, "cpu")
    gpu_outs, gpu_grads = _run(spec, arrays, case.params, "cuda")
    random = any(word in spec.name for word in RANDOM)
    assert len(gpu_outs) == len(cpu_outs)
    for i, (g, c) in enumerate(zip(gpu_outs, cpu_outs)):
        assert g.device.startswith("cuda"), f"output {i} is on {g.device}"
        assert g.dtype == c.dtype and g.shape == c.shape, (i, g.dtype, c.dtype, g.shape, c.shape)
        if not random:
            _assert_close(g.numpy(), c.numpy(), dtype, f"output {i}")
    for i, (g, c) in enumerate(zip(gpu_grads, cpu_grads)):
        assert (g is None) == (c is None), f"gradient {i}: cuda {g}, cpu {c}"
        if g is None:
            continue
        assert g.device.startswith("cuda") and g.dtype == c.dtype and g.shape == c.shape
        if not random:
            _assert_close(g.numpy(), c.numpy(), dtype, f"gradient of input {i}")


def _assert_close(actual, expected, dtype, what):
    if actual.dtype.kind != "f":
        np.testing.assert_array_equal(actual, expected, err_msg=what)
        return
    tol = TOL[dtype]
    finite = np.abs(expected[np.isfinite(expected)])
    scale = max(1.0, float(finite.max(initial=0)))
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale, err_msg=what)

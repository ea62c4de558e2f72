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

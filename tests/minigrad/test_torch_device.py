"""torch.device: a device name usable wherever minigrad takes a device, equal to tensor.device,
with torch's .type / .index and repr."""
import pytest

import minigrad as mg
from testutil import require_torch


def test_device_goes_where_a_device_string_goes():
    cpu = mg.device("cpu")
    assert cpu == "cpu" and cpu.type == "cpu" and cpu.index is None
    assert mg.zeros(2, device=cpu).device == cpu
    assert mg.device(cpu) == cpu
    assert mg.device("cuda", 1) == "cuda:1" and mg.device("cuda:1").index == 1
    with pytest.raises(mg.DeviceError, match="unknown device"):
        mg.device("tpu")


@pytest.mark.torch
@pytest.mark.parametrize("args", [("cpu",), ("cuda",), ("cuda:0",), ("cuda", 2)])
def test_type_index_and_repr_match_torch(args):
    torch = require_torch()
    ours, theirs = mg.device(*args), torch.device(*args)
    assert (ours.type, ours.index, repr(ours)) == (theirs.type, theirs.index, repr(theirs))


def test_torch_cuda_and_backends_answer_the_device_checks_programs_make():
    """`device = "cuda" if torch.cuda.is_available() else "cpu"` and nanoGPT's switches."""
    assert mg.cuda.is_available() == mg.cuda_is_available()
    device = "cuda" if mg.cuda.is_available() else "cpu"
    assert mg.zeros(1, device=device).device == mg.device(device)
    mg.cuda.manual_seed(0), mg.cuda.manual_seed_all(0)
    mg.backends.cuda.matmul.allow_tf32 = True
    mg.backends.cudnn.allow_tf32 = True
    assert mg.backends.mps.is_available() is False
    if not mg.cuda.is_available():
        assert mg.cuda.device_count() == 0
        with pytest.raises(mg.DeviceError, match="no CUDA device"):
            mg.cuda.synchronize()


def test_cpu_draws_are_unchanged_by_cuda_manual_seed_without_a_gpu():
    if mg.cuda.is_available():
        pytest.skip("with a GPU, minigrad's single seed restarts every generator")
    mg.manual_seed(3)
    a = mg.rand(1).tolist() + mg.rand(2).tolist()
    mg.manual_seed(3)
    b = mg.rand(1).tolist()
    mg.cuda.manual_seed(99)                      # must not restart the CPU stream
    assert b + mg.rand(2).tolist() == a

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

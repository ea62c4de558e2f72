"""`minigrad.Generator`: a random generator of one's own, as torch.Generator.

The draws of `rand`, `randn`, `randperm`, `multinomial`, `normal`, `uniform_`, ... come
from the device's generator (minigrad/backend.py, seeded by `minigrad.manual_seed`)
unless a `generator=` is given. A Generator is a `numpy.random.Generator` (SFC64, like
the device generators), so it also works wherever minigrad takes a NumPy generator
(DataLoader, samplers, random_split). It draws on the CPU: a tensor made on a GPU with
it is drawn on the host and copied over.
"""
import numpy as np

from .backend import generator as device_generator
from .backend import parse_device
from .errors import DeviceError, MinigradError


class Generator(np.random.Generator):
    """torch.Generator(device="cpu"): `manual_seed(n)` (returns the generator),
    `seed()`, `initial_seed()`, `get_state()` / `set_state(state)`."""

    def __init__(self, device="cpu"):
        if parse_device(device) != "cpu":
            raise DeviceError(f"Generator: only device 'cpu' is supported, got {device!r} "
                              "(draws for GPU tensors come from minigrad.manual_seed's "
                              "generators)")
        self._initial_seed = int(np.random.SeedSequence().entropy % 2**63)
        super().__init__(np.random.SFC64(self._initial_seed))
        self.device = "cpu"

    def manual_seed(self, seed):
        """Restart from `seed` (an int); returns self, as torch's."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise MinigradError(f"Generator.manual_seed: expected an int seed, got {seed!r}")
        self._initial_seed = int(seed)
        self.bit_generator.state = np.random.SFC64(self._initial_seed).state
        return self

    def seed(self):
        """Reseed from the operating system's entropy; returns the new seed."""
        self.manual_seed(int(np.random.SeedSequence().entropy % 2**63))
        return self._initial_seed

    def initial_seed(self):
        return self._initial_seed

    def get_state(self):
        """The state as a dict (torch: a uint8 tensor); `set_state` takes it back."""
        return self.bit_generator.state

    def set_state(self, state):
        self.bit_generator.state = state
        return self


def source(generator, device, op):
    """The generator to draw from, and whether its draws must be copied to `device`:
    the device's own generator when `generator` is None."""
    if generator is None:
        return device_generator(device), False
    if not isinstance(generator, np.random.Generator):
        raise MinigradError(f"{op}: generator must be a minigrad.Generator (or a "
                            f"numpy.random.Generator), got {type(generator).__name__}")
    return generator, parse_device(device) != "cpu"

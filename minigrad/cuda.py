"""`torch.cuda`, the part everyday programs touch: picking the device and seeding.

    device = "cuda" if minigrad.cuda.is_available() else "cpu"

is_available / device_count / current_device / manual_seed / manual_seed_all / synchronize,
as torch.cuda's. Without a GPU, manual_seed is a no-op (as torch's) and the device queries
say there is none.
"""
from .backend import cuda_is_available, cupy_module
from .backend import manual_seed as _manual_seed
from .errors import DeviceError


def is_available():
    """True when CuPy imports and sees at least one GPU."""
    return cuda_is_available()


def device_count():
    """How many GPUs CuPy sees (0 without CUDA)."""
    return cupy_module().cuda.runtime.getDeviceCount() if is_available() else 0


def current_device():
    """The index of the current GPU. Raises DeviceError without CUDA (as torch)."""
    _require("current_device")
    return cupy_module().cuda.Device().id


def manual_seed(seed):
    """Seed the GPU generators. minigrad seeds every device from one seed, so with a GPU this
    is minigrad.manual_seed (the CPU generator restarts too); without one, nothing (as torch)."""
    if is_available():
        _manual_seed(seed)


manual_seed_all = manual_seed


def synchronize(device=None):
    """Wait for the GPU's queued work. Raises DeviceError without CUDA (as torch)."""
    _require("synchronize")
    cupy_module().cuda.Device().synchronize()


def _require(what):
    if not is_available():
        raise DeviceError(f"cuda.{what}: no CUDA device is available (CuPy sees no GPU)")

"""Devices, array modules and random generators: every NumPy/CuPy difference.

A tensor holds one array: a `numpy.ndarray` on "cpu", a `cupy.ndarray` on
"cuda:N". Ops never name numpy directly when CuPy must also work: they ask
`xp_of(array)` for the module that owns their inputs, and the few things the two
modules do differently (scatter-add, copying to the host, telling an array from
a scalar) are the functions in the "array helpers" section below. CuPy is
imported lazily, so the CPU path never needs it. A new backend means changing
this module only.
"""
import numpy as np

from .errors import DeviceError, MinigradError

_cupy = None


def cupy_module():
    """Import CuPy on first use; a clear error when it is missing."""
    global _cupy
    if _cupy is None:
        try:
            import cupy  # noqa: F401
        except ImportError as e:  # pragma: no cover - depends on the machine
            raise DeviceError(
                "device 'cuda' needs CuPy, which is not installed: "
                "pip install 'minigrad[gpu]' (or cupy-cuda12x / cupy-cuda11x to match your CUDA)"
            ) from e
        _cupy = cupy
    return _cupy


def cuda_is_available():
    """True when CuPy imports and sees at least one GPU."""
    try:
        cp = cupy_module()
        return cp.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def parse_device(device):
    """Normalise "cpu", "cuda", "cuda:1" (or None) to "cpu" / "cuda:N"."""
    if device is None:
        return "cpu"
    if not isinstance(device, str):
        device = str(device)
    name = device.strip().lower()
    if name == "cpu":
        return "cpu"
    if name == "cuda":
        return "cuda:0"
    if name.startswith("cuda:") and name[5:].isdigit():
        return name
    raise DeviceError(f"unknown device {device!r}: expected 'cpu', 'cuda' or 'cuda:N'")


class device(str):
    """torch.device: a device name that is also the string minigrad uses ("cpu", "cuda:0").

    device("cpu"), device("cuda"), device("cuda", 1), device(another_device). Being a str,
    it goes wherever a device argument does and compares equal to `tensor.device`.
    `.type` is "cpu" or "cuda"; `.index` the CUDA ordinal (None for the CPU and for a bare
    "cuda", as torch). Raises DeviceError for an unknown name.
    """

    def __new__(cls, type, index=None):
        text = str(type) if index is None else f"{type}:{index}"
        name = parse_device(text)                       # raises DeviceError when unknown
        self = super().__new__(cls, text.strip().lower() if text.strip().lower() == "cuda" else name)
        self.type = "cpu" if name == "cpu" else "cuda"
        self.index = None if self.type == "cpu" or str(self) == "cuda" else int(name[5:])
        return self

    def __repr__(self):
        return f"device(type='{self.type}')" if self.index is None else \
            f"device(type='{self.type}', index={self.index})"


def device_of(array):
    """The device string of an array."""
    if isinstance(array, np.ndarray):
        return "cpu"
    dev = getattr(array, "device", None)
    if dev is not None and hasattr(dev, "id"):
        return f"cuda:{dev.id}"
    return "cpu"


def xp_of(array):
    """The array module (numpy or cupy) that owns `array`."""
    if isinstance(array, (np.ndarray, np.generic)):   # NumPy ops on 0-d arrays give scalars
        return np
    return cupy_module()


def is_numpy(xp):
    """True when the array module `xp` is NumPy (the CPU)."""
    return xp is np


# ---------------------------------------------------------------- array helpers
CPU_ARRAY = np.ndarray       # the CPU array type (ops test `type(a) is CPU_ARRAY` as a fast path)


def data_address(array):
    """The memory address of an array's first element (NumPy or CuPy): two arrays that
    start at the same address and have the same shape and strides are the same view."""
    if isinstance(array, np.ndarray):
        return int(array.__array_interface__["data"][0])
    return int(array.data.ptr)


def is_array(data):
    """True for a NumPy or CuPy array (not a scalar, list or Tensor)."""
    return isinstance(data, np.ndarray) or hasattr(data, "__cuda_array_interface__")


def wrap_result(data):
    """An op's result as an array: NumPy gives scalars from 0-d ops, CuPy arrays."""
    return data if hasattr(data, "__cuda_array_interface__") else np.asarray(data)


def to_numpy(array):
    """The array on the host, as NumPy (no copy when it is already there)."""
    return array if isinstance(array, np.ndarray) else array.get()


def int_range(array, ignore=None):
    """(smallest, largest) entry of an integer array as Python ints, entries equal to
    `ignore` left out; None when no entry is left. The range checks of ids and targets
    use it: on a GPU it costs one wait for the device (one transfer of three numbers)
    instead of a boolean selection and two or four reads."""
    if isinstance(array, np.ndarray):
        data = array if ignore is None else array[array != ignore]
        return (int(data.min()), int(data.max())) if data.size else None
    if array.size == 0:
        return None
    xp = xp_of(array)
    if ignore is None:
        lo, hi, count = array.min(), array.max(), xp.ones((), array.dtype)
    else:
        keep = array != ignore
        info = np.iinfo(array.dtype)
        lo = xp.where(keep, array, info.max).min()
        hi = xp.where(keep, array, info.min).max()
        count = keep.any().astype(array.dtype)
    lo, hi, count = (int(v) for v in xp.stack([lo, hi, count]).get())
    return (lo, hi) if count else None


def scatter_add(out, index, values):
    """out[index] += values, adding up repeated indices (np.add.at / cupyx.scatter_add)."""
    if isinstance(out, np.ndarray):
        np.add.at(out, index, values)
    else:  # pragma: no cover - GPU only
        import cupyx
        cupyx.scatter_add(out, index, values)


def xp_for(device):
    """The array module for a device string."""
    return np if parse_device(device) == "cpu" else cupy_module()


def to_device(array, device):
    """Copy `array` to `device` (no copy when it is already there)."""
    device = parse_device(device)
    if device_of(array) == device:
        return array
    if device == "cpu":
        return array.get()
    cp = cupy_module()
    if not cuda_is_available():
        raise DeviceError(f"device {device!r} requested but CuPy sees no GPU")
    with cp.cuda.Device(int(device.split(":")[1])):
        return cp.asarray(array)


# ---------------------------------------------------------------- random numbers
# One generator per device, seeded together by manual_seed. SFC64 is the fastest
# NumPy bit generator, and its raw output makes cheap dropout masks.
_generators = {}
_seed = None


def _new_cpu_generator(seed):
    return np.random.Generator(np.random.SFC64(seed))


def manual_seed(seed):
    """Seed every device's generator: same seed, same run (torch.manual_seed). As torch,
    a seed is an int in [-2**63, 2**64); a negative one counts modulo 2**64 (manual_seed(-1)
    is 2**64 - 1, which initial_seed() then returns). Raises ValueError outside that range."""
    global _seed
    value = int(seed)
    if not -2 ** 63 <= value < 2 ** 64:
        raise ValueError(f"manual_seed: seed must be in [-2**63, 2**64), got {seed!r}")
    _seed = value % 2 ** 64
    _generators.clear()
    _generators["cpu"] = _new_cpu_generator(_seed)
    return _seed


def initial_seed():
    """The seed of the last manual_seed (torch.initial_seed)."""
    return _seed


def seed():
    """Seed every device's generator from the operating system's entropy; returns the
    seed (torch.seed)."""
    return manual_seed(int(np.random.SeedSequence().entropy % 2**63))


def generator(device="cpu"):
    """The random generator of a device (numpy.random.Generator or cupy's)."""
    device = parse_device(device)
    gen = _generators.get(device)
    if gen is None:
        if device == "cpu":
            gen = _new_cpu_generator(_seed)
        else:
            cp = cupy_module()
            with cp.cuda.Device(int(device.split(":")[1])):
                gen = cp.random.default_rng(_seed)
        _generators[device] = gen
    return gen


def get_rng_state():
    """The CPU generator's state, as a JSON-serialisable dict (for checkpoints)."""
    state = generator("cpu").bit_generator.state
    return {k: (v if not isinstance(v, dict) else {kk: _jsonable(vv) for kk, vv in v.items()})
            for k, v in state.items()}


def _jsonable(v):
    if isinstance(v, np.ndarray):
        return [int(x) for x in v.tolist()]
    return int(v) if isinstance(v, (np.integer,)) else v


def set_rng_state(state):
    """Restore a state from `get_rng_state`."""
    gen = generator("cpu")
    st = dict(state)
    inner = dict(st["state"])
    for k, v in inner.items():
        if isinstance(v, list):
            inner[k] = np.array(v, dtype=np.uint64)
    st["state"] = inner
    gen.bit_generator.state = st


# ---------------------------------------------------------------- CPU threads
_blas = None


def _openblas():
    """(get, set) thread-count functions of the OpenBLAS bundled with NumPy, or None."""
    global _blas
    if _blas is None:
        import ctypes
        import glob
        import os
        _blas = ()
        folder = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
        for path in glob.glob(os.path.join(folder, "*openblas*")):
            lib = ctypes.CDLL(path)
            for prefix in ("scipy_openblas", "openblas"):
                for suffix in ("64_", ""):
                    get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                    put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                    if get is not None and put is not None and not _blas:
                        _blas = (get, put, getattr(lib, "blas_thread_shutdown_", None))
    return _blas or None


def get_num_threads():
    """Threads NumPy's BLAS uses for a matmul on the CPU (None if it cannot be told)."""
    blas = _openblas()
    return blas[0]() if blas else None


def set_num_threads(n):
    """Set the CPU matmul threads (NumPy's bundled OpenBLAS), like torch.set_num_threads.

    Small matrices gain nothing from a second thread, and on a machine shared with
    other jobs a BLAS thread waiting for a busy core slows every small matmul many
    times over; one thread is then the better choice. Returns the previous count
    (None where NumPy's BLAS is not a bundled OpenBLAS, and nothing changes).
    """
    blas = _openblas()
    if not blas:
        return None
    before = blas[0]()
    blas[1](int(n))
    return before


def stop_blas_threads():
    """Stop the BLAS's worker threads now (NumPy's bundled OpenBLAS; elsewhere a no-op);
    its next multi-threaded matmul starts them again (about 0.3 ms).

    After a matmul OpenBLAS's threads spin, waiting for the next one, for about 0.1 s
    (OPENBLAS_THREAD_TIMEOUT, read when NumPy loads). Code that runs its own threads
    right after a matmul (the tiled attention kernel) would share the cores with them:
    on 2 cores its forward took 44 ms instead of 25. Call it only while no other
    thread is inside a BLAS call.
    """
    blas = _openblas()
    if blas and blas[2] is not None:
        blas[2]()


_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3      # glibc's mallopt options


KEEP_FREED_MEMORY_ENV = "MINIGRAD_KEEP_FREED_MEMORY"
_freed_memory_kept = False          # what the last keep_freed_memory call set


def keep_freed_memory(enable=True):
    """Let the process reuse the memory of freed large arrays instead of asking the
    operating system for fresh pages every time (Linux with glibc; elsewhere a no-op).

    On by default: `import minigrad` calls it, unless the environment variable
    MINIGRAD_KEEP_FREED_MEMORY is 0 (see `apply_keep_freed_memory_env`).

    Why: by default glibc gives every allocation above a threshold (128 KiB, growing
    up to 32 MiB) its own memory mapping and unmaps it on free, and gives freed heap
    memory back above another threshold, so most new activation arrays of a training
    step are fresh memory that the kernel must fault in and zero page by page: in a
    chain of NumPy ops on a few MiB each, that costs more than the arithmetic (the
    small Transformer's step, minigrad alone in its process: 109 ms and ~15,000 page
    faults a step, 83 ms and ~10 with this on; no number changes). With enable=True,
    allocations up to 1 GiB come from the heap and freed heap memory is kept (not
    trimmed), so the next step's arrays reuse it; a training loop reaches a steady
    footprint of about its peak, and the process does not give that memory back to
    the system until it exits. enable=False sets glibc's initial values back (fixed:
    glibc's growing threshold does not come back). The setting is process-wide (every
    library's malloc, PyTorch's CPU tensors included). Returns whether it was applied.
    PyTorch has no direct counterpart (on the CPU it is usually done by preloading
    jemalloc or tcmalloc).
    """
    global _freed_memory_kept
    import ctypes
    import sys
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):           # not glibc (musl has no mallopt)
        return False
    if enable:
        settings = ((_M_MMAP_THRESHOLD, 1 << 30), (_M_TRIM_THRESHOLD, (1 << 31) - 1),
                    (_M_TOP_PAD, 64 << 20))
    else:                                       # glibc's defaults
        settings = ((_M_MMAP_THRESHOLD, 128 << 10), (_M_TRIM_THRESHOLD, 128 << 10),
                    (_M_TOP_PAD, 128 << 10))
    applied = all(mallopt(option, value) == 1 for option, value in settings)
    _freed_memory_kept = bool(enable and applied)
    return applied


def freed_memory_kept():
    """Whether malloc currently keeps freed memory for reuse (keep_freed_memory)."""
    return _freed_memory_kept


def apply_keep_freed_memory_env(environ=None):
    """What `import minigrad` does: keep_freed_memory() unless MINIGRAD_KEEP_FREED_MEMORY
    is "0" ("1" or unset: on). Returns whether the setting was applied. Raises
    MinigradError for any other value, naming the variable."""
    import os
    value = (os.environ if environ is None else environ).get(KEEP_FREED_MEMORY_ENV, "1")
    if value.strip() not in ("0", "1"):
        raise MinigradError(f"{KEEP_FREED_MEMORY_ENV}={value!r}: expected 1 (keep freed "
                            f"memory for reuse, the default) or 0 (leave malloc as it is)")
    return value.strip() == "1" and keep_freed_memory()

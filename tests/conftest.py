import os

# The tests multiply small matrices: one BLAS thread is faster for them, and it keeps
# the processes some tests start (MPI ranks, example runs) from fighting over cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pytest  # noqa: E402

import minigrad as mg  # noqa: E402

mg.set_num_threads(int(os.environ["OPENBLAS_NUM_THREADS"]))


@pytest.fixture(autouse=True)
def _seed_and_defaults():
    """Every test starts from the same seed, float32 default and fused kernels on."""
    mg.manual_seed(0)
    mg.set_default_dtype(mg.float32)
    yield
    mg.set_default_dtype(mg.float32)

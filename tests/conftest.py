import pytest

import minigrad as mg


@pytest.fixture(autouse=True)
def _seed_and_defaults():
    """Every test starts from the same seed, float32 default and fused kernels on."""
    mg.manual_seed(0)
    mg.set_default_dtype(mg.float32)
    yield
    mg.set_default_dtype(mg.float32)

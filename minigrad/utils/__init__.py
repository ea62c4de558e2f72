"""Utilities in torch.utils' places: `minigrad.utils.data` (datasets, samplers, DataLoader)."""
from . import data  # noqa: F401

"""Utilities in torch.utils' places: `minigrad.utils.data` (datasets, samplers, DataLoader)
and `minigrad.utils.checkpoint` (activation checkpointing)."""
from . import checkpoint, data  # noqa: F401

"""torch.linalg's counterpart (only what minigrad has): vector_norm.

`torch.linalg.vector_norm(x, ord=2, dim=None, keepdim=False, dtype=None)`; see
minigrad/ops/norms.py for the semantics and gradient.
"""
from .ops.norms import vector_norm  # noqa: F401

__all__ = ["vector_norm"]

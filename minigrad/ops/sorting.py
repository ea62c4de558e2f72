"""Sorting: sort, argsort, msort, topk (torch's semantics and named tuples).

The order is found on arrays (a stable argsort, so equal values keep their order, as
torch's `stable=True`); the values are then gathered at those indices, so their
gradient goes back to the element each index names (gather's scatter-add backward).
NaN sorts as the largest value (last ascending, first descending), as in PyTorch.
"""
from collections import namedtuple

import numpy as np

from ..backend import xp_of
from ..dtype import kind_of
from ..errors import ShapeError
from ..tensor import Tensor, constant
from .dims import torch_dims
from .gather_scatter import gather
from .reduce import normalize_axes

# torch.return_types.sort / topk: `values, indices = x.sort()` or `x.topk(3).values`
SortResult = namedtuple("sort", ["values", "indices"])
TopkResult = namedtuple("topk", ["values", "indices"])


def _as_tensor(a):
    return a if isinstance(a, Tensor) else Tensor(a)


def sort_indices(array, axis, descending):
    """int64 indices that sort `array` along `axis`, stably (ties keep their order)."""
    xp = xp_of(array)
    if not descending:
        return xp.argsort(array, axis=axis, kind="stable").astype(np.int64, copy=False)
    # Descending and stable: sort the reversed array ascending, read it backwards and map
    # positions back (equal values then come in their original order; NaN first).
    n = array.shape[axis]
    order = xp.argsort(xp.flip(array, axis), axis=axis, kind="stable")
    return (n - 1 - xp.flip(order, axis)).astype(np.int64, copy=False)


def _axis(a, axis, op):
    if isinstance(axis, (tuple, list)) or axis is None:
        raise ShapeError(f"{op}: dim must be one int, got {axis!r}")
    return normalize_axes(axis, a.ndim, op)[0]


@torch_dims
def argsort(a, axis=-1, descending=False, stable=False):
    """torch.argsort(input, dim=-1, descending=False, stable=False): int64 indices that
    sort `input` along `dim`. Always stable here (torch's stable=False allows any order
    of ties; this is one of them)."""
    a = _as_tensor(a)
    if a.ndim == 0:
        return constant(a.xp.zeros((), dtype=np.int64))
    return constant(sort_indices(a.array, _axis(a, axis, "argsort"), descending))


@torch_dims
def sort(a, axis=-1, descending=False, stable=False):
    """torch.sort(input, dim=-1, descending=False, stable=False): the named tuple
    (values, indices) sorted along `dim`. Ties keep their order (stable). The gradient
    of `values` goes to the elements they came from."""
    a = _as_tensor(a)
    indices = argsort(a, axis, descending)
    if a.ndim == 0:
        return SortResult(a * 1 if kind_of(a.dtype) == "f" else a, indices)
    return SortResult(gather(a, _axis(a, axis, "sort"), indices), indices)


def msort(a):
    """torch.msort: the values sorted along dim 0 (sort(input, dim=0).values)."""
    return sort(a, 0).values


@torch_dims
def topk(a, k, axis=-1, largest=True, sorted=True):
    """torch.topk(input, k, dim=-1, largest=True, sorted=True): the named tuple
    (values, indices) of the k largest (or smallest) entries along `dim`. Always in
    sorted order (torch's sorted=False allows any order); among equal values the one
    earlier in the input comes first. Raises ShapeError when k is not in [0, size]."""
    a = _as_tensor(a)
    ax = _axis(a, axis, "topk") if a.ndim else 0
    size = a.shape[ax] if a.ndim else 1
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k <= size:
        raise ShapeError(f"topk: k ({k!r}) is out of range for dim {axis} of size {size} "
                         f"(shape {tuple(a.shape)})")
    if a.ndim == 0:
        return TopkResult(*sort(a))
    order = sort_indices(a.array, ax, descending=largest)
    indices = order[(slice(None),) * ax + (slice(0, int(k)),)]
    return TopkResult(gather(a, ax, indices), constant(indices))

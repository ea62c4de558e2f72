"""Vector norms: torch.linalg.vector_norm, torch.norm and Tensor.norm.

    ||x||_p = (sum |x_i|^p)^(1/p);  p=inf: max |x_i|;  p=-inf: min |x_i|;
    p=0: the number of non-zero entries;  'fro': the 2-norm over the given dims.

The gradient follows PyTorch's formulas, including their choices at 0 where the norm
is not differentiable: an all-zero slice gets gradient 0 for every p (torch masks the
0/0), a zero entry gets 0 for p < 1, and for p = +-inf the gradient is shared equally
among the entries whose |x| ties for the max (min). p = 0 has gradient 0.
float16 inputs are reduced in float32 and rounded once (issue 21's half rule).
The gradient is computed on arrays: once-differentiable.
"""
import math

import numpy as np

from ..autograd import Function
from ..backend import xp_of
from ..dtype import as_dtype, is_half, kind_of
from ..errors import DTypeError, ShapeError
from ..tensor import Tensor, constant
from .dims import torch_dims
from .reduce import normalize_axes
from .scan import accumulation_dtype


class VectorNorm(Function):
    name = "vector_norm"
    once_differentiable = True
    ord: float
    axes: tuple                  # sorted, non-negative; all of them for dim=None
    keepdims: bool

    def forward(self, x):
        xp, p, axes = xp_of(x), self.ord, self.axes
        acc = accumulation_dtype(x.dtype)
        ax = np.abs(x).astype(acc, copy=False)
        if p == math.inf:
            out = ax.max(axis=axes, keepdims=True)
        elif p == -math.inf:
            out = ax.min(axis=axes, keepdims=True)
        elif p == 0:
            out = (ax != 0).sum(axis=axes, keepdims=True).astype(acc)
        elif p == 1:
            out = ax.sum(axis=axes, keepdims=True)
        elif p == 2:
            out = xp.sqrt((ax * ax).sum(axis=axes, keepdims=True))
        else:
            with np.errstate(divide="ignore"):       # 0 ** negative p is inf, as in torch
                out = (ax ** p).sum(axis=axes, keepdims=True) ** (1 / p)
        self.norm = out                              # kept dims, accumulation dtype
        out = out.astype(x.dtype, copy=False)
        return out if self.keepdims else out.reshape(
            tuple(s for i, s in enumerate(x.shape) if i not in axes))

    def backward(self, grad):
        (x,) = self.inputs
        xp, p, norm = x.xp, self.ord, self.norm
        a = x.array.astype(norm.dtype, copy=False)
        g = grad.array.astype(norm.dtype).reshape(norm.shape)
        with np.errstate(all="ignore"):
            if p == 0:
                result = xp.zeros_like(a)
            elif math.isinf(p):          # the derivative of amax / amin of |x|, ties shared
                mask = (xp.abs(a) == norm) | xp.isnan(a)
                result = xp.sign(a) * mask * (g / mask.sum(axis=self.axes, keepdims=True))
            elif p == 1:
                result = xp.sign(a) * g
            elif p < 1:                  # |x|^(p-1) is infinite at 0: torch sets it to 0
                scaled = xp.where(a == 0, 0, xp.sign(a) * xp.abs(a) ** (p - 1))
                result = scaled * g * norm ** (1 - p)
            else:                        # x |x|^(p-2) g / norm^(p-1), 0 where the norm is 0
                scaled = a if p == 2 else a * xp.abs(a) ** (p - 2)
                scale = xp.where(norm == 0, 0, g / norm ** (p - 1))
                result = scaled * scale
        return constant(result.astype(x.dtype, copy=False))


def _ord(p, op):
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise ShapeError(f"{op}: ord must be a number (or inf, -inf), got {p!r}")
    return float(p)


@torch_dims
def vector_norm(x, ord=2, axis=None, keepdims=False, dtype=None):
    """torch.linalg.vector_norm(x, ord=2, dim=None, keepdim=False, dtype=None).

    x: a floating point Tensor (integers raise DTypeError, as in torch). ord: any real
    number, inf or -inf. dim: None (every element), an int or a tuple of ints.
    dtype: compute and return in this dtype. Returns x's dtype (or `dtype`), reduced
    over `dim`. Gradient: torch's, including its zeros at the non-differentiable points.
    """
    if not isinstance(x, Tensor):
        x = Tensor(x)
    if dtype is not None:
        x = x.to(as_dtype(dtype))
    if kind_of(x.dtype) != "f":
        raise DTypeError(f"vector_norm: expected a floating point tensor, got {x.dtype}")
    p = _ord(ord, "vector_norm")
    axes = normalize_axes(axis, x.ndim, "vector_norm") if x.ndim else ()
    return VectorNorm.apply(x, ord=p, axes=axes, keepdims=keepdims)


@torch_dims
def norm(x, p="fro", axis=None, keepdims=False, dtype=None):
    """torch.norm / Tensor.norm(p='fro', dim=None, keepdim=False, dtype=None).

    p: 'fro' (the 2-norm over `dim`, or over every element), or a number / inf / -inf
    (the vector norm over `dim`, as torch.linalg.vector_norm). 'nuc' and matrix norms
    are not supported (ShapeError).
    """
    if isinstance(p, str):
        if p != "fro":
            raise ShapeError(f"norm: p={p!r} is not supported; use 'fro' or a number")
        if isinstance(axis, (tuple, list)) and len(axis) > 2:
            raise ShapeError(f"norm: p='fro' takes at most 2 dims, got {axis!r}")
        p = 2
    return vector_norm(x, 2 if p is None else p, axis, keepdims, dtype)

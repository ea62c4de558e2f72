"""Layer normalisation (Ba et al., 2016), as torch.nn.functional.layer_norm:

    y = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias

over the last len(normalized_shape) axes, with the biased variance and eps inside
the square root. `layer_norm_reference` writes it with primitive ops; the fused
kernel beside it keeps only the normalised input and 1/std for its backward.
"""
import math

import numpy as np

from .. import cuda_kernels
from ..amp.autocast_mode import autocast_op
from ..autograd import Function
from ..backend import xp_of
from ..dtype import is_half, kind_of
from ..errors import DTypeError, ShapeError
from ..tensor import constant
from .dispatch import reference, why_not_fused


def _sum_normalized(a, nd):
    """a.sum over its last nd axes (keepdims) for a NumPy float array of rows: one
    matrix-vector product with a vector of ones. Optimisation: BLAS sums short rows
    several times faster than NumPy's reduction ((1024, 128) rows: 8 us against 37 us;
    (1024, 512): 14 against 99), with the same kind of rounding (blocked float32 sums)."""
    axes = tuple(range(a.ndim - nd, a.ndim))
    n = math.prod(a.shape[a.ndim - nd:])
    if xp_of(a) is not np or a.dtype not in _BLAS_DTYPES or a.size == 0:
        return a.sum(axis=axes, keepdims=True)
    rows = a.reshape(a.size // n, n) @ np.ones(n, dtype=a.dtype)
    return rows.reshape(a.shape[:a.ndim - nd] + (1,) * nd)


def _sum_batch(a, nd):
    """a.sum over all but its last nd axes (a weight's or bias's gradient), as
    ones @ rows on NumPy float arrays (see _sum_normalized)."""
    shape = a.shape[a.ndim - nd:]
    n = math.prod(shape)
    if xp_of(a) is not np or a.dtype not in _BLAS_DTYPES or a.size == 0:
        return a.sum(axis=tuple(range(a.ndim - nd)))
    rows = a.size // n
    return (np.ones(rows, dtype=a.dtype) @ a.reshape(rows, n)).reshape(shape)


_BLAS_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


@reference("layer_norm")
def layer_norm_reference(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """The formula in this module's doc, from primitive ops (arguments as layer_norm,
    already validated: weight and bias in x's dtype)."""
    nd = 1 if isinstance(normalized_shape, int) else len(normalized_shape)
    axes = tuple(range(x.ndim - nd, x.ndim))
    centred = x - x.mean(axes, keepdims=True)
    var = (centred * centred).mean(axes, keepdims=True)       # biased, as PyTorch
    out = centred / (var + eps).sqrt()
    if weight is not None:
        out = out * weight
    return out + bias if bias is not None else out


class LayerNorm(Function):
    # fused kernel: equal to layer_norm_reference in value and gradient
    """One pass forward that saves xhat = (x - mean) / std and 1/std for the backward."""
    name = "layer_norm"
    once_differentiable = True
    saves_inputs = (1,)              # backward reads xhat and the weight (input 1), not x
    nd: int                          # how many trailing axes are normalised
    eps: float
    has_weight: bool
    has_bias: bool

    def forward(self, x, *params):
        weight = params[0] if self.has_weight else None
        bias = params[-1] if self.has_bias else None
        self.n = n = max(1, math.prod(x.shape[x.ndim - self.nd:]))
        self.on_gpu = xp_of(x) is not np and cuda_kernels.layer_norm_supported(x)
        if self.on_gpu:
            # fused GPU kernel (cuda_kernels.py): these same steps in one launch
            y, xhat, rstd = cuda_kernels.layer_norm_forward(x, weight, bias, n, self.eps)
            self.xhat, self.weight = xhat.reshape(x.shape), weight
            self.rstd = rstd.reshape(x.shape[:x.ndim - self.nd] + (1,) * self.nd)
            return y.reshape(x.shape)
        # (x.sum() / n rather than x.mean(): a normalized shape with a 0 is an empty slice)
        with np.errstate(all="ignore"):   # inf in a row, or eps=0 on a constant row: NaN, as PyTorch
            xhat = x - _sum_normalized(x, self.nd) / n
            var = _sum_normalized(xhat * xhat, self.nd) / n
            var += self.eps
            self.rstd = 1.0 / xp_of(x).sqrt(var)
            xhat *= self.rstd                   # centred, then scaled in place
        self.xhat, self.weight = xhat, weight
        if weight is None:
            return xhat + bias if bias is not None else xhat.copy()
        out = xhat * weight
        if bias is not None:
            out += bias
        return out

    def backward(self, grad):
        """dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), in place where possible."""
        g, xhat = grad.array, self.xhat
        if self.on_gpu:
            return self._backward_gpu(g)
        dxhat = g * self.weight if self.weight is not None else g.copy()
        work = dxhat * xhat
        mean_dx_xhat = _sum_normalized(work, self.nd) / self.n
        grads = [None]
        if self.has_weight:
            dw = None
            if self.needs_input_grad[1]:
                xp_of(g).multiply(g, xhat, out=work)
                dw = constant(_sum_batch(work, self.nd))
            grads.append(dw)
        if self.has_bias:
            grads.append(constant(_sum_batch(g, self.nd)) if self.needs_input_grad[-1] else None)
        if self.needs_input_grad[0]:
            dxhat -= _sum_normalized(dxhat, self.nd) / self.n
            xp_of(g).multiply(xhat, mean_dx_xhat, out=work)
            dxhat -= work
            dxhat *= self.rstd
            grads[0] = constant(dxhat)
        return tuple(grads)

    def _backward_gpu(self, g):
        """The backward above with dx from one fused kernel (cuda_kernels.py)."""
        grads = [None]
        if self.needs_input_grad[0]:
            dx = cuda_kernels.layer_norm_backward(g, self.xhat, self.rstd, self.weight, self.n)
            grads[0] = constant(dx.reshape(g.shape))
        if self.has_weight:
            grads.append(constant(_sum_batch(g * self.xhat, self.nd))
                         if self.needs_input_grad[1] else None)
        if self.has_bias:
            grads.append(constant(_sum_batch(g, self.nd)) if self.needs_input_grad[-1] else None)
        return tuple(grads)


@autocast_op("float32")
def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise `x` (..., *normalized_shape) over its last len(normalized_shape) axes,
    then scale by `weight` and shift by `bias` (both of shape normalized_shape, or None).

    Same shape and dtype as `x` (float16 and bfloat16 are computed in float32 and rounded
    once, as PyTorch). Raises
    DTypeError for a non-float `x`, ShapeError when the shapes do not fit.
    Source: torch.nn.functional.layer_norm.
    """
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(normalized_shape)
    nd = len(normalized_shape)
    if kind_of(x.dtype) != "f":          # (ints and bools went through in float64)
        raise DTypeError(f"layer_norm: expected a floating point tensor, got {x.dtype}")
    if tuple(x.shape[x.ndim - nd:]) != normalized_shape or nd > x.ndim:
        raise ShapeError(f"layer_norm: input of shape {tuple(x.shape)} does not end in the "
                         f"normalized shape {normalized_shape}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != normalized_shape:
            raise ShapeError(f"layer_norm: {name} of shape {tuple(p.shape)} does not match the "
                             f"normalized shape {normalized_shape}")
    if is_half(x.dtype):             # mean and variance in float16 lose the small differences
        return layer_norm(           # that layer norm scales up: compute in float32 (as PyTorch)
            x.astype(np.float32), normalized_shape,
            None if weight is None else weight.astype(np.float32),
            None if bias is None else bias.astype(np.float32), eps).astype(x.dtype)
    # the output has the input's dtype, as in PyTorch (float16 activations, float32 weights)
    weight = weight.astype(x.dtype) if weight is not None and weight.dtype != x.dtype else weight
    bias = bias.astype(x.dtype) if bias is not None and bias.dtype != x.dtype else bias
    if why_not_fused("layer_norm", x, weight, bias) is not None:
        return layer_norm_reference(x, normalized_shape, weight, bias, eps)
    inputs = [x] + [p for p in (weight, bias) if p is not None]
    return LayerNorm.apply(*inputs, nd=nd, eps=eps,
                           has_weight=weight is not None, has_bias=bias is not None)

"""Layer normalisation, fused: one forward pass saves what the backward needs.

PyTorch's formula: biased variance, eps inside the square root.
"""
import numpy as np

from ..autograd import Function, fused_enabled
from ..backend import xp_of
from ..errors import DTypeError, ShapeError
from ..tensor import constant


class LayerNorm(Function):
    name = "layer_norm"
    once_differentiable = True

    def forward(self, x, *params):
        weight = params[0] if self.has_weight else None
        bias = params[-1] if self.has_bias else None
        axes = tuple(range(x.ndim - self.nd, x.ndim))
        xhat = x - x.mean(axis=axes, keepdims=True)
        var = (xhat * xhat).mean(axis=axes, keepdims=True)
        var += self.eps
        with np.errstate(all="ignore"):         # eps=0 on a constant row: 0 / 0, NaN as in PyTorch
            self.rstd = 1.0 / xp_of(x).sqrt(var)
            xhat *= self.rstd                   # centred, then scaled in place
        self.xhat, self.axes, self.weight = xhat, axes, weight
        if weight is None:
            return xhat + bias if bias is not None else xhat.copy()
        out = xhat * weight
        if bias is not None:
            out += bias
        return out

    def backward(self, grad):
        """dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)), in place where possible."""
        g, xhat, axes = grad.data, self.xhat, self.axes
        batch_axes = tuple(range(g.ndim - self.nd))
        dxhat = g * self.weight if self.weight is not None else g.copy()
        work = dxhat * xhat
        mean_dx_xhat = work.mean(axis=axes, keepdims=True)
        grads = [None]
        if self.has_weight:
            dw = None
            if self.needs_input_grad[1]:
                xp_of(g).multiply(g, xhat, out=work)
                dw = constant(work.sum(axis=batch_axes))
            grads.append(dw)
        if self.has_bias:
            grads.append(constant(g.sum(axis=batch_axes)) if self.needs_input_grad[-1] else None)
        if self.needs_input_grad[0]:
            dxhat -= dxhat.mean(axis=axes, keepdims=True)
            xp_of(g).multiply(xhat, mean_dx_xhat, out=work)
            dxhat -= work
            dxhat *= self.rstd
            grads[0] = constant(dxhat)
        return tuple(grads)


def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    """Normalise over the last len(normalized_shape) axes, then scale and shift."""
    if isinstance(normalized_shape, int):
        normalized_shape = (normalized_shape,)
    normalized_shape = tuple(normalized_shape)
    nd = len(normalized_shape)
    if x.dtype.kind != "f":          # (ints and bools went through in float64)
        raise DTypeError(f"layer_norm: expected a floating point tensor, got {x.dtype}")
    if tuple(x.shape[x.ndim - nd:]) != normalized_shape or nd > x.ndim:
        raise ShapeError(f"layer_norm: input of shape {tuple(x.shape)} does not end in the "
                         f"normalized shape {normalized_shape}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != normalized_shape:
            raise ShapeError(f"layer_norm: {name} of shape {tuple(p.shape)} does not match the "
                             f"normalized shape {normalized_shape}")
    if x.dtype == np.float16:        # mean and variance in float16 lose the small differences
        return layer_norm(           # that layer norm scales up: compute in float32 (as PyTorch)
            x.astype(np.float32), normalized_shape,
            None if weight is None else weight.astype(np.float32),
            None if bias is None else bias.astype(np.float32), eps).astype(np.float16)
    # the output has the input's dtype, as in PyTorch (float16 activations, float32 weights)
    weight = weight.astype(x.dtype) if weight is not None and weight.dtype != x.dtype else weight
    bias = bias.astype(x.dtype) if bias is not None and bias.dtype != x.dtype else bias
    if not fused_enabled() or x.size == 0:     # (no rows: nothing for the kernel to do)
        axes = tuple(range(x.ndim - nd, x.ndim))
        xc = x - x.mean(axes, keepdims=True)
        out = xc / ((xc * xc).mean(axes, keepdims=True) + eps).sqrt()
        if weight is not None:
            out = out * weight
        return out + bias if bias is not None else out
    inputs = [x] + [p for p in (weight, bias) if p is not None]
    return LayerNorm.apply(*inputs, nd=nd, eps=eps,
                           has_weight=weight is not None, has_bias=bias is not None)

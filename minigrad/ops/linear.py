"""The fully connected layer's op, as torch.nn.functional.linear:

    y = x W^T + b        x (..., in), W (out, in), b (out,) -> y (..., out)

`linear_reference` is a matmul and an add; the fused kernel beside it folds the
leading axes into rows, so a (B, T, in) input makes one (B*T, in) x (in, out)
GEMM instead of NumPy's loop of one GEMM per batch entry, and its backward writes
the weight gradient directly in W's (out, in) layout.

float16/bfloat16 on the CPU: NumPy has no half-precision BLAS (its float16 loop is several
times slower than a float32 GEMM); the kernel multiplies in float32 and rounds the product
once (linalg.half_gemm), which is
also what a GPU's float16 GEMM does (float32 accumulation), so autocast on the CPU gives
the numbers it would give on a GPU.
"""
import math

import numpy as np

from ..amp.autocast_mode import autocast_op
from ..autograd import Function, is_grad_enabled
from ..backend import xp_of
from ..errors import ShapeError
from ..tensor import constant
from .dispatch import reference, why_not_fused
from .elementwise import operands
from .linalg import half_gemm as _gemm, matmul


@reference("linear")
def linear_reference(x, weight, bias=None):
    """x @ weight^T + bias from primitive ops (arguments as `linear`)."""
    if x.ndim > 2:          # fold the batch axes into rows, as the kernel does: same numbers
        rows = x.reshape(math.prod(x.shape[:-1]), x.shape[-1])                # (N, in)
        return linear_reference(rows, weight, bias).reshape(*x.shape[:-1], weight.shape[0])
    out = matmul(x, weight.swapaxes(0, 1))                                   # (N, out)
    return out + bias if bias is not None else out


# From 2 to this many rows, y = (W x^T)^T: OpenBLAS's GEMM against the transposed
# (out, in) weight is slow for a few rows (decoding a few sentences or beams): 4 rows of
# 128 -> 384 took 28 us that way and 12 us this way, 4 of 512 -> 8000 1.37 ms and 0.70 ms;
# from about 64 rows on the plain product is the faster (2-core machine, 2 threads).
FEW_ROWS = 32


def linear_arrays(x, weight, bias=None):
    """The kernel's forward on arrays: (y, x folded into (N, in) rows)."""
    rows = math.prod(x.shape[:-1])
    x2 = x.reshape(rows, x.shape[-1])
    if 1 < rows <= FEW_ROWS and isinstance(x2, np.ndarray):
        y = np.ascontiguousarray(_gemm(weight, x2.T).T)
    else:
        y = _gemm(x2, weight.T)
    if bias is not None:
        y += bias
    return y.reshape(x.shape[:-1] + (weight.shape[0],)), x2


class Linear(Function):
    # fused kernel: equal to linear_reference in value and gradient
    """y = x W^T + b as one GEMM over the rows of x; differentiable twice (its
    backward uses primitive ops when a graph of the gradient is recorded)."""
    name = "linear"

    def forward(self, x, weight, bias=None):
        y, self.x2 = linear_arrays(x, weight, bias)
        return y

    def backward(self, grad):
        x, weight = self.inputs[0], self.inputs[1]
        has_bias = len(self.inputs) == 3
        if is_grad_enabled():               # create_graph: differentiable primitive ops
            g2 = grad.reshape(-1, weight.shape[0])
            dx = grad @ weight if self.needs_input_grad[0] else None
            dw = g2.swapaxes(0, 1) @ x.reshape(-1, weight.shape[1]) if self.needs_input_grad[1] else None
            db = g2.sum(0) if has_bias and self.needs_input_grad[2] else None
            return (dx, dw, db) if has_bias else (dx, dw)
        g = grad.array
        g2 = g.reshape(self.x2.shape[0], weight.shape[0])
        dx = constant(_gemm(g2, weight.array).reshape(x.shape)) if self.needs_input_grad[0] else None
        dw = constant(_gemm(g2.T, self.x2)) if self.needs_input_grad[1] else None
        grads = (dx, dw)
        if has_bias:
            # a row sum as a matrix-vector product: BLAS beats sum(axis=0) here
            ones = xp_of(g2).ones(g2.shape[0], dtype=g2.dtype)
            grads += (constant(_gemm(ones, g2)) if self.needs_input_grad[2] else None,)
        return grads


@autocast_op("lower_precision")
def linear(x, weight, bias=None):
    """x @ weight^T + bias for x of shape (..., in), weight (out, in), bias (out,) or None;
    returns (..., out) in the weight's dtype (torch.nn.functional.linear).

    Raises ShapeError when the shapes do not fit. Under `use_fused(False)` it runs as
    linear_reference: a matmul and an add (what the graph pictures show).
    """
    if x.shape[-1:] != weight.shape[1:] or weight.ndim != 2:
        raise ShapeError(f"linear: input of shape {tuple(x.shape)} and weight of shape "
                         f"{tuple(weight.shape)} do not fit: need input[-1] == weight[1]")
    if bias is not None and tuple(bias.shape) != weight.shape[:1]:
        raise ShapeError(f"linear: bias of shape {tuple(bias.shape)} does not match "
                         f"out_features={weight.shape[0]}")
    if x.dtype != weight.dtype:      # one dtype, as matmul (an int input takes the weight's;
        x, weight = operands(x, weight)      # NumPy would make int64 @ float32 float64)
    if why_not_fused("linear", x, weight, bias) is not None:
        return linear_reference(x, weight, bias)
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return Linear.apply(*inputs)

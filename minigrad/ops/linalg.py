"""Matrix multiplication with batch broadcasting: the op that does most of the work."""
import math

from ..autograd import Function, fused_enabled, is_grad_enabled
from ..backend import xp_of
from ..errors import DTypeError, ShapeError
from ..tensor import constant
from .elementwise import operands


class MatMul(Function):
    name = "matmul"
    saves_inputs = "others"

    def forward(self, a, b):
        return a @ b

    def backward(self, grad):
        a, b = self.inputs
        ga = gb = None
        if self.needs_input_grad[0]:
            ga = grad @ b.swapaxes(-1, -2)
        if self.needs_input_grad[1]:
            if b.ndim == 2 and a.ndim > 2:
                # fold the batch into rows: one GEMM gives the summed weight gradient
                # (explicit row counts: reshape(-1, 0) is ambiguous when k or n is 0)
                rows = math.prod(a.shape[:-1])
                gb = a.reshape(rows, a.shape[-1]).swapaxes(-1, -2) @ grad.reshape(rows, grad.shape[-1])
            else:
                gb = a.swapaxes(-1, -2) @ grad
        return ga, gb


def matmul(a, b):
    """a @ b: 1-D operands act as vectors, leading dimensions broadcast."""
    a, b = operands(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: both operands need at least 1 dimension, got shapes "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    if a.dtype.kind not in "fiu" or b.dtype.kind not in "fiu":
        raise DTypeError(f"matmul: expected numeric tensors, got {a.dtype} and {b.dtype}")
    k_a = a.shape[-1]
    k_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
    if k_a != k_b:
        raise ShapeError(f"matmul: shapes {tuple(a.shape)} and {tuple(b.shape)} do not align: "
                         f"{k_a} != {k_b}")
    if a.ndim == 1:
        if b.ndim > 1:
            return matmul(a.unsqueeze(0), b).squeeze(-2)
        dot = (a * b).sum()                       # (sum makes ints int64; a dot keeps the dtype)
        return dot if dot.dtype == a.dtype else dot.astype(a.dtype)
    if b.ndim == 1:
        return matmul(a, b.unsqueeze(-1)).squeeze(-1)
    return MatMul.apply(a, b)


class Linear(Function):
    """y = x W^T + b over the last axis: the fully connected layer as one GEMM.

    The leading axes fold into rows, so (B, T, in) inputs make one (B*T, in) x (in, out)
    product instead of NumPy's loop of one GEMM per batch entry, and the backward
    writes the weight gradient directly in W's (out, in) layout.
    """
    name = "linear"

    def forward(self, x, weight, bias=None):
        rows = math.prod(x.shape[:-1])
        self.x2 = x.reshape(rows, x.shape[-1])
        y = self.x2 @ weight.T
        if bias is not None:
            y += bias
        return y.reshape(x.shape[:-1] + (weight.shape[0],))

    def backward(self, grad):
        x, weight = self.inputs[0], self.inputs[1]
        has_bias = len(self.inputs) == 3
        if is_grad_enabled():               # create_graph: differentiable primitive ops
            g2 = grad.reshape(-1, weight.shape[0])
            dx = grad @ weight if self.needs_input_grad[0] else None
            dw = g2.swapaxes(0, 1) @ x.reshape(-1, weight.shape[1]) if self.needs_input_grad[1] else None
            db = g2.sum(0) if has_bias and self.needs_input_grad[2] else None
            return (dx, dw, db) if has_bias else (dx, dw)
        g = grad.data
        g2 = g.reshape(self.x2.shape[0], weight.shape[0])
        dx = constant((g2 @ weight.data).reshape(x.shape)) if self.needs_input_grad[0] else None
        dw = constant(g2.T @ self.x2) if self.needs_input_grad[1] else None
        grads = (dx, dw)
        if has_bias:
            # a row sum as a matrix-vector product: BLAS beats sum(axis=0) here
            ones = xp_of(g2).ones(g2.shape[0], dtype=g2.dtype)
            grads += (constant(ones @ g2) if self.needs_input_grad[2] else None,)
        return grads


def linear(x, weight, bias=None):
    """x @ weight^T + bias for x of shape (..., in) and weight (out, in), as in PyTorch.

    Under `use_fused(False)` it runs as a matmul and an add (what the graph pictures show).
    """
    if x.shape[-1:] != weight.shape[1:] or weight.ndim != 2:
        raise ShapeError(f"linear: input of shape {tuple(x.shape)} and weight of shape "
                         f"{tuple(weight.shape)} do not fit: need input[-1] == weight[1]")
    if bias is not None and tuple(bias.shape) != weight.shape[:1]:
        raise ShapeError(f"linear: bias of shape {tuple(bias.shape)} does not match "
                         f"out_features={weight.shape[0]}")
    if x.dtype != weight.dtype:      # one dtype, as matmul (an int input takes the weight's;
        x, weight = operands(x, weight)      # NumPy would make int64 @ float32 float64)
    if not fused_enabled():
        if x.ndim > 2:
            lead = x.shape[:-1]
            return linear(x.reshape(-1, x.shape[-1]), weight, bias).reshape(*lead, weight.shape[0])
        out = matmul(x, weight.swapaxes(0, 1))
        return out + bias if bias is not None else out
    inputs = (x, weight) if bias is None else (x, weight, bias)
    return Linear.apply(*inputs)

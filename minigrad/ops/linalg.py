"""Matrix multiplication with batch broadcasting: the op that does most of the work.

float16 and bfloat16 on the CPU: NumPy has no half-precision BLAS. Its float16 matmul is
an element loop many times slower than a float32 GEMM, and its bfloat16 matmul (ml_dtypes)
returns float32. `half_gemm` multiplies in float32 and rounds the product once to the
inputs' dtype, which is what PyTorch's CPU kernels and a GPU's half GEMM do (float32
accumulation), so autocast on the CPU gives the numbers it would give on a GPU. CuPy
arrays keep their own GEMM (cuBLAS float16 on tensor cores).
"""
import math

import numpy as np

from ..amp.autocast_mode import autocast_op
from ..autograd import Function
from ..dtype import is_half, kind_of
from ..errors import DTypeError, ShapeError
from .elementwise import operands


def half_gemm(a, b):
    """a @ b for arrays; NumPy float16/bfloat16 through a float32 GEMM, rounded once."""
    if is_half(a.dtype) and isinstance(a, np.ndarray):
        return (a.astype(np.float32) @ b.astype(np.float32)).astype(a.dtype)
    return a @ b


class MatMul(Function):
    name = "matmul"
    saves_inputs = "others"

    def forward(self, a, b):
        return half_gemm(a, b)

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


@autocast_op("lower_precision")
def matmul(a, b):
    """a @ b: 1-D operands act as vectors, leading dimensions broadcast (torch.matmul).
    Half-precision operands are multiplied in float32 and rounded once (module doc); under
    `autocast` floating operands are cast to the autocast dtype first."""
    a, b = operands(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError(f"matmul: both operands need at least 1 dimension, got shapes "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    if kind_of(a.dtype) not in "fiu" or kind_of(b.dtype) not in "fiu":
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


def __getattr__(name):
    """`linear` moved to ops/linear.py (a fused op beside its reference); old imports work."""
    if name in ("linear", "Linear"):
        import importlib
        return getattr(importlib.import_module(".linear", __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Matrix multiplication with batch broadcasting: the op that does most of the work."""
import math

from ..autograd import Function
from ..errors import DTypeError, ShapeError
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


def __getattr__(name):
    """`linear` moved to ops/linear.py (a fused op beside its reference); old imports work."""
    if name in ("linear", "Linear"):
        import importlib
        return getattr(importlib.import_module(".linear", __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

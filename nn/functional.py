"""PyTorch-style functional API (`import minigrad.nn.functional as F`).

A thin re-export of the ops in `minigrad.ops`, plus `linear`, which modules
and users call as one step.
"""
from minigrad.ops import (cross_entropy, dropout, embedding, gelu, layer_norm, log_softmax,  # noqa: F401
                          relu, scaled_dot_product_attention, sigmoid, softmax, tanh)
from minigrad.ops.linalg import matmul


def linear(x, weight, bias=None):
    """x @ weight^T + bias for inputs of shape (..., in); weight is (out, in).

    The transpose is a strided view, so BLAS reads the weight in place. Leading
    axes are folded into rows first: one (N, in) x (in, out) GEMM is several
    times faster than NumPy's loop of one GEMM per batch entry.
    """
    if x.ndim > 2:
        lead = x.shape[:-1]
        return linear(x.reshape(-1, x.shape[-1]), weight, bias).reshape(*lead, weight.shape[0])
    out = matmul(x, weight.swapaxes(0, 1))
    return out + bias if bias is not None else out

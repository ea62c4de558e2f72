"""PyTorch-style functional API (`import minigrad.nn.functional as F`).

A thin re-export of the ops in `minigrad.ops`, plus `linear`, which modules
and users call as one step.
"""
from minigrad.ops import (cross_entropy, dropout, embedding, gelu, layer_norm, log_softmax,  # noqa: F401
                          relu, scaled_dot_product_attention, sigmoid, softmax, tanh)
from minigrad.ops import linalg as _ops
from minigrad.ops.linalg import matmul  # noqa: F401


def linear(x, weight, bias=None):
    """x @ weight^T + bias for inputs of shape (..., in); weight is (out, in).

    One fused op (minigrad.ops.linear): the leading axes fold into rows, so a
    (B, T, in) input makes one GEMM, and the backward writes the weight gradient
    directly in its (out, in) layout.
    """
    return _ops.linear(x, weight, bias)

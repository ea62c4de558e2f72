"""PyTorch-style functional API (`import minigrad.nn.functional as F`).

A thin re-export of the ops in `minigrad.ops`, plus `linear`, which modules
and users call as one step.
"""
from minigrad.ops import (cross_entropy, dropout, embedding, gelu, layer_norm, log_softmax,  # noqa: F401
                          relu, scaled_dot_product_attention, sigmoid, softmax, tanh)
from minigrad.ops.linalg import matmul


def linear(x, weight, bias=None):
    """x @ weight^T + bias for inputs of shape (..., in); weight is (out, in).

    The transpose is a strided view, so the matmul reads the weight in place.
    """
    out = matmul(x, weight.swapaxes(0, 1))
    return out + bias if bias is not None else out

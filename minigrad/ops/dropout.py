"""Dropout: zero each element with probability p, scale the rest by 1/(1-p),
so the expected activation is the same in training and evaluation."""
import math

import numpy as np

from .. import cuda_kernels
from ..autograd import Function, is_grad_enabled
from ..backend import generator
from ..errors import MinigradError
from ..tensor import constant


def dropout_mask(shape, p, dtype, device):
    """A mask of {0, 1/keep} in `dtype`, drawn from the device's generator.

    On the CPU each element takes 16 random bits straight from the bit generator
    (four per 64-bit draw), several times cheaper than drawing floats; the keep
    probability is then rounded to a multiple of 1/65536 (off by at most 8e-6),
    while kept elements are scaled by exactly 1/(1-p), as in PyTorch.
    """
    gen = generator(device)
    if device != "cpu":
        return cuda_kernels.dropout_mask(gen.random(shape, dtype="float32"), 1.0 - p, dtype)
    n = math.prod(shape)
    threshold = max(1, round((1.0 - p) * 65536))
    bits = gen.bit_generator.random_raw((n + 3) // 4).view(np.uint16)[:n]
    keep_mask = (bits < threshold).reshape(shape)
    return np.multiply(keep_mask, dtype.type(1.0 / (1.0 - p)), dtype=dtype)


class Dropout(Function):
    """x * mask, the mask {0, 1/keep} drawn by `dropout_mask` (one form: no separate
    fused kernel; the fast part is drawing the mask)."""
    name = "dropout"
    saves_inputs = False             # backward reads the mask, not x
    mask: object                     # settings of this op, given to apply() as keywords

    def forward(self, x):
        return x * self.mask

    def backward(self, grad):
        if is_grad_enabled():        # create_graph: a recorded multiply, differentiable again
            return grad * constant(self.mask)
        return constant(grad.array * self.mask)


def dropout(x, p=0.5, training=True):
    """Zero each element of `x` with probability `p` and scale the rest by 1/(1-p) while
    `training` (torch.nn.functional.dropout); same shape and dtype. Raises MinigradError
    for p outside [0, 1]."""
    if not 0.0 <= p <= 1.0:
        raise MinigradError(f"dropout: probability p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0                 # (keeps an int tensor's dtype)
    mask = dropout_mask(x.shape, p, x.dtype, x.device)
    return Dropout.apply(x, mask=mask)

"""Dropout: zero each element with probability p, scale the rest by 1/(1-p),
so the expected activation is the same in training and evaluation."""
from ..autograd import Function
from ..backend import generator
from ..errors import MinigradError
from ..tensor import constant


def dropout_mask(shape, p, dtype, device):
    """A mask of {0, 1/(1-p)} drawn from the device's generator, in `dtype`."""
    gen = generator(device)
    keep = 1.0 - p
    draw = gen.random(shape, dtype="float32")
    return (draw < keep).astype(dtype) * dtype.type(1.0 / keep)


class Dropout(Function):
    name = "dropout"

    def forward(self, x):
        return x * self.mask

    def backward(self, grad):
        return grad * constant(self.mask)


def dropout(x, p=0.5, training=True):
    if not 0.0 <= p <= 1.0:
        raise MinigradError(f"dropout: probability p must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    mask = dropout_mask(x.shape, p, x.dtype, x.device)
    return Dropout.apply(x, mask=mask)

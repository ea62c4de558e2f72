"""The fully connected layer: y = x W^T + b."""
import math

from minigrad.backend import xp_for
from minigrad.dtype import as_dtype, get_default_dtype
from minigrad.errors import ShapeError

from . import functional as F
from . import init
from .module import Module, Parameter


def empty_parameter(shape, dtype=None, device=None):
    """An uninitialised Parameter; the caller's reset_parameters fills it."""
    dtype = as_dtype(dtype) or get_default_dtype()
    return Parameter(xp_for(device).empty(shape, dtype=dtype))


class Linear(Module):
    """Applies x @ weight^T + bias to the last axis of x.

    weight is stored (out_features, in_features) as in PyTorch, so state dicts
    move between the two unchanged. Both weight and bias start U(-k, k) with
    k = 1/sqrt(in_features), PyTorch's default (Kaiming-uniform with a = sqrt(5)).
    """

    def __init__(self, in_features, out_features, bias=True, device=None, dtype=None):
        super().__init__()
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        if self.in_features < 0 or self.out_features < 0:
            raise ShapeError(f"Linear: in_features and out_features must be >= 0, got "
                             f"{in_features} and {out_features}")
        self.weight = empty_parameter((self.out_features, self.in_features), dtype, device)
        self.bias = empty_parameter((self.out_features,), dtype, device) if bias else None
        self.reset_parameters()

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features) if self.in_features > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        if x.shape[-1:] != (self.in_features,):
            raise ShapeError(f"Linear: input of shape {tuple(x.shape)} must end in "
                             f"in_features={self.in_features}")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")

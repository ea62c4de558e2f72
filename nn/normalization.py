"""Layer normalisation (Ba, Kiros and Hinton, 2016) and RMS normalisation."""

from minigrad.errors import ShapeError
from minigrad.ops import layer_norm

from . import functional as F, init
from .linear import empty_parameter
from .module import Module


class LayerNorm(Module):
    """Normalise each sample over its last axes to zero mean and unit variance,
    then scale by `weight` (starts at 1) and shift by `bias` (starts at 0).

    PyTorch's formula: biased variance, eps inside the square root.
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True,
                 device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        if any(s < 0 for s in self.normalized_shape):
            raise ShapeError(f"LayerNorm: normalized_shape {self.normalized_shape} has a negative "
                             "size")
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        if self.elementwise_affine:
            self.weight = empty_parameter(self.normalized_shape, dtype, device)
            self.bias = empty_parameter(self.normalized_shape, dtype, device) if bias else None
        else:
            self.weight = self.bias = None
        self.reset_parameters()

    def reset_parameters(self):
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x):
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class RMSNorm(Module):
    """Root-mean-square normalisation (Zhang and Sennrich, 2019), torch.nn.RMSNorm:

        y = x / sqrt(mean(x^2 over the last len(normalized_shape) dims) + eps) * weight

    eps=None uses the machine epsilon of the input's dtype (float32's for float16 and bfloat16,
    which are normalised in float32), as torch. No bias; F.rms_norm does the work.
    """

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, device=None, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape = tuple(int(s) for s in normalized_shape)
        self.eps = eps
        self.elementwise_affine = bool(elementwise_affine)
        self.weight = empty_parameter(self.normalized_shape, dtype, device) \
            if self.elementwise_affine else None
        self.reset_parameters()

    def reset_parameters(self):
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, x):
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")

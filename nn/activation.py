"""Activation and shape modules, for use in Sequential and as layer options (as torch.nn)."""
from minigrad.errors import MinigradError

from . import functional as F
from .module import Module


class Identity(Module):
    """Returns its input unchanged; extra constructor arguments are ignored (torch.nn.Identity)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class ReLU(Module):
    """max(x, 0) (torch.nn.ReLU; inplace=True writes into the input, as torch)."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.relu(x, self.inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class GELU(Module):
    """x * Phi(x); approximate='tanh' is the GPT-2 form, 'none' the exact erf form."""

    def __init__(self, approximate="none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise MinigradError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x * sigmoid(x) (torch.nn.SiLU)."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.silu(x, self.inplace)


class LeakyReLU(Module):
    """x for x > 0, negative_slope * x otherwise (torch.nn.LeakyReLU)."""

    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope, self.inplace)

    def extra_repr(self):
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    """x for x > 0, alpha * (exp(x) - 1) otherwise (torch.nn.ELU)."""

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, x):
        return F.elu(x, self.alpha, self.inplace)


class Softplus(Module):
    """log(1 + exp(beta * x)) / beta, linear above `threshold` (torch.nn.Softplus)."""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        return F.softplus(x, self.beta, self.threshold)


class Hardtanh(Module):
    """x clamped to [min_val, max_val] (torch.nn.Hardtanh)."""

    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False):
        super().__init__()
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, x):
        return F.hardtanh(x, self.min_val, self.max_val, self.inplace)


class ReLU6(Hardtanh):
    """min(max(x, 0), 6) (torch.nn.ReLU6)."""

    def __init__(self, inplace=False):
        super().__init__(0.0, 6.0, inplace)


class _Elementwise(Module):
    """A module applying one nn.functional activation with fixed keyword settings."""
    _fn = None

    def __init__(self, inplace=False, **settings):
        super().__init__()
        self.inplace = inplace
        self._settings = settings

    def forward(self, x):
        if self.inplace:
            return type(self)._fn(x, **self._settings, inplace=True)
        return type(self)._fn(x, **self._settings)


class SELU(_Elementwise):
    """scale * elu(x, alpha), self-normalising (torch.nn.SELU)."""
    _fn = staticmethod(F.selu)


class CELU(_Elementwise):
    """max(0, x) + min(0, alpha * (exp(x / alpha) - 1)) (torch.nn.CELU)."""
    _fn = staticmethod(F.celu)

    def __init__(self, alpha=1.0, inplace=False):
        super().__init__(inplace, alpha=alpha)


class Hardsigmoid(_Elementwise):
    """relu6(x + 3) / 6 (torch.nn.Hardsigmoid)."""
    _fn = staticmethod(F.hardsigmoid)


class Hardswish(_Elementwise):
    """x * relu6(x + 3) / 6 (torch.nn.Hardswish)."""
    _fn = staticmethod(F.hardswish)


class Softsign(_Elementwise):
    """x / (1 + |x|) (torch.nn.Softsign)."""
    _fn = staticmethod(F.softsign)


class Threshold(_Elementwise):
    """x where x > threshold, else value (torch.nn.Threshold)."""
    _fn = staticmethod(F.threshold)

    def __init__(self, threshold, value, inplace=False):
        super().__init__(inplace, threshold=threshold, value=value)


class Softmin(_Elementwise):
    """softmax(-x) along dim (torch.nn.Softmin)."""
    _fn = staticmethod(F.softmin)

    def __init__(self, dim=None):
        super().__init__(dim=dim)


class LogSigmoid(Module):
    """log(sigmoid(x)) (torch.nn.LogSigmoid)."""

    def forward(self, x):
        return F.logsigmoid(x)


class Mish(Module):
    """x * tanh(softplus(x)) (torch.nn.Mish)."""

    def __init__(self, inplace=False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.mish(x, self.inplace)


class GLU(Module):
    """Gated linear unit: first half * sigmoid(second half) along `dim` (torch.nn.GLU)."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.glu(x, self.dim)


class PReLU(Module):
    """LeakyReLU with a learned slope, one per channel or shared (torch.nn.PReLU; starts at `init`)."""

    def __init__(self, num_parameters=1, init=0.25, device=None, dtype=None):
        super().__init__()
        from .init import constant_
        from .linear import empty_parameter
        self.num_parameters = int(num_parameters)
        self.weight = empty_parameter((self.num_parameters,), dtype, device)
        constant_(self.weight, init)

    def forward(self, x):
        return F.prelu(x, self.weight)


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class Softmax(Module):
    """softmax along `dim` (torch.nn.Softmax)."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """log_softmax along `dim` (torch.nn.LogSoftmax)."""

    def forward(self, x):
        return F.log_softmax(x, self.dim)


class Flatten(Module):
    """Merge axes start_dim..end_dim into one; by default all but the batch axis (torch.nn.Flatten)."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split axis `dim` into `unflattened_size` (torch.nn.Unflatten)."""

    def __init__(self, dim, unflattened_size):
        super().__init__()
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    def forward(self, x):
        dim = self.dim % x.ndim
        return x.reshape(*x.shape[:dim], *self.unflattened_size, *x.shape[dim + 1:])

    def extra_repr(self):
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"

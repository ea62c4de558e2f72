"""Parameter initialisation, in place, as PyTorch's `torch.nn.init`.

Every helper fills `tensor.data` in place from minigrad's own random generator
(the one for the tensor's device), so `minigrad.manual_seed(n)` reproduces a
model's initial weights exactly. The draws are made in the tensor's dtype:
nothing is computed in float64 unless the tensor is float64.

The scale rules keep the variance of activations (Xavier/Glorot) or of
gradients through rectifiers (Kaiming/He) roughly constant from layer to layer.
"""
import math

import numpy as np

from minigrad.backend import generator
from minigrad.errors import MinigradError


def _draw_dtype(tensor):
    """The dtype to draw in: the tensor's own, except float16 (drawn as float32, then cast)."""
    if tensor.dtype.kind != "f":
        raise MinigradError(f"init: expected a floating point tensor, got dtype {tensor.dtype}")
    return np.dtype(np.float32) if tensor.dtype == np.float16 else tensor.dtype


def _fill(tensor, values):
    tensor.data[...] = values
    return tensor


def calculate_fan_in_and_fan_out(tensor):
    """fan_in = inputs per output unit, fan_out = outputs per input unit.

    A weight is stored (out, in, *receptive field) as in PyTorch.
    """
    if tensor.ndim < 2:
        raise MinigradError(f"init: fan in and fan out need a tensor with at least 2 dimensions, "
                            f"got shape {tuple(tensor.shape)}")
    receptive = int(np.prod(tensor.shape[2:])) if tensor.ndim > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def calculate_gain(nonlinearity, param=None):
    """The factor that keeps activation variance steady through `nonlinearity`."""
    if nonlinearity in ("linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise MinigradError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}")


def uniform_(tensor, a=0.0, b=1.0):
    """Fill with U(a, b)."""
    r = generator(tensor.device).random(tensor.shape, dtype=_draw_dtype(tensor))
    r *= (b - a)
    r += a
    return _fill(tensor, r)


def normal_(tensor, mean=0.0, std=1.0):
    """Fill with N(mean, std^2)."""
    r = generator(tensor.device).standard_normal(tensor.shape, dtype=_draw_dtype(tensor))
    r *= std
    r += mean
    return _fill(tensor, r)


def constant_(tensor, val):
    return _fill(tensor, val)


def zeros_(tensor):
    return _fill(tensor, 0)


def ones_(tensor):
    return _fill(tensor, 1)


def xavier_uniform_(tensor, gain=1.0):
    """U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio, 2010)."""
    if tensor.size == 0:             # nothing to draw, and a fan of 0 would divide by zero
        return tensor
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -a, a)


def xavier_normal_(tensor, gain=1.0):
    """N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    if tensor.size == 0:
        return tensor
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming_std(tensor, a, mode, nonlinearity):
    if mode not in ("fan_in", "fan_out"):
        raise MinigradError(f"kaiming init: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:                     # a zero-element tensor: nothing to draw (PyTorch: a no-op)
        return 0.0
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """U(-b, b), b = gain * sqrt(3 / fan) (He et al., 2015).

    PyTorch's Linear uses a = sqrt(5), which gives b = 1 / sqrt(fan_in).
    """
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """N(0, std^2), std = gain / sqrt(fan)."""
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity))

"""Parameter initialisation, in place, as PyTorch's `torch.nn.init`.

Every helper fills `tensor.array` in place from minigrad's own random generator
(the one for the tensor's device), so `minigrad.manual_seed(n)` reproduces a
model's initial weights exactly. The draws are made in the tensor's dtype:
nothing is computed in float64 unless the tensor is float64.

The scale rules keep the variance of activations (Xavier/Glorot) or of
gradients through rectifiers (Kaiming/He) roughly constant from layer to layer.
"""
import math

import numpy as np

from minigrad.backend import generator
from minigrad.dtype import kind_of
from minigrad.errors import MinigradError


def _draw_dtype(tensor):
    """The dtype to draw in: the tensor's own, except float16 (drawn as float32, then cast)."""
    if kind_of(tensor.dtype) != "f":
        raise MinigradError(f"init: expected a floating point tensor, got dtype {tensor.dtype}")
    return np.dtype(np.float32) if tensor.dtype == np.float16 else tensor.dtype


def _fill(tensor, values):
    tensor.array[...] = values
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
    if tensor.numel() == 0:             # nothing to draw, and a fan of 0 would divide by zero
        return tensor
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -a, a)


def xavier_normal_(tensor, gain=1.0):
    """N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    if tensor.numel() == 0:
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


_calculate_fan_in_and_fan_out = calculate_fan_in_and_fan_out    # torch's (private) spelling


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0):
    """N(mean, std^2) restricted to [a, b] (absolute bounds, as torch.nn.init.trunc_normal_).

    Rejection sampling: draws outside [a, b] are drawn again (vectorised over the
    rejected ones), so the values follow the truncated normal exactly. (torch samples
    by inverse CDF instead: same distribution, different numbers.)
    """
    if not a < b:
        raise MinigradError(f"trunc_normal_: need a < b, got a={a}, b={b}")
    gen, dtype = generator(tensor.device), _draw_dtype(tensor)
    values = gen.standard_normal(tensor.shape, dtype=dtype) * std + mean
    for _ in range(1000):                        # bounds deep in a tail: clip what is left
        bad = (values < a) | (values > b)
        if not bad.any():
            break
        values[bad] = gen.standard_normal(int(bad.sum()), dtype=dtype) * std + mean
    return _fill(tensor, tensor.xp.clip(values, a, b))


def eye_(tensor):
    """The identity matrix (2-D tensors only), as torch.nn.init.eye_."""
    if tensor.ndim != 2:
        raise MinigradError(f"eye_: expected a 2-D tensor, got shape {tuple(tensor.shape)}")
    return _fill(tensor, tensor.xp.eye(*tensor.shape, dtype=tensor.dtype))


def orthogonal_(tensor, gain=1.0):
    """A (semi-)orthogonal matrix from the QR decomposition of a normal draw (Saxe et al., 2013),
    flattened to (rows, everything else) as torch.nn.init.orthogonal_; scaled by `gain`."""
    if tensor.ndim < 2:
        raise MinigradError(f"orthogonal_: expected at least 2 dimensions, got shape "
                            f"{tuple(tensor.shape)}")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = generator(tensor.device).standard_normal((rows, cols), dtype=_draw_dtype(tensor))
    xp = tensor.xp
    if rows < cols:
        flat = flat.T
    q, r = xp.linalg.qr(flat)
    q = q * xp.sign(xp.diag(r))                  # makes the decomposition unique (uniform Q)
    if rows < cols:
        q = q.T
    return _fill(tensor, (gain * q).reshape(tensor.shape).astype(tensor.dtype))

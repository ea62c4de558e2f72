"""Gradient clipping by global norm (Pascanu et al., 2013): one oversized
gradient, common early in Transformer training, cannot throw the weights far."""
import math

import numpy as np

from ..backend import to_device, xp_of
from ..errors import MinigradError
from ..tensor import Tensor, constant


def _vector_norm(xp, a, norm_type):
    if norm_type == math.inf:
        return xp.abs(a).max() if a.size else xp.zeros((), dtype=a.dtype)
    if norm_type == 2.0:
        flat = a.reshape(-1)
        return xp.sqrt(xp.dot(flat, flat))
    return (xp.abs(a) ** norm_type).sum() ** (1.0 / norm_type)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False):
    """Scale all gradients together so their joint norm is at most `max_norm`.

    The joint norm is the `norm_type` norm of the per-parameter norms (the norm
    of all gradients concatenated). Gradients are multiplied by
    min(1, max_norm / (total + 1e-6)), as in `torch.nn.utils.clip_grad_norm_`.

    Returns the total norm before clipping as a 0-d Tensor on the gradients'
    device (like PyTorch), so no GPU synchronisation is forced; `float(total)`
    gives the number. The gradients are replaced by new arrays rather than
    scaled in place, because one gradient array may be shared by two parameters
    (the backward of `a + b` hands both the same gradient).
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    params = [p for p in parameters if p.grad is not None]
    norm_type = float(norm_type)
    if norm_type <= 0:
        raise MinigradError(f"clip_grad_norm_: norm_type must be > 0, got {norm_type}")
    if not params:
        return constant(np.zeros((), dtype=np.float32))
    first = params[0].grad.array
    xp = xp_of(first)
    device = params[0].grad.device
    with np.errstate(all="ignore"):  # an inf gradient: scale 0, inf * 0 = NaN (as in PyTorch)
        norms = [to_device(_vector_norm(p.grad.xp, p.grad.array, norm_type), device) for p in params]
        total = _vector_norm(xp, xp.stack(norms), norm_type)
        if error_if_nonfinite and not bool(xp.isfinite(total)):
            raise MinigradError(f"clip_grad_norm_: the total {norm_type} norm of the gradients is "
                                f"{float(total)}; pass error_if_nonfinite=False to clip anyway")
        coef = xp.minimum(max_norm / (total + 1e-6), 1.0).astype(total.dtype)
        for p in params:
            g = p.grad.array
            c = to_device(coef, p.grad.device).astype(g.dtype)
            p.grad = constant(g * c)
    return constant(xp.asarray(total))



def clip_grad_value_(parameters, clip_value):
    """Clamp every gradient element into [-clip_value, clip_value] (torch.nn.utils.clip_grad_value_).

    Like clip_grad_norm_, each gradient is replaced by a new array rather than
    changed in place (a gradient array may be shared by two parameters). Returns None.
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    try:
        clip_value = float(clip_value)
    except (TypeError, ValueError):
        raise MinigradError(f"clip_grad_value_: clip_value must be a number, got {clip_value!r}") from None
    if not clip_value >= 0:                      # (also refuses NaN)
        raise MinigradError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for p in parameters:
        if p.grad is not None:
            p.grad = constant(p.grad.xp.clip(p.grad.array, -clip_value, clip_value))

"""Batch normalisation (Ioffe and Szegedy, 2015): torch.nn.BatchNorm1d and BatchNorm2d."""
import minigrad
from minigrad.errors import ShapeError

from . import init
from .linear import empty_parameter
from .module import Module


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation over every dim but the channels (dim 1), torch.nn.functional.batch_norm.

    input (N, C, *). training=True normalises by the batch's mean and biased variance, and
    (when running_mean / running_var are given) moves them toward the batch's mean and
    unbiased variance by `momentum`, in place and outside autograd; training=False
    normalises by the running estimates. weight, bias: (C,) or None.
    Raises ShapeError for fewer than 2 dims, or a single value per channel while training.
    """
    if input.dim() < 2:
        raise ShapeError(f"batch_norm: expected input of shape (N, C, *), got {tuple(input.shape)}")
    channels = input.shape[1]
    dims = (0,) + tuple(range(2, input.dim()))
    shape = (1, channels) + (1,) * (input.dim() - 2)      # broadcasts a (C,) vector over input
    if training:
        count = input.numel() // channels
        if count < 2:
            raise ShapeError(f"batch_norm: expected more than 1 value per channel when training, "
                             f"got input of shape {tuple(input.shape)}")
        mean = input.mean(dim=dims, keepdim=True)
        var = ((input - mean) ** 2).mean(dim=dims, keepdim=True)
        if running_mean is not None and running_var is not None:
            with minigrad.no_grad():
                m = float(momentum)
                running_mean.copy_((1.0 - m) * running_mean + m * mean.detach().reshape(channels))
                running_var.copy_((1.0 - m) * running_var
                                  + (m * count / (count - 1)) * var.detach().reshape(channels))
    else:
        if running_mean is None or running_var is None:
            raise ShapeError("batch_norm: training=False needs running_mean and running_var")
        mean, var = running_mean.reshape(shape), running_var.reshape(shape)
    out = (input - mean) / (var + eps).sqrt()
    if weight is not None:
        out = out * weight.reshape(shape)
    if bias is not None:
        out = out + bias.reshape(shape)
    return out


class _BatchNorm(Module):
    """Normalise each channel (dim 1) by the batch's statistics while training and by running
    estimates in eval mode, then scale by `weight` (starts at 1) and shift by `bias` (0).

    As torch: buffers running_mean (0), running_var (1) and num_batches_tracked (int64) in
    the state dict; momentum=None gives the cumulative average (1 / num_batches_tracked);
    track_running_stats=False always uses the batch's statistics.
    """

    _dims = ()          # the input dims accepted, set by the subclasses

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, device=None, dtype=None):
        super().__init__()
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        if self.affine:
            self.weight = empty_parameter((self.num_features,), dtype, device)
            self.bias = empty_parameter((self.num_features,), dtype, device)
        else:
            self.weight = self.bias = None
        if self.track_running_stats:
            self.register_buffer("running_mean", minigrad.zeros(self.num_features, dtype=dtype,
                                                                device=device))
            self.register_buffer("running_var", minigrad.ones(self.num_features, dtype=dtype,
                                                              device=device))
            self.register_buffer("num_batches_tracked", minigrad.tensor(0, dtype=minigrad.int64,
                                                                        device=device))
        else:
            self.running_mean = self.running_var = self.num_batches_tracked = None
        self.reset_parameters()

    def reset_running_stats(self):
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            init.zeros_(self.num_batches_tracked)

    def reset_parameters(self):
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, input):
        if input.dim() not in self._dims or input.shape[1] != self.num_features:
            raise ShapeError(f"{type(self).__name__}: expected input with {' or '.join(map(str, self._dims))} "
                             f"dims and {self.num_features} channels in dim 1, got shape "
                             f"{tuple(input.shape)}")
        momentum = self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.add_(1)
            if momentum is None:              # a cumulative moving average
                momentum = 1.0 / float(self.num_batches_tracked.item())
        use_batch = self.training or not self.track_running_stats
        # the running buffers are None without track_running_stats: then batch statistics only
        return batch_norm(input, self.running_mean, self.running_var, self.weight, self.bias,
                            use_batch, momentum if momentum is not None else 0.0, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) input (torch.nn.BatchNorm1d)."""
    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) input (torch.nn.BatchNorm2d)."""
    _dims = (4,)

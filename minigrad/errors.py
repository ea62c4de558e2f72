"""Errors that say which op failed, what it got and what it expected.

Every error minigrad raises derives from `MinigradError`, and also from the
built-in exception a Python user would catch for that kind of mistake.
"""


class MinigradError(Exception):
    """Base class of every error raised by minigrad."""


class ShapeError(MinigradError, ValueError):
    """Shapes that do not fit the op (alignment, broadcasting, axes)."""


class ViewError(ShapeError, RuntimeError):
    """A view that the tensor's memory layout cannot give (Tensor.view of a transposed
    tensor): PyTorch raises RuntimeError, a shape mistake is a ValueError; both catch it."""


class DTypeError(MinigradError, TypeError):
    """A dtype the op cannot take."""


class DeviceError(MinigradError, RuntimeError):
    """Tensors on different devices, or a device that is not available."""


class AutogradError(MinigradError, RuntimeError):
    """Misuse of the autograd engine (backward twice, double backward of a fused op...)."""


class IndexOutOfRangeError(MinigradError, IndexError):
    """An index outside the dimension it indexes."""


class AnomalyError(MinigradError, FloatingPointError):
    """NaN or inf produced while anomaly detection is on."""


class MissingPackageError(MinigradError, ImportError):
    """An optional package a feature needs is not installed (graphviz for pictures...);
    the message says which and how to install it. Caught by `except ImportError` too."""

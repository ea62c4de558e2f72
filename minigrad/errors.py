"""Errors that say which op failed, what it got and what it expected.

Every error minigrad raises derives from `MinigradError`, and also from the
built-in exception a Python user would catch for that kind of mistake.
"""


class MinigradError(Exception):
    """Base class of every error raised by minigrad."""


class ShapeError(MinigradError, ValueError, RuntimeError):
    """Shapes that do not fit the op (alignment, broadcasting, axes). A ValueError, and a
    RuntimeError as PyTorch raises for these, so either `except` catches it."""


class ViewError(ShapeError):
    """A view that the tensor's memory layout cannot give (Tensor.view of a transposed
    tensor); a RuntimeError as PyTorch's (and a ValueError, as every ShapeError)."""


class DTypeError(MinigradError, TypeError):
    """A dtype the op cannot take."""


class DeviceError(MinigradError, RuntimeError):
    """Tensors on different devices, or a device that is not available."""


class AutogradError(MinigradError, RuntimeError):
    """Misuse of the autograd engine (backward twice, double backward of a fused op...)."""


class RequiresGradDTypeError(DTypeError, AutogradError):
    """requires_grad on a tensor that cannot have a gradient (an integer or bool one): a
    DTypeError, and a RuntimeError as torch raises."""


class IndexOutOfRangeError(MinigradError, IndexError):
    """An index outside the dimension it indexes."""


class AnomalyError(MinigradError, FloatingPointError):
    """NaN or inf produced while anomaly detection is on."""


class MissingPackageError(MinigradError, ImportError):
    """An optional package a feature needs is not installed (graphviz for pictures...);
    the message says which and how to install it. Caught by `except ImportError` too."""

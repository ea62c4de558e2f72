"""`minigrad.gradcheck`: lives in minigrad/autograd/gradcheck.py (as torch.autograd.gradcheck)."""
from .autograd.gradcheck import gradcheck  # noqa: F401

"""`torch.nn.utils`: gradient clipping (written in minigrad.optim.clip, re-exported here)."""
from minigrad.optim.clip import clip_grad_norm_, clip_grad_value_  # noqa: F401

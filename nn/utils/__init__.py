"""`torch.nn.utils`: gradient clipping (written in minigrad.optim.clip, re-exported here),
`rnn` (pad_sequence) and parameters_to_vector / vector_to_parameters."""
from minigrad.optim.clip import clip_grad_norm_, clip_grad_value_  # noqa: F401

from . import rnn  # noqa: F401
from .convert_parameters import parameters_to_vector, vector_to_parameters  # noqa: F401

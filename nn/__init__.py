"""Neural-network modules, PyTorch-shaped (installed as `minigrad.nn`)."""
from .module import Module, ModuleDict, ModuleList, Parameter, Sequential
from . import functional, init
from .activation import GELU, ReLU, Sigmoid, Tanh
from .dropout import Dropout
from .embedding import Embedding
from .linear import Linear
from .loss import CrossEntropyLoss
from .normalization import LayerNorm
from .attention import KeyValueCache, MultiHeadAttention, MultiheadAttention
from .feedforward import FeedForward
from .positional import PositionalEncoding
from .token_embedding import TokenEmbedding

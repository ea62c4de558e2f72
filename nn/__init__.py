"""Neural-network modules, PyTorch-shaped (installed as `minigrad.nn`)."""
from .module import Module, Parameter
from .container import ModuleDict, ModuleList, ParameterDict, ParameterList, Sequential
from . import functional, init, utils
from .activation import (CELU, ELU, GELU, GLU, SELU, Flatten, Hardsigmoid, Hardswish, Hardtanh,
                         Identity, LeakyReLU, LogSigmoid, LogSoftmax, Mish, PReLU, ReLU, ReLU6,
                         Sigmoid, SiLU, Softmax, Softmin, Softplus, Softsign, Tanh, Threshold,
                         Unflatten)
from .batchnorm import BatchNorm1d, BatchNorm2d
from .dropout import Dropout
from .embedding import Embedding
from .linear import Linear
from .loss import (BCELoss, BCEWithLogitsLoss, CosineSimilarity, CrossEntropyLoss, HuberLoss,
                   KLDivLoss, L1Loss, MSELoss, NLLLoss, PairwiseDistance, SmoothL1Loss)
from .normalization import LayerNorm, RMSNorm
from .attention import KeyValueCache, MultiHeadAttention, MultiheadAttention
from .feedforward import FeedForward
from .positional import PositionalEncoding
from .token_embedding import TokenEmbedding

# torch.nn.Transformer and its layers live in minigrad.models (a layer above nn, which
# builds them from these modules); they are looked up on first use, so importing nn
# does not import models.
_FROM_MODELS = {"Transformer": "Transformer", "TransformerEncoderLayer": "EncoderLayer",
                "TransformerDecoderLayer": "DecoderLayer", "TransformerEncoder": "TransformerEncoder",
                "TransformerDecoder": "TransformerDecoder"}


def __getattr__(name):
    if name in _FROM_MODELS:
        from minigrad.models import transformer
        return getattr(transformer, _FROM_MODELS[name])
    raise AttributeError(f"module 'minigrad.nn' has no attribute {name!r}")

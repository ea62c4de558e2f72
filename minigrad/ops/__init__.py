"""Every op as a function. Each module holds one family of Functions
(forward and backward side by side) and the functions that call them.

Each fused op `<op>` has a readable reference `<op>_reference` from primitive ops,
with the same arguments, exported here beside it; `dispatch.why_not_fused` says
which of the two a call runs."""
from . import (activation, attention, cross_entropy, dispatch, dropout, elementwise, embedding,
               gather_scatter, index, layer_norm, linalg, reduce, shape, softmax, special,
               triangular, unary)
from .activation import gelu, gelu_reference, softplus
from .attention import (scaled_dot_product_attention, scaled_dot_product_attention_reference,
                        scaled_dot_product_attention_with_weights)
from .cross_entropy import cross_entropy, cross_entropy_reference
from .dropout import dropout
from .elementwise import (abs, add, clamp, clip, div, eq, exp, ge, gt, isfinite, le, log,
                          logical_and, logical_not, logical_or, lt, masked_fill, maximum, minimum,
                          mul, ne, neg, pow, relu, sigmoid, sqrt, sub, tanh, where)
from .embedding import embedding
from .index import getitem, take
from .layer_norm import layer_norm, layer_norm_reference
from .linalg import matmul
from .linear import linear, linear_reference
from .gather_scatter import gather, nonzero
from .triangular import tril, triu
from .unary import cos, rsqrt, sin
from .reduce import all, amax, amin, any, argmax, argmin, max, mean, min, std, sum, var
from .shape import (broadcast_to, cat, chunk, concat, expand, flatten, permute, reshape, split,
                    squeeze, stack, swapaxes, transpose, unsqueeze)
from .softmax import log_softmax, log_softmax_reference, softmax, softmax_reference
from .special import erf
# ops15: sorting, scans and products, norms, rearranging and selection, division, einsum
from . import division, norms, rearrange, scan, sorting  # noqa: E402
from .division import floor_divide, fmod, remainder  # noqa: E402
from .einsum import einsum  # noqa: E402
from .norms import norm, vector_norm  # noqa: E402
from .rearrange import (expand_as, flip, index_select, masked_select, matrix_transpose,  # noqa: E402
                        repeat, roll, trace, unflatten)
from .scan import cumprod, cumsum, prod  # noqa: E402
from .sorting import argsort, msort, sort, topk  # noqa: E402

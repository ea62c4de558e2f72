"""The encoder-decoder Transformer of "Attention Is All You Need" (Vaswani et al., 2017).

    Encoder: N x [self-attention -> add & norm -> feed-forward -> add & norm], final norm
    Decoder: N x [masked self-attention -> add & norm -> cross-attention over the
                  encoder's memory -> add & norm -> feed-forward -> add & norm], final norm

Argument names, defaults and parameter names follow torch.nn.Transformer, but for the
feed-forward sublayer, which is its own module here (`feed_forward.linear1` for PyTorch's
`linear1`): load_state_dict takes a PyTorch state dict as it is (the layers declare the
renaming, Module._torch_names), and `convert.py` renames in both directions.
Post-norm (the paper's) by default; `norm_first=True` gives pre-norm, which
trains deep stacks without warmup tricks.
"""
import copy
import math

import numpy as np

import minigrad as mg
import minigrad.nn.functional as F
from minigrad.amp import is_autocast_enabled
from minigrad.autograd import is_grad_enabled
from minigrad.backend import xp_for
from minigrad.dtype import as_dtype, get_default_dtype, kind_of
from minigrad.errors import DTypeError, ShapeError
from minigrad.nn import (GELU, Dropout, FeedForward, KeyValueCache, LayerNorm, Module,
                         ModuleList, MultiheadAttention, ReLU, init)
from minigrad.tensor import Tensor


def generate_square_subsequent_mask(sz, dtype=None, device=None):
    """The causal mask: position i may attend to positions <= i.

    As torch.nn.Transformer.generate_square_subsequent_mask: a float (sz, sz) tensor
    with -inf above the diagonal and 0 elsewhere. With dtype=bool, True above the
    diagonal (True = blocked). Both forms are accepted wherever a mask is.
    """
    dtype = as_dtype(dtype) or get_default_dtype()
    xp = xp_for(device)
    above = xp.triu(xp.ones((sz, sz), dtype=bool), k=1)
    if dtype == np.bool_:
        return Tensor(above)
    return Tensor(xp.where(above, dtype.type(-math.inf), dtype.type(0)).astype(dtype))


class _TorchSublayerNames:
    """torch's Transformer layers hold the feed-forward network's parts directly (linear1,
    dropout, linear2, activation); here they are one module, `feed_forward`. torch's
    names still work: as attributes (`layer.linear1` is `layer.feed_forward.linear1`) and
    in load_state_dict (a torch state dict's `layers.0.linear1.weight` loads into
    `layers.0.feed_forward.linear1.weight`; Module._torch_names)."""

    _torch_names = {"linear1": "feed_forward.linear1", "linear2": "feed_forward.linear2"}
    _FEED_FORWARD_PARTS = ("linear1", "linear2", "dropout", "activation")

    linear1 = property(lambda self: self.feed_forward.linear1)
    linear2 = property(lambda self: self.feed_forward.linear2)
    dropout = property(lambda self: self.feed_forward.dropout)
    activation = property(lambda self: self.feed_forward.activation)

    def __setattr__(self, name, value):
        """`layer.dropout = nn.Dropout(0.2)` (a torch subclass's habit) replaces the
        feed-forward network's part, which is what torch's layer.dropout is."""
        if name in self._FEED_FORWARD_PARTS and "feed_forward" in self.__dict__.get("_modules", {}):
            setattr(self.feed_forward, name, value)
            return
        super().__setattr__(name, value)


class EncoderLayer(_TorchSublayerNames, Module):
    """Self-attention and feed-forward, each wrapped in dropout, residual and layer norm.

    Same arguments as torch.nn.TransformerEncoderLayer, and its parameter names but for
    the feed-forward network, which is its own module (`feed_forward.linear1` for torch's
    `linear1`; torch's names work as attributes and in load_state_dict).
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first)
        self.feed_forward = FeedForward(d_model, dim_feedforward, dropout, activation, bias)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False, *,
                attentions=None):
        """`attentions`: a dict to receive the per-head weights (B, nhead, T, S) as "self_attn"."""
        x = src
        if self.norm_first:
            x = x + self._self_attention(self.norm1(x), src_mask, src_key_padding_mask, is_causal,
                                         attentions)
            x = x + self.dropout2(self.feed_forward(self.norm2(x)))
        else:
            x = self.norm1(x + self._self_attention(x, src_mask, src_key_padding_mask, is_causal,
                                                    attentions))
            x = self.norm2(x + self.dropout2(self.feed_forward(x)))
        return x

    def _self_attention(self, x, mask, key_padding_mask, is_causal, attentions):
        out, weights = self.self_attn(x, x, x, attn_mask=mask, key_padding_mask=key_padding_mask,
                                      need_weights=attentions is not None,
                                      average_attn_weights=False, is_causal=bool(is_causal))
        if attentions is not None:
            attentions["self_attn"] = weights
        return self.dropout1(out)


class DecoderLayer(_TorchSublayerNames, Module):
    """Masked self-attention, cross-attention over the memory, feed-forward; each with
    dropout, residual and layer norm. Queries of the cross-attention come from the
    decoder, its keys and values from the encoder's output (the memory).

    Same arguments as torch.nn.TransformerDecoderLayer and its parameter names but for the
    feed-forward network (as EncoderLayer).
    `cache` = (self-attention KeyValueCache, cross-attention KeyValueCache) for
    incremental decoding (see DecoderCache). `attentions`: a dict to receive the
    per-head weights (B, nhead, T, S) as "self_attn" and "multihead_attn".
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu",
                 layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True):
        super().__init__()
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                                 batch_first=batch_first)
        self.feed_forward = FeedForward(d_model, dim_feedforward, dropout, activation, bias)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False, *,
                cache=None, attentions=None):
        self_cache, cross_cache = cache if cache is not None else (None, None)
        x = tgt
        if self.norm_first:
            x = x + self._attend("self_attn", self.norm1(x), None, tgt_mask, tgt_key_padding_mask,
                                 tgt_is_causal, self_cache, attentions)
            x = x + self._attend("multihead_attn", self.norm2(x), memory, memory_mask,
                                 memory_key_padding_mask, memory_is_causal, cross_cache,
                                 attentions)
            x = x + self.dropout3(self.feed_forward(self.norm3(x)))
        else:
            x = self.norm1(x + self._attend("self_attn", x, None, tgt_mask, tgt_key_padding_mask,
                                            tgt_is_causal, self_cache, attentions))
            x = self.norm2(x + self._attend("multihead_attn", x, memory, memory_mask,
                                            memory_key_padding_mask, memory_is_causal,
                                            cross_cache, attentions))
            x = self.norm3(x + self.dropout3(self.feed_forward(x)))
        return x

    def _attend(self, name, x, memory, mask, key_padding_mask, is_causal, cache, attentions):
        """Self-attention (memory None) or cross-attention over the memory, then dropout."""
        kv = x if memory is None else memory
        out, weights = getattr(self, name)(x, kv, kv, attn_mask=mask,
                                           key_padding_mask=key_padding_mask,
                                           need_weights=attentions is not None,
                                           average_attn_weights=False,
                                           is_causal=bool(is_causal), cache=cache)
        if attentions is not None:
            attentions[name] = weights
        return (self.dropout1 if memory is None else self.dropout2)(out)


class Encoder(Module):
    """A stack of encoder layers, then an optional final layer norm.

    enable_nested_tensor / mask_check: torch's switch for its inference fast path, which
    packs the unpadded positions into a nested tensor and pads the result with zeros.
    Where torch would take that path (see `_pads_with_zeros`), the layers' output is set
    to 0 at the padded positions before the final norm, so the encoder's output is
    torch's there too (elsewhere the two paths agree anyway).
    """

    def __init__(self, layers, norm=None, enable_nested_tensor=True, mask_check=True):
        super().__init__()
        self.layers = ModuleList(layers)
        self.num_layers = len(self.layers)
        self.norm = norm
        self.mask_check = bool(mask_check)
        self.use_nested_tensor = bool(enable_nested_tensor) and self.num_layers > 0 and \
            _nested_layer(self.layers[0])

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None, *,
                attentions=None):
        """`attentions`: a dict to receive each layer's weights as "layers.{i}.self_attn"."""
        x = src
        for i, layer in enumerate(self.layers):
            found = None if attentions is None else {}
            x = layer(x, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                      is_causal=bool(is_causal), attentions=found)
            _collect(attentions, f"layers.{i}.", found)
        if self._pads_with_zeros(src, mask, src_key_padding_mask):
            keep = ~_as_bool_array(src_key_padding_mask)
            x = x * Tensor(keep[..., None].astype(x.dtype))
        return self.norm(x) if self.norm is not None else x

    def _pads_with_zeros(self, src, mask, pad):
        """Whether torch.nn.TransformerEncoder would run its nested-tensor path (and so give
        zeros at the padded positions): set up for it (use_nested_tensor), in evaluation,
        a batched input with a bool padding mask and no attention mask, padding only at
        the ends (when mask_check), no CUDA autocast, nothing that needs a gradient."""
        if not (self.use_nested_tensor and not self.layers[0].training and src.ndim == 3
                and mask is None and pad is not None and not is_autocast_enabled("cuda")):
            return False
        pad = _as_bool_array(pad)
        if pad is None or pad.shape != (src.shape[0], src.shape[1]):
            return False
        if self.mask_check and (pad[:, 1:] < pad[:, :-1]).any():      # a token after padding
            return False
        if is_grad_enabled() and (src.requires_grad or
                                  any(p.requires_grad for p in self.layers[0].parameters())):
            return False
        return True


def _nested_layer(layer):
    """torch's conditions (TransformerEncoder.__init__) on the layer for the nested path."""
    attn = getattr(layer, "self_attn", None)
    ffn = getattr(layer, "feed_forward", None)
    return (isinstance(layer, EncoderLayer) and not layer.norm_first and attn.batch_first
            and attn._qkv_same_embed_dim and attn.in_proj_bias is not None
            and _relu_or_gelu(ffn.activation) and layer.norm1.eps == layer.norm2.eps
            and attn.num_heads % 2 == 0)


def _relu_or_gelu(activation):
    """torch's activation_relu_or_gelu: the activations its nested-tensor path runs."""
    return any(activation is f for f in (mg.relu, mg.gelu, F.relu, F.gelu)) or \
        isinstance(activation, (ReLU, GELU))


def _as_bool_array(mask):
    """A padding mask's bool array (None for a float mask: torch's path needs a bool one)."""
    array = mask.array if isinstance(mask, Tensor) else np.asarray(mask)
    return array if array.dtype == np.bool_ else None


class Decoder(Module):
    """A stack of decoder layers, each attending to the same memory, then an optional
    final layer norm. `cache`: one (self, cross) KeyValueCache pair per layer."""

    def __init__(self, layers, norm=None):
        super().__init__()
        self.layers = ModuleList(layers)
        self.num_layers = len(self.layers)
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False, *,
                cache=None, attentions=None):
        """`attentions`: a dict to receive each layer's weights as "layers.{i}.self_attn"
        and "layers.{i}.multihead_attn"."""
        x = tgt
        caches = cache if cache is not None else [None] * self.num_layers
        for i, (layer, layer_cache) in enumerate(zip(self.layers, caches)):
            found = None if attentions is None else {}
            x = layer(x, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                      tgt_key_padding_mask=tgt_key_padding_mask,
                      memory_key_padding_mask=memory_key_padding_mask,
                      tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal,
                      cache=layer_cache, attentions=found)
            _collect(attentions, f"layers.{i}.", found)
        return self.norm(x) if self.norm is not None else x


def _collect(attentions, prefix, found):
    """Copy a submodule's attention weights into `attentions`, named by module path."""
    if attentions is not None:
        attentions.update({prefix + name: w for name, w in found.items()})


class DecoderCache:
    """Per decoder layer, a growing self-attention cache and a static cross-attention
    cache (the memory's keys and values, projected once), for incremental decoding."""

    def __init__(self, num_layers):
        self.layers = [(KeyValueCache(static=False), KeyValueCache(static=True))
                       for _ in range(num_layers)]

    def __iter__(self):
        return iter(self.layers)

    def __len__(self):
        return len(self.layers)

    @property
    def length(self):
        """How many target positions are cached (the next position's index)."""
        return len(self.layers[0][0]) if self.layers else 0

    def reorder(self, rows, static=True):
        """Keep (and reorder) the batch rows named by `rows`, in every layer; static=False
        leaves the cross-attention caches as they are (the caller knows that every row
        keeps the memory it had: EncoderDecoderState.reorder)."""
        for self_cache, cross_cache in self.layers:
            self_cache.reorder(rows)
            if static:
                cross_cache.reorder(rows)


class Transformer(Module):
    """torch.nn.Transformer: an Encoder and a Decoder with final layer norms.

    Inputs are (S, B, d_model) and (T, B, d_model), or (B, S, d_model) and
    (B, T, d_model) with batch_first=True; the output has the target's shape.
    Masks as in MultiheadAttention (bool True = blocked, or additive float).
    """

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6,
                 dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5,
                 batch_first=False, norm_first=False, bias=True):
        super().__init__()
        layer_args = dict(d_model=d_model, nhead=nhead, dim_feedforward=dim_feedforward,
                          dropout=dropout, activation=activation, layer_norm_eps=layer_norm_eps,
                          batch_first=batch_first, norm_first=norm_first, bias=bias)
        self.encoder = Encoder([EncoderLayer(**layer_args) for _ in range(num_encoder_layers)],
                               LayerNorm(d_model, eps=layer_norm_eps, bias=bias))
        self.decoder = Decoder([DecoderLayer(**layer_args) for _ in range(num_decoder_layers)],
                               LayerNorm(d_model, eps=layer_norm_eps, bias=bias))
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first
        self._reset_parameters()

    def _reset_parameters(self):
        """Xavier-uniform for every matrix, as torch.nn.Transformer does."""
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def extra_repr(self):
        return f"d_model={self.d_model}, nhead={self.nhead}, batch_first={self.batch_first}"

    generate_square_subsequent_mask = staticmethod(generate_square_subsequent_mask)

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
                src_key_padding_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None,
                memory_is_causal=False):
        self._check_inputs(src, tgt)
        self._check_masks(src, tgt, src_mask=src_mask, tgt_mask=tgt_mask, memory_mask=memory_mask,
                          src_key_padding_mask=src_key_padding_mask,
                          tgt_key_padding_mask=tgt_key_padding_mask,
                          memory_key_padding_mask=memory_key_padding_mask)
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    def _check_inputs(self, src, tgt):
        if src.ndim != tgt.ndim or src.ndim not in (2, 3):
            raise ShapeError(f"Transformer: src {tuple(src.shape)} and tgt {tuple(tgt.shape)} must "
                             "both be batched (3 dims) or both unbatched (2 dims)")
        if src.ndim == 3:
            axis = 0 if self.batch_first else 1
            if src.shape[axis] != tgt.shape[axis]:
                raise ShapeError(f"Transformer: src {tuple(src.shape)} and tgt {tuple(tgt.shape)} "
                                 f"have different batch sizes {src.shape[axis]} and "
                                 f"{tgt.shape[axis]} (batch_first={self.batch_first})")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise ShapeError(f"Transformer: the feature size of src {tuple(src.shape)} and tgt "
                             f"{tuple(tgt.shape)} must equal d_model={self.d_model}")

    def _check_masks(self, src, tgt, **masks):
        """Name the offending argument (the layers below only know attn_mask / key_padding_mask)."""
        batched = src.ndim == 3
        time_axis = 1 if (self.batch_first and batched) else 0
        s, t = src.shape[time_axis], tgt.shape[time_axis]
        b = src.shape[1 - time_axis] if batched else 1
        expected = {"src_mask": (s, s), "tgt_mask": (t, t), "memory_mask": (t, s),
                    "src_key_padding_mask": (b, s), "tgt_key_padding_mask": (b, t),
                    "memory_key_padding_mask": (b, s)}
        for name, mask in masks.items():
            if mask is None:
                continue
            m = mask.array if isinstance(mask, Tensor) else np.asarray(mask)
            if m.dtype != np.bool_ and kind_of(m.dtype) != "f":
                raise DTypeError(f"Transformer: {name} must be bool (True = blocked) or float "
                                 f"(added to the scores), got dtype {m.dtype}")
            shape, ok = expected[name], [expected[name]]
            if name.endswith("padding_mask"):
                ok = [shape] if batched else [shape[1:]]
            else:
                ok.append((b * self.nhead,) + shape)
            if tuple(m.shape) not in ok:
                raise ShapeError(f"Transformer: {name} of shape {tuple(m.shape)} does not fit "
                                 f"src {tuple(src.shape)} and tgt {tuple(tgt.shape)}: expected "
                                 + " or ".join(str(x) for x in ok))


class TransformerEncoder(Encoder):
    """torch.nn.TransformerEncoder: `num_layers` deep copies of `encoder_layer`, then `norm`.

    Same arguments and parameter names as torch (`layers.{i}.…`, `norm.…`). The encoder
    layer passed in is copied, not used: as in torch, its own parameters are not the stack's.
    `enable_nested_tensor` and `mask_check`: as torch's, see Encoder (zeros at the padded
    positions where torch's nested-tensor path would give them).
    """

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True,
                 mask_check=True):
        super().__init__([copy.deepcopy(encoder_layer) for _ in range(num_layers)], norm=norm,
                         enable_nested_tensor=enable_nested_tensor, mask_check=mask_check)


class TransformerDecoder(Decoder):
    """torch.nn.TransformerDecoder: `num_layers` deep copies of `decoder_layer`, then `norm`."""

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__([copy.deepcopy(decoder_layer) for _ in range(num_layers)], norm=norm)

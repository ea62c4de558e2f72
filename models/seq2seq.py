"""A sequence-to-sequence model: token ids in, next-token logits out.

    src ids -> TokenEmbedding -> PositionalEncoding -> Encoder -> memory
    tgt ids -> TokenEmbedding -> PositionalEncoding -> Decoder(memory) -> generator -> logits

Batch first throughout: ids are (B, S) and (B, T), logits (B, T, tgt_vocab_size).
The generator returns logits; the log-softmax lives in the loss (cross_entropy)
and in decoding. Module names follow PyTorch's translation tutorial
(src_tok_emb, tgt_tok_emb, positional_encoding, transformer, generator).

It implements the decoding protocol (decoding/protocol.py): start_decoding runs
the encoder once, decode_step runs the decoder on the new target positions with
per-layer key/value caches, reorder_decoding_state follows the beams.
"""

from minigrad.errors import ShapeError
from minigrad.nn import Linear, Module, PositionalEncoding, TokenEmbedding, init
from minigrad.tensor import Tensor

from . import decoding
from ._checks import token_ids
from .decoding import EncoderDecoderState
from .transformer import DecoderCache, Transformer


Seq2SeqDecodingState = EncoderDecoderState         # (the name earlier code imports)


class Seq2SeqTransformer(Module):
    """The paper's translation model.

    tie_weights=True shares the target embedding with the generator's weight;
    share_embeddings=True also shares it with the source embedding (one joint
    vocabulary, as in the paper, section 3.4). `pad_idx` marks padding: its
    embedding row stays zero, and padding masks are derived from it when not given.
    """

    def __init__(self, src_vocab_size, tgt_vocab_size, d_model=512, nhead=8,
                 num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048, dropout=0.1,
                 activation="relu", max_len=5000, pad_idx=0, tie_weights=False,
                 share_embeddings=False, norm_first=False, layer_norm_eps=1e-5):
        super().__init__()
        if share_embeddings and src_vocab_size != tgt_vocab_size:
            raise ShapeError(f"Seq2SeqTransformer: share_embeddings needs one vocabulary, got "
                             f"src_vocab_size={src_vocab_size}, tgt_vocab_size={tgt_vocab_size}")
        self.src_vocab_size = src_vocab_size
        self.tgt_vocab_size = tgt_vocab_size
        self.d_model = d_model
        self.pad_idx = pad_idx
        self.src_tok_emb = TokenEmbedding(src_vocab_size, d_model, padding_idx=pad_idx)
        self.tgt_tok_emb = TokenEmbedding(tgt_vocab_size, d_model, padding_idx=pad_idx)
        self.positional_encoding = PositionalEncoding(d_model, dropout, max_len, batch_first=True)
        self.transformer = Transformer(d_model, nhead, num_encoder_layers, num_decoder_layers,
                                       dim_feedforward, dropout, activation, layer_norm_eps,
                                       batch_first=True, norm_first=norm_first)
        # torch's nested-tensor inference path (Encoder) would zero the memory at padded
        # positions under no_grad only: this model's numbers do not depend on grad mode
        self.transformer.encoder.use_nested_tensor = False
        self.generator = Linear(d_model, tgt_vocab_size)
        self._reset_parameters()
        if share_embeddings:
            self.src_tok_emb.embedding.weight = self.tgt_tok_emb.embedding.weight
        if tie_weights:
            self.generator.weight = self.tgt_tok_emb.embedding.weight

    def _reset_parameters(self):
        """Xavier-uniform for every matrix (as the Annotated Transformer); padding rows zero."""
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)
        if self.pad_idx is not None:
            self.src_tok_emb.embedding.weight.array[self.pad_idx] = 0
            self.tgt_tok_emb.embedding.weight.array[self.pad_idx] = 0

    # ------------------------------------------------------------ the three stages
    def encode(self, src, src_padding_mask=None, attentions=None):
        """(B, S) ids -> memory (B, S, d_model). `attentions`: see Encoder.forward."""
        src = self._check_ids(src, "src", self.src_vocab_size)
        if src_padding_mask is None:
            src_padding_mask = self.padding_mask(src)
        x = self.positional_encoding(self.src_tok_emb(src))
        return self.transformer.encoder(x, src_key_padding_mask=src_padding_mask,
                                        attentions=attentions)

    def decode(self, tgt, memory, memory_padding_mask=None, tgt_padding_mask=None, cache=None,
               attentions=None):
        """(B, T) ids and memory -> decoder output (B, T, d_model), causal over the target.

        With a `cache` (DecoderCache) `tgt` holds only the new positions: earlier
        ones are read from the cache, and no causal mask is needed because the new
        positions come last. `attentions`: see Decoder.forward.
        """
        tgt = self._check_ids(tgt, "tgt", self.tgt_vocab_size)
        start = 0 if cache is None else cache.length
        x = self.positional_encoding(self.tgt_tok_emb(tgt), start=start)
        causal = cache is None or tgt.shape[1] > 1
        return self.transformer.decoder(x, memory, tgt_key_padding_mask=tgt_padding_mask,
                                        memory_key_padding_mask=memory_padding_mask,
                                        tgt_is_causal=causal, cache=cache, attentions=attentions)

    def forward(self, src, tgt, src_padding_mask=None, tgt_padding_mask=None,
                return_attention=False):
        """Teacher forcing: logits (B, T, tgt_vocab_size) for the token after each tgt position.

        Padding masks default to `ids == pad_idx`. With return_attention=True returns
        (logits, attentions): a dict from module path ("encoder.layers.0.self_attn",
        "decoder.layers.0.self_attn", "decoder.layers.0.multihead_attn", ...) to the
        per-head attention weights (B, nhead, T, S) of that layer, as
        MultiheadAttention(need_weights=True, average_attn_weights=False) returns them
        (rows: queries, columns: keys; before dropout).
        """
        src = self._check_ids(src, "src", self.src_vocab_size)
        tgt = self._check_ids(tgt, "tgt", self.tgt_vocab_size)
        if src.shape[0] != tgt.shape[0]:
            raise ShapeError(f"Seq2SeqTransformer: src {tuple(src.shape)} and tgt "
                             f"{tuple(tgt.shape)} have different batch sizes")
        if src_padding_mask is None:
            src_padding_mask = self.padding_mask(src)
        if tgt_padding_mask is None:
            tgt_padding_mask = self.padding_mask(tgt)
        if not return_attention:
            memory = self.encode(src, src_padding_mask)
            return self.generator(self.decode(tgt, memory, src_padding_mask, tgt_padding_mask))
        encoder, decoder = {}, {}
        memory = self.encode(src, src_padding_mask, attentions=encoder)
        out = self.decode(tgt, memory, src_padding_mask, tgt_padding_mask, attentions=decoder)
        attentions = {f"encoder.{name}": w for name, w in encoder.items()}
        attentions.update({f"decoder.{name}": w for name, w in decoder.items()})
        return self.generator(out), attentions

    # ------------------------------------------------------------ the decoding protocol
    def start_decoding(self, src, src_padding_mask=None):
        """Encode `src` (B, S) once; empty per-layer caches. -> Seq2SeqDecodingState."""
        src = self._check_ids(src, "src", self.src_vocab_size)
        if src_padding_mask is None:
            src_padding_mask = self.padding_mask(src)
        elif not isinstance(src_padding_mask, Tensor):
            src_padding_mask = Tensor(src_padding_mask, device=src.device)
        memory = self.encode(src, src_padding_mask)
        return Seq2SeqDecodingState(
            batch_size=src.shape[0], vocab_size=self.tgt_vocab_size,
            max_positions=self.positional_encoding.max_len, pad_symbol=self.pad_idx,
            device=memory.device, memory=memory, memory_mask=src_padding_mask,
            cache=DecoderCache(self.transformer.decoder.num_layers))

    def decode_step(self, state, tokens):
        """tokens (B, n) new target positions -> logits (B, n, tgt_vocab_size); caches grow."""
        out = self.decode(tokens, state.memory, state.memory_mask, cache=state.cache)
        return self.generator(out)

    def reorder_decoding_state(self, state, rows):
        """Keep, repeat or reorder the batch rows `rows` (B',) of the memory and caches."""
        return state.reorder(rows)

    # ------------------------------------------------------------ decoding
    def greedy_decode(self, src, max_len, start_symbol, end_symbol=None, src_padding_mask=None,
                      use_cache=True, return_logits=False, **options):
        return decoding.greedy_decode(self, src, max_len, start_symbol, end_symbol,
                                      src_padding_mask, use_cache, return_logits, **options)
    greedy_decode.__doc__ = decoding.greedy_decode.__doc__

    def sample(self, src, max_len, start_symbol, end_symbol=None, src_padding_mask=None,
               use_cache=True, return_logits=False, **options):
        return decoding.sample(self, src, max_len, start_symbol, end_symbol, src_padding_mask,
                               use_cache, return_logits, **options)
    sample.__doc__ = decoding.sample.__doc__

    def beam_search(self, src, beam_size=4, max_len=50, start_symbol=1, end_symbol=2,
                    length_penalty=0.6, src_padding_mask=None, use_cache=True, **options):
        return decoding.beam_search(self, src, beam_size, max_len, start_symbol, end_symbol,
                                    length_penalty, src_padding_mask, use_cache, **options)
    beam_search.__doc__ = decoding.beam_search.__doc__

    # ------------------------------------------------------------ helpers
    def padding_mask(self, ids):
        """(B, L) bool, True at padding (None when the model has no pad_idx)."""
        if self.pad_idx is None:
            return None
        return Tensor._make(ids.array == self.pad_idx, False, None)

    def _check_ids(self, ids, arg, vocab):
        return token_ids(ids, "Seq2SeqTransformer", arg, vocab, vocab_name=f"{arg}_vocab_size")

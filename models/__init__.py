"""The Transformer of Attention Is All You Need (installed as minigrad.models)."""
from .convert import from_torch, to_torch
from .decoding import (Decodable, DecoderCache, DecodingError, DecodingState, beam_search,
                       greedy_decode, sample)
from .seq2seq import Seq2SeqTransformer
from .transformer import (Decoder, DecoderLayer, Encoder, EncoderLayer, Transformer,
                          TransformerDecoder, TransformerEncoder,
                          generate_square_subsequent_mask)
from .gpt import GPT, GPTConfig
from .marian import MarianConfig, MarianMT

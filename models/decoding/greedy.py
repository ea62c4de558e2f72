"""Greedy search and sampling: one token per step, one loop for both.

Each step asks the model (through the protocol, see protocol.py) for the logits of
the token after every prefix, applies the shared constraints (processors.py), and
picks a token per row: the most likely one (greedy), or one drawn from the
softmax after temperature, top-k and top-p (sampling; temperature 0 is greedy).
A row ends at its end symbol (any of them, when several are given) and is filled
with the pad symbol afterwards; the loop stops when every row has ended.
"""
import numpy as np

from minigrad import backend

from . import arguments as check
from .processors import sample_from, warp
from .protocol import eval_mode, start


def greedy_decode(model, src, max_len=None, start_symbol=None, end_symbol=None,
                  src_padding_mask=None, use_cache=True, return_logits=False, *, prompt=None,
                  max_new_tokens=None, pad_symbol=None, bad_words_ids=None, min_length=0,
                  forced_eos_token_id=None, renormalize_logits=False):
    """Pick the most likely next token at every step (transformers' greedy search).

    model: any model with the decoding protocol (protocol.Decodable).
    src: the inputs of model.start_decoding: the source ids (B, S) of an
        encoder-decoder, or a tuple of positional inputs; src_padding_mask is passed
        on as a keyword when given.
    max_len: the longest output, start symbol / prompt included (as in the Annotated
        Transformer and transformers' max_length); or give max_new_tokens instead.
    start_symbol: the first token of every output; or `prompt`, int ids (B, n) fed
        first (a decoder-only model's prompt, or several forced first tokens).
    end_symbol: None (never stop early), a token id, or a list of them (stop tokens).
    pad_symbol: fills rows after their end; default the state's pad_symbol, else the
        (first) end symbol.
    bad_words_ids, min_length, forced_eos_token_id, renormalize_logits: as
        transformers' generate (processors.py; renormalizing changes no greedy choice).
    use_cache=False recomputes the whole prefix every step (the reference for tests).

    Returns ids (B, L) int64, prompt first; with return_logits=True also the raw
    logits (B, L - n, V) that chose each generated token. Raises DecodingError on
    a bad argument, before decoding.
    """
    return _decode("greedy_decode", model, src, src_padding_mask, use_cache, return_logits,
                   prompt, start_symbol, max_len, max_new_tokens, end_symbol, pad_symbol,
                   bad_words_ids, min_length, forced_eos_token_id, renormalize_logits,
                   choose=_argmax)


def sample(model, src, max_len=None, start_symbol=None, end_symbol=None, src_padding_mask=None,
           use_cache=True, return_logits=False, *, temperature=1.0, top_k=None, top_p=None,
           generator=None, prompt=None, max_new_tokens=None, pad_symbol=None, bad_words_ids=None,
           min_length=0, forced_eos_token_id=None, renormalize_logits=False):
    """Draw each next token from the model's distribution (transformers' do_sample=True).

    The logits are divided by `temperature` (0 means greedy: the most likely token),
    cut to the `top_k` most likely tokens (None or 0: no cut) and to the smallest set
    whose probability reaches `top_p` (nucleus sampling, Holtzman et al., 2019; None
    or 1: no cut), then one token is drawn per row. `generator`: a seed (int) or a
    numpy.random.Generator, for reproducible samples; default minigrad's CPU
    generator (seeded by minigrad.manual_seed). Every other argument and the result
    as greedy_decode.
    """
    op = "sample"
    temperature = check.real(op, "temperature", temperature, minimum=0.0)
    top_k = check.integer(op, "top_k", top_k, minimum=0, optional=True)
    top_p = check.real(op, "top_p", top_p, minimum=0.0, maximum=1.0, low_open=True, optional=True)
    if temperature == 0.0:
        choose = _argmax
    else:
        rng = _generator(op, generator)

        def choose(logits):
            return sample_from(warp(logits, temperature, top_k, top_p), rng)
    return _decode(op, model, src, src_padding_mask, use_cache, return_logits, prompt,
                   start_symbol, max_len, max_new_tokens, end_symbol, pad_symbol, bad_words_ids,
                   min_length, forced_eos_token_id, renormalize_logits, choose=choose)


def _argmax(logits):
    return logits.argmax(axis=-1).astype(np.int64)


def _generator(op, generator):
    if generator is None:
        return backend.generator("cpu")
    if isinstance(generator, np.random.Generator):
        return generator
    return np.random.default_rng(check.integer(op, "generator", generator, minimum=0))


def _decode(op, model, src, src_padding_mask, use_cache, return_logits, prompt, start_symbol,
            max_len, max_new_tokens, end_symbol, pad_symbol, bad_words_ids, min_length,
            forced_eos_token_id, renormalize_logits, choose):
    with eval_mode(model):
        stepper, ys, max_len, ends, fill, processors = start(
            op, model, src, src_padding_mask, use_cache, prompt, start_symbol, max_len,
            max_new_tokens, end_symbol, pad_symbol, bad_words_ids, min_length,
            forced_eos_token_id, renormalize_logits)
        done = np.zeros(len(ys), dtype=bool)
        step_logits = []
        for _ in range(max_len - ys.shape[1]):
            logits = stepper.next_logits(ys)
            if return_logits:
                step_logits.append(logits.copy())
            token = choose(processors(ys, logits))
            if ends:
                token[done] = fill
            ys = np.concatenate([ys, token[:, None]], axis=1)
            if ends:
                done |= np.isin(token, ends)
                if done.all():
                    break
    if return_logits:
        v = step_logits[0].shape[-1] if step_logits else 0
        return ys, (np.stack(step_logits, axis=1) if step_logits else np.zeros((len(ys), 0, v)))
    return ys

"""Bad decoding arguments fail before decoding, with a DecodingError that names the decoder,
the argument, what it got and what it expected (issue 20, "Inputs that slip through")."""
import numpy as np
import pytest

from minigrad.models import DecodingError, Seq2SeqTransformer

START, END = 1, 2
SRC = np.array([[3, 4, 5]])


def _model(pad_idx=0, max_len=64):
    return Seq2SeqTransformer(9, 9, d_model=16, nhead=2, num_encoder_layers=1,
                              num_decoder_layers=1, dim_feedforward=16, pad_idx=pad_idx,
                              max_len=max_len)


def _greedy(m, **kw):
    return m.greedy_decode(SRC, kw.pop("max_len", 5), kw.pop("start_symbol", START), **kw)


def _beam(m, **kw):
    return m.beam_search(SRC, **kw)


def _sample(m, **kw):
    return m.sample(SRC, kw.pop("max_len", 5), kw.pop("start_symbol", START), **kw)


CASES = [
    (dict(max_len=2.5), "max_len", "2.5", "integer"),
    (dict(max_len=1), "max_len", "1", ">= 2"),
    (dict(start_symbol=1.7), "start_symbol", "1.7", "integer"),
    (dict(start_symbol=-1), "start_symbol", "-1", ">= 0"),
    (dict(start_symbol=9), "start_symbol", "9", "[0, 9)"),
    (dict(end_symbol=9), "end_symbol", "9", "[0, 9)"),
    (dict(end_symbol=[2, 40]), "end_symbol", "40", "[0, 9)"),
    (dict(end_symbol=2.0), "end_symbol", "2.0", "integer"),
    (dict(pad_symbol=10), "pad_symbol", "10", "[0, 9)"),
    (dict(max_len=100), "max_len", "100", "64"),             # beyond the positional table
    (dict(max_new_tokens=0), "max_new_tokens", "0", ">= 1"),
    (dict(bad_words_ids=[3]), "bad_words_ids", "[3]", "lists"),
    (dict(prompt=np.array([[1.5]])), "prompt", "float", "integer"),
]


@pytest.mark.parametrize("decode", [_greedy, _beam, _sample], ids=["greedy", "beam", "sample"])
@pytest.mark.parametrize("kwargs,name,got,expected", CASES,
                         ids=[f"{c[1]}={c[2]}" for c in CASES])
def test_bad_arguments_name_the_argument_what_it_got_and_what_was_expected(
        decode, kwargs, name, got, expected):
    model = _model()
    calls = []
    model.decode_step = lambda state, tokens: calls.append(1)    # must never be reached
    with pytest.raises(DecodingError) as err:
        decode(model, **dict(kwargs))
    message = str(err.value)
    op = {"_greedy": "greedy_decode", "_beam": "beam_search", "_sample": "sample"}[decode.__name__]
    assert message.startswith(op) and name in message and got in message \
        and expected in message, message
    assert not calls


@pytest.mark.parametrize("kwargs,name", [
    (dict(beam_size=2.5), "beam_size"), (dict(beam_size=0), "beam_size"),
    (dict(length_penalty=float("nan")), "length_penalty"),
    (dict(length_penalty="0.6"), "length_penalty"), (dict(style="fast"), "style"),
    (dict(early_stopping="sometimes"), "early_stopping")])
def test_bad_beam_arguments(kwargs, name):
    with pytest.raises(DecodingError, match=f"beam_search: {name}"):
        _model().beam_search(SRC, **kwargs)


def test_no_pad_and_no_end_symbol_decodes_to_max_len():
    """pad_idx=None with no end symbol used to crash: nothing ends, so nothing needs filling."""
    model = _model(pad_idx=None)
    assert model.greedy_decode(SRC, 5, START).shape == (1, 5)
    ids, scores = model.beam_search(SRC, 2, 5, START, None)
    assert ids.shape == (1, 5) and np.isfinite(scores).all()
    ids, _ = model.beam_search(SRC, 2, 5, START, None, style="hf")
    assert ids.shape == (1, 5)


"""MarianTokenizer against transformers.MarianTokenizer on a Korean-English folder whose
SentencePiece models are trained by the test."""
import json

import numpy as np
import pytest

from minigrad.models.marian_tokenizer import MarianTokenizer, TokenizerError

from marian_fixtures import ENGLISH, KOREAN, spm_pieces, write_tokenizer

spm = pytest.importorskip("sentencepiece")

SENTENCES = KOREAN + ENGLISH + [
    "개가 물었다", "The dog", "", "  spaces   around  ", "개 dog 사람 man",
    "unseen characters: ☃ 猫 é", "Mixed </s> special <unk> tokens <pad> in text",
    ">>kor<< 개가 사람을 물었다.", ">>eng<< The dog.", "punctuation , . ! ? 's n't",
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """source.spm (Korean), target.spm (English) and one joint vocab.json laid out as Marian's
    converter writes it: </s> 0, <unk> 1, the pieces, a language code, <pad> last. Two
    source pieces are left out of the vocabulary, so that they must become <unk>."""
    path = tmp_path_factory.mktemp("marian_tok")
    write_tokenizer(path)
    return path


@pytest.fixture(scope="module")
def separate_folder(folder, tmp_path_factory):
    """The same SentencePiece models with separate_vocabs: vocab.json for the source
    pieces, target_vocab.json (other ids) for the target pieces."""
    path = tmp_path_factory.mktemp("marian_tok_separate")
    for name in ("source.spm", "target.spm"):
        (path / name).write_bytes((folder / name).read_bytes())
    for name, model in (("vocab.json", "source.spm"), ("target_vocab.json", "target.spm")):
        pieces = spm_pieces((folder / model).read_bytes())
        vocab = {"</s>": 0, "<unk>": 1, **{p: i + 2 for i, p in enumerate(pieces)}}
        vocab["<pad>"] = len(vocab)
        (path / name).write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (path / "tokenizer_config.json").write_text(json.dumps({"separate_vocabs": True}))
    return path


@pytest.fixture(scope="module")
def reference(folder):
    transformers = pytest.importorskip("transformers")
    with pytest.warns(UserWarning) if _missing_sacremoses() else _nothing():
        return transformers.MarianTokenizer.from_pretrained(str(folder))


def _missing_sacremoses():
    try:
        import sacremoses  # noqa: F401
    except ImportError:
        return True
    return False


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_source_ids_match_transformers(folder, reference):
    tok = MarianTokenizer.from_pretrained(folder)
    for text in SENTENCES:
        assert tok.tokenize(text) == reference.tokenize(text), text
        assert tok.encode(text) == reference(text)["input_ids"], text


def test_target_ids_match_transformers(folder, reference):
    tok = MarianTokenizer.from_pretrained(folder)
    for text in SENTENCES:
        assert tok.encode(text, target=True) == reference(text_target=text)["input_ids"], text


def test_batch_is_padded_like_transformers(folder, reference):
    tok = MarianTokenizer.from_pretrained(folder)
    got = tok(KOREAN[:3] + ["개"])
    want = reference(KOREAN[:3] + ["개"], padding=True, return_tensors="np")
    np.testing.assert_array_equal(got["input_ids"], want["input_ids"])
    np.testing.assert_array_equal(got["attention_mask"], want["attention_mask"])
    assert got["input_ids"].dtype == np.int64


@pytest.mark.parametrize("skip", [True, False])
def test_decode_matches_transformers(folder, reference, skip):
    tok = MarianTokenizer.from_pretrained(folder)
    rng = np.random.default_rng(0)
    sequences = [reference(text_target=t)["input_ids"] for t in SENTENCES]
    sequences += [[tok.pad_token_id] + s for s in sequences[:4]]          # as generate returns
    sequences += [list(rng.integers(0, tok.vocab_size, size=n)) for n in (1, 5, 12, 30)]
    for ids in sequences:
        assert tok.decode(ids, skip_special_tokens=skip) == \
            reference.decode(ids, skip_special_tokens=skip), ids
    assert tok.decode(tok.encode("개가 사람을 물었다."), skip_special_tokens=True) == \
        "개가 사람을 물었다."


def test_separate_vocabularies_match_transformers(separate_folder):
    transformers = pytest.importorskip("transformers")
    with pytest.warns(UserWarning) if _missing_sacremoses() else _nothing():
        reference = transformers.MarianTokenizer.from_pretrained(str(separate_folder))
    tok = MarianTokenizer.from_pretrained(separate_folder)
    assert tok.separate_vocabs
    for text in SENTENCES:
        assert tok.encode(text) == reference(text)["input_ids"], text
        target = reference(text_target=text)["input_ids"]
        assert tok.encode(text, target=True) == target, text
        for skip in (True, False):
            assert tok.decode(target, skip_special_tokens=skip) == \
                reference.decode(target, skip_special_tokens=skip), text


def test_missing_files_are_reported(tmp_path, folder):
    with pytest.raises(TokenizerError, match="vocab.json"):
        MarianTokenizer.from_pretrained(tmp_path)
    (tmp_path / "vocab.json").write_text(json.dumps({"</s>": 0}))
    with pytest.raises(TokenizerError, match="<unk>"):
        MarianTokenizer.from_pretrained(tmp_path)
    (tmp_path / "vocab.json").write_text(json.dumps({"<unk>": 0}))
    with pytest.raises(TokenizerError, match="</s>"):
        MarianTokenizer.from_pretrained(tmp_path)
    (tmp_path / "vocab.json").write_text(json.dumps({"</s>": 0, "<unk>": 1}))
    with pytest.raises(TokenizerError, match="source.spm"):
        MarianTokenizer.from_pretrained(tmp_path)

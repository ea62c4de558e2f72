"""The tokenizer of Marian (opus-mt) folders: SentencePiece pieces, Marian's own ids.

A Marian folder holds two SentencePiece models, `source.spm` and `target.spm`, and
`vocab.json`, the model's vocabulary: piece -> id (with a separate
`target_vocab.json` when `separate_vocabs`). The SentencePiece models only cut
text into pieces; their own piece numbers are not the model's ids. Text becomes
ids as transformers.MarianTokenizer makes them:

    ">>kor<< text"  ->  [">>kor<<"] + sentencepiece pieces of "text"  ->  vocab.json ids + [</s>]

- the special tokens (</s>, <unk>, <pad>) written in the text are kept whole, and
  keep their vocab.json ids on the target side too (as in transformers);
- a leading language code >>xx<< (multilingual models) is one token;
- a piece missing from vocab.json becomes <unk>.
Decoding maps ids back to pieces (vocab.json, else the SentencePiece model),
skips the special tokens when asked, and lets SentencePiece join the pieces
(with the source model when the vocabulary is shared, as transformers does).

`sentencepiece` is an optional dependency: `pip install minigrad[text]`.
"""
import os
import re

import numpy as np

from minigrad.errors import MinigradError

from .hf import read_json


class TokenizerError(MinigradError, ValueError):
    """A Marian tokenizer folder that is missing files or does not fit together."""


def _sentencepiece():
    try:
        import sentencepiece
    except ImportError:
        raise TokenizerError("MarianTokenizer needs the sentencepiece package: "
                             "pip install sentencepiece (or pip install minigrad[text])") from None
    return sentencepiece


def _read_json(path):
    return read_json(path, "MarianTokenizer", TokenizerError)


def _load_spm(path):
    spm = _sentencepiece().SentencePieceProcessor()
    if not os.path.isfile(path):
        raise TokenizerError(f"MarianTokenizer: no SentencePiece model at {path!r}")
    try:
        spm.Load(os.fspath(path))
    except (OSError, RuntimeError) as e:
        raise TokenizerError(f"MarianTokenizer: {path!r} is not a SentencePiece model: {e}") \
            from None
    return spm


def clean_up_tokenization(text):
    """Hugging Face's clean-up of spaces before punctuation and English contractions."""
    for before, after in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"),
                          (" n't", "n't"), (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"),
                          (" 're", "'re")):
        text = text.replace(before, after)
    return text


class MarianTokenizer:
    """Text <-> ids for a Marian model, the same pieces and ids as transformers.MarianTokenizer.

    MarianTokenizer.from_pretrained(folder), or give the files directly. Raises
    TokenizerError for missing or unreadable files and a vocabulary without <unk>.
    """

    def __init__(self, source_spm, target_spm, vocab, target_vocab_file=None,
                 separate_vocabs=False, unk_token="<unk>", eos_token="</s>", pad_token="<pad>",
                 clean_up_tokenization_spaces=False):
        self.encoder = _read_json(vocab)
        for token in (unk_token, eos_token):
            if token not in self.encoder:
                raise TokenizerError(f"MarianTokenizer: {token!r} is not in {vocab!r}")
        self.separate_vocabs = bool(separate_vocabs)
        if self.separate_vocabs:
            if target_vocab_file is None:
                raise TokenizerError("MarianTokenizer: separate_vocabs needs target_vocab.json")
            self.target_encoder = _read_json(target_vocab_file)
        else:
            self.target_encoder = self.encoder
        self.decoder = {i: piece for piece, i in self.target_encoder.items()}
        self.spm_source = _load_spm(source_spm)
        self.spm_target = _load_spm(target_spm)
        self.unk_token, self.eos_token, self.pad_token = unk_token, eos_token, pad_token
        self.clean_up_tokenization_spaces = bool(clean_up_tokenization_spaces)
        # the special tokens keep their vocab.json ids on the target side too (as in
        # transformers, and as the model's eos / pad ids are)
        self.special_ids = {t: self.encoder[t] for t in (eos_token, unk_token, pad_token)
                            if t in self.encoder}
        self.special_tokens = list(self.special_ids)
        self._special_by_id = {i: t for t, i in self.special_ids.items()}
        # longest first, so that a special token that contains another is matched whole
        self._special_split = re.compile("(" + "|".join(
            re.escape(t) for t in sorted(self.special_tokens, key=len, reverse=True)) + ")")

    @classmethod
    def from_pretrained(cls, folder):
        """From a Hugging Face Marian folder (source.spm, target.spm, vocab.json,
        tokenizer_config.json when present)."""
        folder = os.fspath(folder)
        path = lambda name: os.path.join(folder, name)
        settings = {}
        if os.path.isfile(path("tokenizer_config.json")):
            config = _read_json(path("tokenizer_config.json"))
            settings = {k: config[k] for k in ("separate_vocabs", "unk_token", "eos_token",
                                               "pad_token", "clean_up_tokenization_spaces")
                        if isinstance(config.get(k), (str, bool))}
        target_vocab = path("target_vocab.json") if os.path.isfile(path("target_vocab.json")) \
            else None
        return cls(path("source.spm"), path("target.spm"), path("vocab.json"), target_vocab,
                   **settings)

    # ------------------------------------------------------------ ids of the special tokens
    @property
    def eos_token_id(self):
        return self.special_ids[self.eos_token]

    @property
    def pad_token_id(self):
        return self.special_ids.get(self.pad_token)

    @property
    def unk_token_id(self):
        return self.special_ids[self.unk_token]

    @property
    def vocab_size(self):
        return len(self.encoder)

    # ------------------------------------------------------------ text -> ids
    def tokenize(self, text, target=False):
        """The pieces of `text` (source side, or target side with target=True)."""
        spm = self.spm_target if target else self.spm_source
        pieces = []
        for chunk in self._special_split.split(text):
            if not chunk:
                continue
            if chunk in self.special_tokens:
                pieces.append(chunk)
                continue
            if chunk.startswith(">>") and (end := chunk.find("<<")) != -1:    # language code
                pieces.append(chunk[:end + 2])
                chunk = chunk[end + 2:]
            pieces.extend(spm.encode(chunk, out_type=str))
        return pieces

    def convert_tokens_to_ids(self, tokens, target=False):
        vocab = self.target_encoder if target else self.encoder
        unk = self.special_ids[self.unk_token]
        return [self.special_ids[t] if t in self.special_ids else vocab.get(t, unk)
                for t in tokens]

    def encode(self, text, target=False, add_special_tokens=True):
        """One text -> its ids, ending with </s> (a target sentence with target=True)."""
        ids = self.convert_tokens_to_ids(self.tokenize(text, target), target)
        return ids + [self.eos_token_id] if add_special_tokens else ids

    def __call__(self, texts, target=False, add_special_tokens=True):
        """A batch of texts -> {"input_ids": (B, L) int64, "attention_mask": (B, L) int64},
        padded at the end with <pad> (mask 0)."""
        if isinstance(texts, str):
            texts = [texts]
        rows = [self.encode(t, target, add_special_tokens) for t in texts]
        width = max((len(r) for r in rows), default=0)
        ids = np.full((len(rows), width), self.pad_token_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = r
            mask[i, :len(r)] = 1
        return {"input_ids": ids, "attention_mask": mask}

    # ------------------------------------------------------------ ids -> text
    def convert_ids_to_tokens(self, ids, skip_special_tokens=False):
        skip = set(self._special_by_id) if skip_special_tokens else set()
        spm = self.spm_target if self.separate_vocabs else self.spm_source
        tokens = []
        for i in (int(x) for x in ids):
            if i in skip:
                continue
            piece = self._special_by_id.get(i, self.decoder.get(i))
            if piece is None:              # not in the vocabulary: the SentencePiece piece
                piece = spm.IdToPiece(i) if 0 <= i < spm.GetPieceSize() else ""
            tokens.append(piece or self.unk_token)
        return tokens

    def decode(self, ids, skip_special_tokens=False, clean_up_tokenization_spaces=None):
        """ids (a list or 1-d array) -> text."""
        spm = self.spm_target if self.separate_vocabs else self.spm_source
        text, run = "", []
        for token in self.convert_ids_to_tokens(ids, skip_special_tokens):
            if token in self.special_tokens:
                text += spm.decode_pieces(run) + token + " "
                run = []
            else:
                run.append(token)
        text = (text + spm.decode_pieces(run)).replace("\u2581", " ").strip()
        clean = self.clean_up_tokenization_spaces if clean_up_tokenization_spaces is None \
            else clean_up_tokenization_spaces
        return clean_up_tokenization(text) if clean else text

    def batch_decode(self, sequences, skip_special_tokens=False, clean_up_tokenization_spaces=None):
        return [self.decode(s, skip_special_tokens, clean_up_tokenization_spaces)
                for s in sequences]

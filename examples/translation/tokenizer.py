"""One joint SentencePiece model for both languages (the paper's shared vocabulary,
section 3.4): trained on the training split's sources and targets together, so one
embedding matrix serves encoder, decoder and generator.

Ids 0-3 are fixed to what the examples use: 0 padding, 1 start (<s>), 2 end (</s>),
3 unknown; the model's pieces follow.
"""
import io
import os

from support.cli import ExampleError
from support.data import END, PAD, START

UNK = 3


def _spm():
    try:
        import sentencepiece
    except ImportError:
        raise ExampleError("the translation example needs sentencepiece and sacrebleu: "
                           "pip install -e \".[text]\"") from None
    return sentencepiece


def train_tokenizer(sentences, path, vocab_size=8000, model_type="bpe"):
    """Train a SentencePiece model on `sentences` (both languages) and write it to
    `path` (a .model file). A corpus too small for `vocab_size` gets the largest
    vocabulary it supports (SentencePiece's hard_vocab_limit=False). Returns a Tokenizer."""
    spm = _spm()
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=model, vocab_size=vocab_size,
        model_type=model_type, character_coverage=0.9995, pad_id=PAD, bos_id=START,
        eos_id=END, unk_id=UNK, hard_vocab_limit=False,
        input_sentence_size=0, minloglevel=2, num_threads=1)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(model.getvalue())
    os.replace(tmp, path)
    return Tokenizer(path)


class Tokenizer:
    """encode(text) -> ids (no start/end), decode(ids) -> detokenized text, pieces(ids)."""

    def __init__(self, path):
        spm = _spm()
        if not os.path.exists(path):
            raise ExampleError(f"no tokenizer at {path}: run the data step first "
                               "(python examples/translate.py data)")
        self.path = path
        self.sp = spm.SentencePieceProcessor(model_file=path)

    def __len__(self):
        return self.sp.get_piece_size()

    def encode(self, texts):
        return self.sp.encode(list(texts), out_type=int)

    def decode(self, ids):
        """Detokenized text of one id sequence; stops at the end symbol, skips specials."""
        ids = [int(i) for i in ids]
        if END in ids:
            ids = ids[:ids.index(END)]
        return self.sp.decode([i for i in ids if i not in (PAD, START)])

    def pieces(self, ids):
        return [self.sp.id_to_piece(int(i)) for i in ids]

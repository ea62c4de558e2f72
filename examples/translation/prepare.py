"""The data step: Translation files (or a user's TSV) -> split TSV files and a joint
SentencePiece model, in one folder per language pair:

    DATA/en-de/train.tsv valid.tsv test.tsv   english<TAB>german, one pair a line
    DATA/en-de/spm.model                      the joint tokenizer (training split only)
    DATA/en-de/corpus.json                    counts, hashes, settings
"""
import json
import os

from support.cli import ExampleError

from . import corpus, fetch
from .tokenizer import train_tokenizer

SPLITS = ("train", "valid", "test")
TOKENIZER = "spm.model"


def pair_folder(data, pair):
    return os.path.join(data, pair)


def prepare(data, pairs=("en-de", "en-ko"), tsv=None, ddtp=None, vocab_size=8000,
            model_type="bpe", log=print, overwrite=False):
    """Build every pair's folder under `data`. The DDTP files are fetched with apt into
    `ddtp` (default DATA/ddtp) unless already there; with `tsv` the user's pairs are
    used instead (one pair, named by `pairs[0]`). A pair folder that already holds a
    tokenizer is refused (before any work) unless `overwrite`: new runs would get another
    vocabulary. Returns {pair: corpus.json dict}."""
    if not overwrite:
        for pair in pairs:
            check_not_prepared(data, pair)
    made = {}
    if tsv is not None:
        if len(pairs) != 1:
            raise ExampleError("--tsv gives one language pair: name it with --pair (e.g. en-fr)")
        made[pairs[0]] = _write(data, pairs[0], corpus.read_tsv(tsv), {"tsv": tsv},
                                vocab_size, model_type, log)
        return made
    ddtp = ddtp or os.path.join(data, "ddtp")
    languages = ["en"] + [p.split("-")[1] for p in pairs]
    for p in pairs:
        if not p.startswith("en-"):
            raise ExampleError(f"--pair {p}: the DDTP pairs English with a translation "
                               "(en-de, en-ko, ...)")
    os.makedirs(ddtp, exist_ok=True)
    fetch.fetch(ddtp, languages, log=log)
    hashes = fetch.check_hashes(ddtp, languages, log=log)
    english = corpus.parse_translation_file(fetch.translation_path(ddtp, "en"))
    for p in pairs:
        lang = p.split("-")[1]
        other = corpus.parse_translation_file(fetch.translation_path(ddtp, lang))
        pairs_found = corpus.build_pairs(english, other, lang)
        source = {"ddtp": ddtp, "sha256": {"en": hashes["en"], lang: hashes[lang]}}
        made[p] = _write(data, p, pairs_found, source, vocab_size, model_type, log)
    return made


def check_not_prepared(data, pair):
    """An ExampleError if the pair's folder already holds a tokenizer (spm.model)."""
    path = os.path.join(pair_folder(data, pair), TOKENIZER)
    if os.path.exists(path):
        raise ExampleError(f"{path} already exists: the data step would replace it and the "
                           "splits (a run trained with it keeps its own copy, tokenizer.model, "
                           "but new runs would get another vocabulary); pass --overwrite to "
                           "replace them, or choose another --data folder")


def _write(data, pair, pairs, source, vocab_size, model_type, log):
    folder = pair_folder(data, pair)
    os.makedirs(folder, exist_ok=True)
    splits = corpus.split_pairs(pairs)
    for name in SPLITS:
        corpus.write_tsv(os.path.join(folder, f"{name}.tsv"), splits[name])
    train = splits["train"]
    if not train:
        raise ExampleError(f"{pair}: no training pairs")
    tokenizer = train_tokenizer([p.source for p in train] + [p.target for p in train],
                                os.path.join(folder, TOKENIZER), vocab_size, model_type)
    info = dict(source, pair=pair, pairs=len(pairs),
                **{name: len(splits[name]) for name in SPLITS},
                vocab_size=len(tokenizer), tokenizer=model_type)
    with open(os.path.join(folder, "corpus.json"), "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    log(f"{pair}: {len(pairs):,} pairs: {info['train']:,} train / {info['valid']:,} valid / "
        f"{info['test']:,} test; SentencePiece {model_type} of {len(tokenizer):,} pieces "
        f"-> {folder}")
    return info


def load_split(data, pair, name):
    """(sources, targets) of one split; a missing folder says to run the data step."""
    path = os.path.join(pair_folder(data, pair), f"{name}.tsv")
    if not os.path.exists(path):
        raise ExampleError(f"{path} is missing: run `python examples/translate.py data "
                           f"--data {data}` first")
    return corpus.read_split(path)

"""examples/dates.py: the generated data mean what they say, the held-out dates
are never trained on, and (slow) a reduced run learns and reports."""
import datetime
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples")         # on sys.path through conftest.py

import dates  # noqa: E402
from support.cli import ExampleError  # noqa: E402
from support.data import END, PAD, START, data_rng  # noqa: E402

# How each template field reads with datetime.strptime (C locale: English names).
# This parser is independent of the generator: it checks what the strings mean.
STRPTIME = {"{Dth}": "%d", "{DD}": "%d", "{D}": "%d", "{MM}": "%m", "{M}": "%m",
            "{Month}": "%B", "{Mon}": "%b", "{YYYY}": "%Y", "{YY}": "%y",
            "{Weekday}": "%A", "{Wkd}": "%a"}


def parse(text, fmt):
    """The date a human string denotes, read with strptime."""
    pattern = fmt
    for field, code in STRPTIME.items():
        pattern = pattern.replace(field, code)
    text = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text, flags=re.IGNORECASE)   # 3rd -> 3
    return datetime.datetime.strptime(text, pattern).date()


SAMPLE_DATES = [datetime.date(2021, 3, 3), datetime.date(1969, 1, 1), datetime.date(2068, 12, 31),
                datetime.date(2000, 2, 29), datetime.date(1999, 11, 12), datetime.date(2012, 7, 22),
                datetime.date(2031, 5, 31), datetime.date(1987, 10, 1)]


def test_the_issues_examples_are_written_exactly():
    d = datetime.date(2021, 3, 3)
    written = {dates.human(d, f) for f in dates.FORMATS}
    for text in ("3rd of March 2021", "Wed, Mar 3 2021", "03/03/21", "March 3, 2021",
                 "2021.03.03", "3 Mar 21"):
        assert text in written


@pytest.mark.parametrize("fmt", dates.FORMATS)
def test_every_format_parses_back_to_its_iso_date(fmt):
    rng = np.random.default_rng(0)
    every = dates.all_dates()
    for d in SAMPLE_DATES + [every[i] for i in rng.integers(0, len(every), size=40)]:
        for case in dates.CASES:
            text = dates.human(d, fmt, case)
            assert parse(text, fmt) == d, (text, fmt)
            assert decoded_round_trip(text) == text


def decoded_round_trip(text):
    return dates.decode(dates.encode(text, start=True))


def test_weekdays_are_the_real_ones():
    for d in SAMPLE_DATES:
        assert dates.human(d, "{Weekday}") == d.strftime("%A")
        assert dates.human(d, "{Wkd}") == d.strftime("%a")


def test_ordinals():
    assert [dates.ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31)] == \
        ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "31st"]


def test_held_out_dates_are_never_trained_on():
    train, test = dates.split_dates(seed=0)
    assert len(test) == len(set(test)) == dates.TEST_DATES == 1000
    assert not set(train) & set(test)
    assert len(train) + len(test) == len(dates.all_dates())
    held_out = dates.held_out_examples(seed=0)
    assert sorted(datetime.date.fromisoformat(iso) for _, iso in held_out) == sorted(test)
    # every training batch of a run draws from the training dates only
    test_iso = {d.isoformat() for d in test}
    for step in (1, 2, 500):
        rng = data_rng(0, stream=0, index=step)
        pairs = dates.random_examples(rng, train, 256)
        assert not {iso for _, iso in pairs} & test_iso
    # every format occurs in the test set
    fmts = {f for h, iso in held_out for f in dates.FORMATS if _written_as(h, iso, f)}
    assert fmts == set(dates.FORMATS)


def _written_as(text, iso, fmt):
    d = datetime.date.fromisoformat(iso)
    return any(dates.human(d, fmt, case) == text for case in dates.CASES)


def test_the_split_is_fixed_by_the_seed():
    assert dates.split_dates(0)[1] == dates.split_dates(0)[1]
    assert dates.split_dates(0)[1] != dates.split_dates(1)[1]


def test_batches_pad_sources_and_start_targets():
    pairs = [("3 Mar 21", "2021-03-03"), ("Wednesday, March 3rd, 2021", "2021-03-03")]
    batch = dates.to_batch(pairs, "cpu")
    src, tgt_in, tgt_out = batch.src.numpy(), batch.tgt_in.numpy(), batch.tgt_out.numpy()
    assert src.shape == (2, len(pairs[1][0]) + 1)
    assert (src[0, len(pairs[0][0]) + 1:] == PAD).all()
    assert (tgt_in[:, 0] == START).all() and (tgt_out[:, -1] == END).all()
    assert dates.decode(tgt_out[0]) == "2021-03-03"
    assert batch.n_tokens == 2 * 11


def test_unknown_character_is_a_clear_error():
    with pytest.raises(ExampleError, match="not in the vocabulary"):
        dates.encode("3 März 2021")


@pytest.mark.slow
def test_reduced_dates_run_learns_and_reports(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, "dates.py"), "--steps", "400",
                           "--out", str(out), "--no-progress", "--beam-size", "2"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["held_out_dates"] == 1000 and results["steps"] == 400
    assert results["greedy_exact_match"] >= 0.8, results
    assert results["beam_exact_match"] >= 0.8, results
    assert "greedy decoding: exact match" in proc.stdout
    assert "beam search (beam 2): exact match" in proc.stdout
    for name in ("loss.png", "cross_attention.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name

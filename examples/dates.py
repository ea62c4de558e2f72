"""Translate human-written dates into ISO dates, character by character.

    python examples/dates.py                 # CPU, a few minutes
    python examples/dates.py --device cuda   # needs CuPy and a GPU
    mpirun -n 2 python examples/dates.py --distributed    # data-parallel, 2 processes

    "3rd of March 2021"  -> 2021-03-03        "Wed, Mar 3 2021" -> 2021-03-03
    "03/03/21"           -> 2021-03-03        "March 3, 2021"   -> 2021-03-03

A real sequence-to-sequence task with held-out generalisation. Every date from
1969-01-01 to 2068-12-31 exists once; a fixed seed sets 1,000 of them aside as
the test set and training never sees those dates, in any format. The model must
therefore learn to read day, month and year wherever a format puts them (and
month names, ordinal suffixes, two-digit years), not memorise dates.

Conventions that make every string unambiguous: slashes put the month first
(US style: 03/04/21 is March 4th), dots with the year last put the day first
(04.03.2021 is also March 4th), and a two-digit year means 1969-2068 as in
Python's strptime (69 -> 1969, 68 -> 2068).

The data come from the standard library (datetime, with English names written
out here so the locale does not matter). Results: greedy and beam-search exact
match on the held-out dates, some examples and all the kinds of errors made,
and the cross-attention heat map of one held-out date.
"""
import argparse
import datetime
import os
import string
import sys
import time

import common  # first: it sets the BLAS thread count before NumPy loads

import numpy as np

import minigrad as mg
import minigrad.distributed as dist
from minigrad.models import Seq2SeqTransformer

# ------------------------------------------------------------------ the data
FIRST_DATE = datetime.date(1969, 1, 1)
LAST_DATE = datetime.date(2068, 12, 31)
TEST_DATES = 1000

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Each format is a template; the fields are filled in by `fields(date)`.
FORMATS = (
    "{Dth} of {Month} {YYYY}",             # 3rd of March 2021
    "the {Dth} of {Month}, {YYYY}",        # the 3rd of March, 2021
    "{Wkd}, {Mon} {D} {YYYY}",             # Wed, Mar 3 2021
    "{Weekday}, {Month} {Dth}, {YYYY}",    # Wednesday, March 3rd, 2021
    "{Weekday} {D} {Month} {YYYY}",        # Wednesday 3 March 2021
    "{Month} {D}, {YYYY}",                 # March 3, 2021
    "{Mon} {Dth}, {YYYY}",                 # Mar 3rd, 2021
    "{Mon} {D} '{YY}",                     # Mar 3 '21
    "{D} {Month} {YYYY}",                  # 3 March 2021
    "{DD} {Month} {YYYY}",                 # 03 March 2021
    "{D} {Mon} {YY}",                      # 3 Mar 21
    "{D}-{Mon}-{YYYY}",                    # 3-Mar-2021
    "{MM}/{DD}/{YY}",                      # 03/03/21
    "{M}/{D}/{YYYY}",                      # 3/3/2021
    "{DD}.{MM}.{YYYY}",                    # 03.03.2021
    "{YYYY}.{MM}.{DD}",                    # 2021.03.03
    "{YYYY}-{MM}-{DD}",                    # 2021-03-03
    "{YYYY}{MM}{DD}",                      # 20210303
)
CASES = ("as written", "lower", "upper")
CASE_WEIGHTS = (0.8, 0.1, 0.1)


def ordinal(day):
    """1 -> '1st', 2 -> '2nd', 3 -> '3rd', 11 -> '11th', 22 -> '22nd'."""
    suffix = "th" if 11 <= day % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return f"{day}{suffix}"


def fields(date):
    return {"D": str(date.day), "DD": f"{date.day:02d}", "Dth": ordinal(date.day),
            "M": str(date.month), "MM": f"{date.month:02d}",
            "Mon": MONTHS[date.month - 1][:3], "Month": MONTHS[date.month - 1],
            "YY": f"{date.year % 100:02d}", "YYYY": str(date.year),
            "Wkd": WEEKDAYS[date.weekday()][:3], "Weekday": WEEKDAYS[date.weekday()]}


def human(date, fmt, case="as written"):
    """The date written in format `fmt` (a template from FORMATS), in the given case."""
    text = fmt.format(**fields(date))
    return text.lower() if case == "lower" else text.upper() if case == "upper" else text


def all_dates():
    n = (LAST_DATE - FIRST_DATE).days + 1
    return [FIRST_DATE + datetime.timedelta(days=i) for i in range(n)]


def split_dates(seed):
    """(training dates, held-out dates): a fixed random TEST_DATES dates are held out."""
    dates = all_dates()
    order = common.data_rng(seed, stream=2).permutation(len(dates))
    test = [dates[i] for i in order[:TEST_DATES]]
    train = [dates[i] for i in order[TEST_DATES:]]
    return train, test


def random_examples(rng, dates, n):
    """n (human string, ISO string) pairs: random dates from `dates`, random formats and cases."""
    picks = rng.integers(0, len(dates), size=n)
    fmts = rng.integers(0, len(FORMATS), size=n)
    cases = rng.choice(len(CASES), size=n, p=CASE_WEIGHTS)
    return [(human(dates[i], FORMATS[f], CASES[c]), dates[i].isoformat())
            for i, f, c in zip(picks, fmts, cases)]


def held_out_examples(seed):
    """Every held-out date once, each in a format and case chosen with a fixed seed."""
    _, test = split_dates(seed)
    rng = common.data_rng(seed, stream=3)
    fmts = rng.integers(0, len(FORMATS), size=len(test))
    cases = rng.choice(len(CASES), size=len(test), p=CASE_WEIGHTS)
    return [(human(d, FORMATS[f], CASES[c]), d.isoformat()) for d, f, c in zip(test, fmts, cases)]


# ------------------------------------------------------------------ characters <-> ids
SPECIALS = ("<pad>", "<s>", "</s>")          # ids 0, 1, 2 = common.PAD, START, END
CHARS = " ',-./" + string.digits + string.ascii_lowercase + string.ascii_uppercase
VOCAB = SPECIALS + tuple(CHARS)
CHAR_ID = {c: i for i, c in enumerate(VOCAB)}


def encode(text, start=False):
    """Characters -> ids, then the end symbol (and the start symbol first if asked)."""
    try:
        ids = [CHAR_ID[c] for c in text]
    except KeyError as e:
        raise common.ExampleError(f"the character {e.args[0]!r} in {text!r} is not in the "
                                  f"vocabulary ({''.join(CHARS)!r})") from None
    return ([common.START] if start else []) + ids + [common.END]


def decode(ids):
    """Ids -> text, stopping at the end symbol; the start symbol is skipped."""
    out = []
    for i in ids:
        i = int(i)
        if i == common.END:
            break
        if i not in (common.START, common.PAD):
            out.append(VOCAB[i])
    return "".join(out)


def to_batch(pairs, device):
    src = common.pad_sequences([encode(h) for h, _ in pairs])
    tgt = common.pad_sequences([encode(iso, start=True) for _, iso in pairs])
    return common.Batch(src, tgt, device=device)


# ------------------------------------------------------------------ the model and the run
OUTPUT_LEN = 12        # start symbol, 10 characters, end symbol

DEFAULTS = dict(steps=2000, batch_size=64, d_model=64, nhead=4, layers=2, d_ff=256,
                dropout=0.0, norm="pre", warmup=200, lr_factor=0.5, label_smoothing=0.1,
                log_every=100, seed=0, out=os.path.join("runs", "dates"))


def build_model(config):
    return Seq2SeqTransformer(len(VOCAB), len(VOCAB), d_model=config["d_model"],
                              nhead=config["nhead"], num_encoder_layers=config["layers"],
                              num_decoder_layers=config["layers"],
                              dim_feedforward=config["d_ff"], dropout=config["dropout"],
                              norm_first=config["norm"] == "pre", pad_idx=common.PAD)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Train a character-level Transformer to turn human-written dates into "
                    "ISO dates; evaluate on 1,000 dates never seen in training.")
    common.add_common_arguments(parser, DEFAULTS)
    parser.add_argument("--beam-size", type=int, default=4, help="beam width (default 4)")
    parser.add_argument("--show", default=None, metavar="TEXT",
                        help="date to draw the cross-attention of (default: a held-out date "
                             "written like '3rd of March 2021')")
    return parser.parse_args(argv)


def translate(model, texts, device, beam_size=None, batch_size=250):
    """Human strings -> ISO strings, greedily or with beam search, in batches."""
    out = []
    for i in range(0, len(texts), batch_size):
        src = mg.tensor(common.pad_sequences([encode(t) for t in texts[i:i + batch_size]]),
                        device=device)
        if beam_size:
            # length_penalty=0: rank by log-probability alone (every answer has 10 characters)
            ids, _ = model.beam_search(src, beam_size=beam_size, max_len=OUTPUT_LEN,
                                       start_symbol=common.START, end_symbol=common.END,
                                       length_penalty=0.0)
        else:
            ids = model.greedy_decode(src, max_len=OUTPUT_LEN, start_symbol=common.START,
                                      end_symbol=common.END)
        out += [decode(row) for row in ids]
    return out


def report(name, pairs, predicted, show=8):
    """Print exact match, a few correct examples and the errors; return the exact match."""
    right = [p == iso for (_, iso), p in zip(pairs, predicted)]
    exact = float(np.mean(right))
    print(f"\n{name}: exact match {exact:.1%} ({sum(right)}/{len(pairs)} held-out dates)")
    width = max(len(h) for h, _ in pairs)
    for (h, iso), p, ok in list(zip(pairs, predicted, right))[:show]:
        print(f"  {h:<{width}} -> {p:<10}  {'ok' if ok else 'WRONG, expected ' + iso}")
    errors = [(h, iso, p) for (h, iso), p, ok in zip(pairs, predicted, right) if not ok]
    if errors:
        print(f"  errors ({len(errors)}):")
        for h, iso, p in errors[:20]:
            print(f"  {h:<{width}} -> {p:<10}  expected {iso}")
        if len(errors) > 20:
            print(f"  ... and {len(errors) - 20} more")
    return exact


def main(argv=None):
    started = time.perf_counter()
    args = parse_args(argv)
    device = common.resolve_device(args.device)
    common.check_common_arguments(args)
    common.check_positive(args, "beam_size")
    if args.show is not None:
        encode(args.show)                            # an unknown character fails here, early
    device = common.init_distributed(args, device)      # --distributed: join the mpirun job
    config = common.run_config(args, DEFAULTS)
    run = common.Run(args.out)

    train_dates, _ = split_dates(config["seed"])
    test = held_out_examples(config["seed"])
    model, optimizer, scheduler, start, history = common.make_training(
        config, build_model, device, args.resume)
    dist.print_main(f"dates: {len(train_dates):,} training dates x {len(FORMATS)} formats, "
                    f"{len(test):,} held-out dates; {model.num_parameters():,} parameters, "
                    f"vocabulary {len(VOCAB)}, device {device}"
                    f"{common.world_description()}")

    def next_batch(step):
        rng = common.data_rng(config["seed"], stream=0, index=step)
        return to_batch(random_examples(rng, train_dates, config["batch_size"]), device)

    train_seconds = common.train_and_checkpoint(run, model, optimizer, scheduler, config,
                                                next_batch, args, start, history)
    if not dist.is_main_process():       # rank 0 alone evaluates, draws and reports
        return 0

    texts = [h for h, _ in test]
    t_eval = time.perf_counter()
    greedy = report("greedy decoding", test, translate(model, texts, device))
    beam = report(f"beam search (beam {args.beam_size})", test,
                  translate(model, texts, device, beam_size=args.beam_size))
    eval_seconds = time.perf_counter() - t_eval

    files = [run.checkpoint,
             common.plot_loss_curve(history, run.path("loss.png"),
                                    title=f"Dates: training loss ({len(history)} steps)",
                                    floor=common.label_smoothing_floor(
                                        len(VOCAB), config["label_smoothing"]))]
    show = args.show
    if show is None:       # a held-out date whose day cannot be a month, in the format
        day = next(d for d in split_dates(config["seed"])[1] if d.day >= 13)
        show = human(day, FORMATS[0])
    out = model.greedy_decode(mg.tensor([encode(show)], device=device), max_len=OUTPUT_LEN,
                              start_symbol=common.START, end_symbol=common.END)[0]
    out = out[:list(out).index(common.END) + 1] if common.END in out else out
    src_ids = encode(show)
    weights = common.cross_attention(model, src_ids, out)
    label = {common.END: "</s>", common.START: "<s>", CHAR_ID[" "]: "\u2423"}
    files.append(common.plot_attention_heads(
        weights, [label.get(i, VOCAB[i]) for i in src_ids],
        [label.get(int(i), VOCAB[int(i)]) for i in out[1:]], run.path("cross_attention.png"),
        title=f"Dates: cross-attention of the last decoder layer for {show!r} -> "
              f"{decode(out)}"))
    print(f"\ncross-attention drawn for {show!r} -> {decode(out)}")

    common.finish_run(run, files, {"task": "dates", "greedy_exact_match": greedy,
                                   "beam_exact_match": beam, "beam_size": args.beam_size,
                                   "held_out_dates": len(test), "eval_seconds": eval_seconds},
                      started, train_seconds, start, history, device, config)
    return 0


if __name__ == "__main__":
    sys.exit(common.run_main(main))

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

The training loop is `train()` below, every step in view, as in copy_task.py; the
checkpoint is saved every --checkpoint-every steps, at the end and on Ctrl-C or
SIGTERM, and a diverging run stops with a message (see the README, "Runs that lose
nothing").
"""
import argparse
import datetime
import math
import os
import string
import sys
import time

import numpy as np

import minigrad as mg
import minigrad.distributed as dist
from minigrad.models import Seq2SeqTransformer
from minigrad.training import DivergenceMonitor, graceful_interrupt
from support import checkpoints, cli, parallel, plots
from support.data import END, PAD, START, Batch, data_rng, pad_sequences
from support.evaluation import cross_attention
from support.mixed_precision import MixedPrecision
from support.progress import Progress
from support.report import finish_run

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
    order = data_rng(seed, stream=2).permutation(len(dates))
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
    rng = data_rng(seed, stream=3)
    fmts = rng.integers(0, len(FORMATS), size=len(test))
    cases = rng.choice(len(CASES), size=len(test), p=CASE_WEIGHTS)
    return [(human(d, FORMATS[f], CASES[c]), d.isoformat()) for d, f, c in zip(test, fmts, cases)]


# ------------------------------------------------------------------ characters <-> ids
SPECIALS = ("<pad>", "<s>", "</s>")          # ids 0, 1, 2 = PAD, START, END
CHARS = " ',-./" + string.digits + string.ascii_lowercase + string.ascii_uppercase
VOCAB = SPECIALS + tuple(CHARS)
CHAR_ID = {c: i for i, c in enumerate(VOCAB)}


def encode(text, start=False):
    """Characters -> ids, then the end symbol (and the start symbol first if asked)."""
    try:
        ids = [CHAR_ID[c] for c in text]
    except KeyError as e:
        raise cli.ExampleError(f"the character {e.args[0]!r} in {text!r} is not in the "
                               f"vocabulary ({''.join(CHARS)!r})") from None
    return ([START] if start else []) + ids + [END]


def decode(ids):
    """Ids -> text, stopping at the end symbol; the start symbol is skipped."""
    out = []
    for i in ids:
        i = int(i)
        if i == END:
            break
        if i not in (START, PAD):
            out.append(VOCAB[i])
    return "".join(out)


def to_batch(pairs, device):
    src = pad_sequences([encode(h) for h, _ in pairs])
    tgt = pad_sequences([encode(iso, start=True) for _, iso in pairs])
    return Batch(src, tgt, device=device)


# ------------------------------------------------------------------ the model and the run
OUTPUT_LEN = 12        # start symbol, 10 characters, end symbol

DEFAULTS = dict(steps=2000, batch_size=64, d_model=64, nhead=4, layers=2, d_ff=256,
                dropout=0.0, norm="pre", warmup=200, lr_factor=0.5, label_smoothing=0.1,
                log_every=100, checkpoint_every=250, seed=0, out=os.path.join("runs", "dates"))
CLIP = 1.0          # the gradient norm is clipped to this
# The loss of a model that guesses each digit of the answer: a learning rate far too high
# leaves the model there (measured at 100x: 2.4-2.5 for 500 steps), while a healthy run is
# below 2.0 by step 40 (see minigrad.training.DivergenceMonitor).
CHANCE_LOSS = math.log(10)
DIVERGENCE_HINT = "try a smaller --lr-factor or a longer --warmup"
SCRIPT = "examples/dates.py"        # named in its checkpoints; --resume checks it


def build_model(config):
    return Seq2SeqTransformer(len(VOCAB), len(VOCAB), d_model=config["d_model"],
                              nhead=config["nhead"], num_encoder_layers=config["layers"],
                              num_decoder_layers=config["layers"],
                              dim_feedforward=config["d_ff"], dropout=config["dropout"],
                              norm_first=config["norm"] == "pre", pad_idx=PAD)


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Train a character-level Transformer to turn human-written dates into "
                    "ISO dates; evaluate on 1,000 dates never seen in training.")
    cli.add_common_arguments(parser, DEFAULTS)
    parser.add_argument("--beam-size", type=int, default=4, help="beam width (default 4)")
    parser.add_argument("--show", default=None, metavar="TEXT",
                        help="date to draw the cross-attention of (default: a held-out date "
                             "written like '3rd of March 2021')")
    return cli.parse_args(parser, argv)


def train(model, optimizer, scheduler, next_batch, start, history, config, args, run):
    """Train from step `start` to --steps, saving the checkpoint along the way and at the end.

    Returns None, or the exit status of the signal (130 for Ctrl-C, 143 for
    SIGTERM) that stopped the run after it saved the checkpoint. A diverging run
    raises minigrad.training.DivergenceError and keeps its last checkpoint.
    """
    amp = MixedPrecision.for_run(args, model)      # --amp: autocast + GradScaler, else float32
    monitor = DivergenceMonitor(chance_loss=CHANCE_LOSS, hint=DIVERGENCE_HINT)
    model.train()
    with Progress(args.steps, start, args.log_every, not args.no_progress) as progress, \
            graceful_interrupt() as interrupt:
        for step in range(start + 1, args.steps + 1):
            t0 = time.perf_counter()
            batch = next_batch(step)                  # a function of (seed, step) alone
            if dist.get_world_size() > 1:
                batch = batch.shard()                 # this process's share of the batch
            lr = optimizer.param_groups[0]["lr"]
            with amp.autocast():                      # --amp: matmuls in low precision
                logits = model(batch.src, batch.tgt_in)   # (B, T, vocabulary): next characters
                loss = mg.cross_entropy(logits.reshape(-1, len(VOCAB)),
                                        batch.tgt_out.reshape(-1), ignore_index=PAD,
                                        label_smoothing=config["label_smoothing"])
            amp.backward(loss)                        # scaled by the GradScaler under --amp
            grad_norm, skipped = amp.step(optimizer, model.parameters(), CLIP)
            scheduler.step()
            optimizer.zero_grad()
            # .item() waits for the step; with --distributed: the global batch's numbers, and
            # a stop (Ctrl-C or SIGTERM since the last step) on any rank stops every rank
            loss_value, n_tokens, stop = parallel.reduce_step(loss.item(), batch.n_tokens,
                                                              interrupt.requested)
            progress.update(step, loss_value, lr, grad_norm, n_tokens, time.perf_counter() - t0)
            history.append(loss_value, lr)
            # diverged: raise, keep the last save (a step the GradScaler skipped has an inf norm)
            monitor.check(step, loss_value, None if skipped else grad_norm)
            if stop or (args.checkpoint_every and step % args.checkpoint_every == 0):
                run.save(model, optimizer, scheduler, history, config,
                         extra=amp.checkpoint_extra())
            if stop:
                progress.print(checkpoints.stopped_message(interrupt, step, run.checkpoint))
                return interrupt.exit_code or 143
    history.tokens_per_second = progress.report_throughput()
    run.save(model, optimizer, scheduler, history, config, extra=amp.checkpoint_extra())
    return None


def translate(model, texts, device, beam_size=None, batch_size=250):
    """Human strings -> ISO strings, greedily or with beam search, in batches."""
    out = []
    for i in range(0, len(texts), batch_size):
        src = mg.tensor(pad_sequences([encode(t) for t in texts[i:i + batch_size]]),
                        device=device)
        if beam_size:
            # length_penalty=0: rank by log-probability alone (every answer has 10 characters)
            ids, _ = model.beam_search(src, beam_size=beam_size, max_len=OUTPUT_LEN,
                                       start_symbol=START, end_symbol=END,
                                       length_penalty=0.0)
        else:
            ids = model.greedy_decode(src, max_len=OUTPUT_LEN, start_symbol=START,
                                      end_symbol=END)
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
    device = cli.resolve_device(args.device)
    cli.check_common_arguments(args)
    cli.check_positive(args, "beam_size")
    if args.show is not None:
        encode(args.show)                            # an unknown character fails here, early
    device = parallel.init_distributed(args, device)      # --distributed: join the mpirun job
    config = checkpoints.run_config(args, DEFAULTS, SCRIPT)
    run = checkpoints.open_run(args, SCRIPT)

    train_dates, _ = split_dates(config["seed"])
    test = held_out_examples(config["seed"])
    model, optimizer, scheduler, start, history = checkpoints.make_training(
        config, build_model, device, args.resume)
    dist.print_main(f"dates: {len(train_dates):,} training dates x {len(FORMATS)} formats, "
                    f"{len(test):,} held-out dates; {model.num_parameters():,} parameters, "
                    f"vocabulary {len(VOCAB)}, device {device}"
                    f"{parallel.world_description()}")

    def next_batch(step):
        rng = data_rng(config["seed"], stream=0, index=step)
        return to_batch(random_examples(rng, train_dates, config["batch_size"]), device)

    t_train = time.perf_counter()
    stopped = train(model, optimizer, scheduler, next_batch, start, history, config, args, run)
    train_seconds = time.perf_counter() - t_train
    if stopped is not None:
        return stopped
    if not dist.is_main_process():       # rank 0 alone evaluates, draws and reports
        return 0

    texts = [h for h, _ in test]
    t_eval = time.perf_counter()
    greedy = report("greedy decoding", test, translate(model, texts, device))
    beam = report(f"beam search (beam {args.beam_size})", test,
                  translate(model, texts, device, beam_size=args.beam_size))
    eval_seconds = time.perf_counter() - t_eval

    files = [run.checkpoint,
             plots.plot_loss_curve(history, run.path("loss.png"),
                                    title=f"Dates: training loss ({len(history)} steps)",
                                    floor=plots.label_smoothing_floor(
                                        len(VOCAB), config["label_smoothing"]))]
    show = args.show
    if show is None:       # a held-out date whose day cannot be a month, in the format
        day = next(d for d in split_dates(config["seed"])[1] if d.day >= 13)
        show = human(day, FORMATS[0])
    out = model.greedy_decode(mg.tensor([encode(show)], device=device), max_len=OUTPUT_LEN,
                              start_symbol=START, end_symbol=END)[0]
    out = out[:list(out).index(END) + 1] if END in out else out
    src_ids = encode(show)
    weights = cross_attention(model, src_ids, out)
    label = {END: "</s>", START: "<s>", CHAR_ID[" "]: "\u2423"}
    files.append(plots.plot_attention_heads(
        weights, [label.get(i, VOCAB[i]) for i in src_ids],
        [label.get(int(i), VOCAB[int(i)]) for i in out[1:]], run.path("cross_attention.png"),
        title=f"Dates: cross-attention of the last decoder layer for {show!r} -> "
              f"{decode(out)}"))
    print(f"\ncross-attention drawn for {show!r} -> {decode(out)}")

    finish_run(run, files, {"task": "dates", "greedy_exact_match": greedy,
                            "beam_exact_match": beam, "beam_size": args.beam_size,
                            "held_out_dates": len(test), "eval_seconds": eval_seconds},
               started, train_seconds, start, history, device, config)
    return 0


if __name__ == "__main__":
    cli.one_blas_thread_unless_chosen()
    sys.exit(cli.run_main(main))

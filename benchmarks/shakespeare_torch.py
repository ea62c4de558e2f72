"""The PyTorch reference of examples/shakespeare.py: the same GPT, data, batches, schedule
and output, written in plain PyTorch, so the two learning curves and speeds compare.

    python benchmarks/shakespeare_torch.py                 # 15 minutes, like the example
    python benchmarks/shakespeare_torch.py --minutes 2 --out runs/torch_smoke

Same as the example: the flags and defaults (it reads them with the example's own
parser), the corpus, tokenizer and split (examples/shakespeare_data.py), the
training batches (batch `step` drawn from the seed and the step: both scripts see
the same windows in the same order), the fixed validation windows, GPT-2's
architecture and init (normal 0.02, residual projections scaled by
1/sqrt(2 n_layer), tied head), AdamW with decay on the matrices only, the warmup +
cosine schedule, gradient clipping at 1.0, the clock (training steps only) and
the log, validation and throughput lines. Different: the weights' random draws
(PyTorch's generator), so the curves agree in trend, not to the digit.
Torch uses one thread unless --threads says otherwise, as the example uses one
BLAS thread (compare like with like; give both more threads on a bigger machine
with OMP_NUM_THREADS / --threads).

Writes loss.png and results.json into --out (default runs/shakespeare_torch).
For the measured comparison run both back to back on a quiet machine:

    python examples/shakespeare.py --out runs/cmp_minigrad --no-progress | tee minigrad.log
    python benchmarks/shakespeare_torch.py --out runs/cmp_torch --no-progress | tee torch.log
    python benchmarks/shakespeare_torch.py --compare runs/cmp_minigrad runs/cmp_torch

(the last prints both runs' validation losses by training minute and their tok/s, and
draws runs/cmp_torch/compare.png).
"""
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "examples"))

import shakespeare  # noqa: E402  (the example: its flags, data, pictures and formats)
from support import cli, plots, report  # noqa: E402
from support.checkpoints import History, Run  # noqa: E402
from support.cli import ExampleError  # noqa: E402
from support.progress import Progress  # noqa: E402


class Block(nn.Module):
    """Pre-norm: x + attn(ln_1(x)), then x + mlp(ln_2(x)) (GPT-2, nanoGPT)."""

    def __init__(self, n_embd, n_head, dropout):
        super().__init__()
        self.n_head, self.dropout = n_head, dropout
        self.ln_1, self.ln_2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.mlp_proj = nn.Linear(4 * n_embd, n_embd)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.dropout if self.training else 0.0)
        x = x + self.drop(self.c_proj(a.transpose(1, 2).reshape(b, t, c)))
        return x + self.drop(self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh")))


class TorchGPT(nn.Module):
    def __init__(self, vocab_size, block_size, n_layer, n_head, n_embd, dropout):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab_size, n_embd), nn.Embedding(block_size, n_embd)
        self.drop = nn.Dropout(dropout)
        self.h = nn.ModuleList([Block(n_embd, n_head, dropout) for _ in range(n_layer)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight                      # weight tying
        for name, p in self.named_parameters():                    # GPT-2's init
            if name.endswith(("c_proj.weight", "mlp_proj.weight")):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * n_layer))
            elif p.dim() >= 2:
                nn.init.normal_(p, 0.0, 0.02)
            elif "ln_" not in name:
                nn.init.zeros_(p)

    def forward(self, idx, targets):
        pos = torch.arange(idx.shape[1])
        x = self.drop(self.wte(idx) + self.wpe(pos))
        for block in self.h:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))

    @torch.no_grad()
    def generate(self, ids, n, temperature, top_k, generator):
        for _ in range(n):
            x = self.drop(self.wte(ids[:, -self.wpe.num_embeddings:]))
            x = x + self.wpe(torch.arange(x.shape[1]))
            for block in self.h:
                x = block(x)
            logits = self.lm_head(self.ln_f(x))[:, -1] / max(temperature, 1e-6)
            if top_k:
                kth = torch.topk(logits, min(top_k, logits.shape[-1])).values[:, -1:]
                logits = logits.masked_fill(logits < kth, -float("inf"))
            nxt = torch.multinomial(F.softmax(logits, dim=-1), 1, generator=generator)
            ids = torch.cat([ids, nxt], dim=1)
        return ids


def cosine_with_warmup(warmup, total, min_ratio):
    """lr factor at a step: minigrad.optim.CosineWithWarmup's formula."""
    def factor(step):
        if step < warmup:
            return step / max(1, warmup)
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return min_ratio + (1 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
    return factor


def validation_loss(model, data):
    model.eval()
    with torch.no_grad():
        losses = [model(torch.from_numpy(x), torch.from_numpy(y)).item()
                  for x, y in data.val_batches]
    model.train()
    return float(np.mean(losses))


def compare(folders):
    """Print the validation losses and speeds of finished runs (their results.json) side
    by side, and draw their validation loss against training minutes into compare.png
    in the last folder. Returns the picture's path."""
    runs = report.read_results(folders)
    curves = []
    for folder, r in runs:
        name = r.get("framework", "minigrad")
        print(f"{folder} ({name}): {r['tokens_per_second'] or 0:,.0f} tok/s, "
              f"{r['steps']} steps")
        for v in r["validation"]:
            print(f"  {v['minutes']:6.2f} min  step {v['step']:>5}  validation loss "
                  f"{v['loss']:.4f} nats/token, {v['bpc']:.3f} bits/char")
        curves.append((f"{name} ({r['tokens_per_second'] or 0:,.0f} tok/s)",
                       [v["minutes"] for v in r["validation"]],
                       [v["loss"] for v in r["validation"]]))
    path = plots.plot_runs_over_time(curves, os.path.join(folders[-1], "compare.png"),
                                     "validation loss (nats per token)",
                                     "Shakespeare GPT: minigrad and PyTorch")
    print(f"written: {path}")
    return path


def main(argv=None):
    started = time.perf_counter()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--compare"]:
        compare(argv[1:])
        return 0
    threads = 1
    if "--threads" in argv:
        i = argv.index("--threads")
        threads = int(argv[i + 1])
        del argv[i:i + 2]
    if not any(a == "--out" or a.startswith("--out=") for a in argv):
        argv += ["--out", os.path.join("runs", "shakespeare_torch")]
    args = shakespeare.parse_args(argv)
    if args.resume or args.generate or args.device != "cpu":
        raise ExampleError("the PyTorch reference trains from scratch on the CPU only "
                           "(no --resume, --generate or --device)")
    torch.set_num_threads(threads)
    torch.manual_seed(args.seed)
    config = shakespeare.new_config(args)
    run = Run(args.out)
    data = shakespeare.Data(config)
    model = TorchGPT(data.tokenizer.vocab_size, config["block_size"], config["n_layer"],
                     config["n_head"], config["n_embd"], config["dropout"])
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": config["weight_decay"]},
                                   {"params": no_decay, "weight_decay": 0.0}],
                                  lr=config["lr"], betas=shakespeare.BETAS)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_with_warmup(
        config["warmup"], config["schedule_steps"], config["min_lr"] / config["lr"]))
    print(f"shakespeare (PyTorch {torch.__version__}, {threads} thread(s)): "
          f"{sum(p.numel() for p in model.parameters()):,} parameters, {config['n_layer']} "
          f"layers, {config['n_head']} heads, width {config['n_embd']}, context "
          f"{config['block_size']}; {config['tokenizer']} tokens (vocabulary "
          f"{data.tokenizer.vocab_size}): {len(data.train_ids):,} training, "
          f"{len(data.val_ids):,} validation")

    history = History()
    mark = args.eval_minutes * 60.0
    next_mark = mark
    t_train = time.perf_counter()
    with Progress(args.steps, 0, args.log_every, not args.no_progress,
                  budget_seconds=args.minutes * 60.0) as progress:
        for step in range(1, args.steps + 1):
            t0 = time.perf_counter()
            x, y = (torch.from_numpy(a) for a in data.batch(step, config))   # the same windows
            lr = optimizer.param_groups[0]["lr"]
            loss = model(x, y)
            loss.backward()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(),
                                                             shakespeare.GRAD_CLIP))
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            loss_value = loss.item()
            seconds = time.perf_counter() - t0
            history.train_seconds += seconds
            progress.update(step, loss_value, lr, grad_norm, x.numel(), seconds)
            history.append(loss_value, lr)
            out_of_time = progress.out_of_time
            if step % args.eval_every == 0 or history.train_seconds >= next_mark \
                    or out_of_time or step == args.steps:
                while history.train_seconds >= next_mark:
                    next_mark += mark
                loss_v = validation_loss(model, data)
                bpc = shakespeare.bits_per_character(loss_v, data.chars_per_token)
                minutes = history.train_seconds / 60
                history.evaluations.append({"step": step, "minutes": minutes, "loss": loss_v,
                                         "bpc": bpc})
                progress.print(f"step {step}: validation loss {loss_v:.4f} nats/token, "
                               f"{bpc:.3f} bits/char after {minutes:.2f} min of training")
            if out_of_time:
                progress.print(f"--minutes {args.minutes:g}: time is up after step {step}")
                break
    history.tokens_per_second = progress.report_throughput()
    train_seconds = time.perf_counter() - t_train

    prompt = data.tokenizer.encode(args.prompt)
    model.eval()
    out = model.generate(torch.from_numpy(prompt)[None], max(args.sample_length, 100),
                         args.temperature, args.top_k,
                         torch.Generator().manual_seed(args.seed))
    text = data.tokenizer.decode(out[0, len(prompt):].numpy())
    print(f"\nsample after {len(history)} steps:\n{args.prompt + text}")
    files = [plots.plot_loss_curve(
        history, run.path("loss.png"), f"Shakespeare GPT in PyTorch ({config['tokenizer']}): "
                                       f"{len(history)} steps",
        validation_key="loss", ylabel="cross-entropy (nats per token)")]
    last = history.evaluations[-1]
    report.finish_run(run, files, {"task": "shakespeare", "framework": f"torch {torch.__version__}",
                                   "threads": threads, "val_loss": last["loss"],
                                   "val_bpc": last["bpc"], "validation": history.evaluations,
                                   "total_train_seconds": history.train_seconds, "sample": text},
                      started, train_seconds, 0, history, "cpu", config)
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_main(main))

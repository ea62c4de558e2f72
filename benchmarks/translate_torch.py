"""The translation example's recipe in plain PyTorch: the reference for
examples/translate.py (issue 16).

    python examples/translate.py data                      # once: data/en-de/...
    python benchmarks/translate_torch.py --minutes 30 --out runs/translate_torch
    python examples/translate.py train --minutes 30 --out runs/translate_minigrad
    python benchmarks/translate_torch.py --compare runs/translate_minigrad runs/translate_torch

The same data files, the same SentencePiece model, the same batches (examples/
translation/batching.py: the same pairs in the same batches in the same order for
a seed), the same model (torch.nn.Transformer, post-norm, with the names of
minigrad's Seq2SeqTransformer: shared embeddings scaled by sqrt(d_model),
sinusoidal positions, tied generator) and the same recipe (Adam 0.9/0.98/1e-9,
Noam warmup, dropout 0.1, label smoothing 0.1, gradient clipping at 1.0), for
the same wall-clock budget. Validation and test translations decode the trained
weights through minigrad's greedy and beam search (models.convert.from_torch), so
the two runs differ in their training framework only: what is compared is the
training's speed (tokens/s) and the BLEU it reaches in the budget.
"""
import math
import os
import sys
import time

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "examples"))

import translate  # noqa: E402
from minigrad.models.convert import from_torch  # noqa: E402
from support.checkpoints import History, Run  # noqa: E402
from support.progress import Progress  # noqa: E402
from translation.batching import TokenBatches, source_ids, target_ids  # noqa: E402
from translation.prepare import load_split, pair_folder  # noqa: E402
from translation.tokenizer import Tokenizer  # noqa: E402
from translation.validation import Validation  # noqa: E402

PAD = translate.PAD


class TokenEmbedding(nn.Module):
    def __init__(self, vocab, d_model):
        super().__init__()
        self.embedding = nn.Embedding(vocab, d_model, padding_idx=PAD)
        self.scale = math.sqrt(d_model)

    def forward(self, ids):
        return self.embedding(ids) * self.scale


class Seq2Seq(nn.Module):
    """PyTorch's translation-tutorial model with minigrad's names and tying."""

    def __init__(self, c):
        super().__init__()
        v, d = c["vocab_size"], c["d_model"]
        self.src_tok_emb, self.tgt_tok_emb = TokenEmbedding(v, d), TokenEmbedding(v, d)
        self.transformer = nn.Transformer(d, c["nhead"], c["layers"], c["layers"], c["d_ff"],
                                          c["dropout"], batch_first=True,
                                          norm_first=c["norm"] == "pre")
        self.generator = nn.Linear(d, v)
        self.dropout = nn.Dropout(c["dropout"])
        position = torch.arange(5000).unsqueeze(1)
        div = torch.exp(torch.arange(0, d, 2) * (-math.log(10000.0) / d))
        pe = torch.zeros(5000, d)
        pe[:, 0::2], pe[:, 1::2] = torch.sin(position * div), torch.cos(position * div)
        self.register_buffer("pe", pe, persistent=False)
        for p in self.parameters():          # Xavier as minigrad's _reset_parameters
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        with torch.no_grad():
            self.tgt_tok_emb.embedding.weight[PAD].zero_()
        self.src_tok_emb.embedding.weight = self.tgt_tok_emb.embedding.weight
        self.generator.weight = self.tgt_tok_emb.embedding.weight

    def embed(self, emb, ids):
        return self.dropout(emb(ids) + self.pe[:ids.shape[1]])

    def forward(self, src, tgt):
        t = tgt.shape[1]
        causal = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)   # True: hidden
        out = self.transformer(self.embed(self.src_tok_emb, src), self.embed(self.tgt_tok_emb, tgt),
                               tgt_mask=causal, src_key_padding_mask=src == PAD,
                               tgt_key_padding_mask=tgt == PAD,
                               memory_key_padding_mask=src == PAD)
        return self.generator(out)


def to_minigrad(model, config):
    """The torch weights in minigrad's Seq2SeqTransformer (for the shared decoding code)."""
    mg_model = translate.build_model(config)
    state = from_torch({k: v for k, v in model.state_dict().items()})
    import minigrad as mg
    mg_model.load_state_dict({k: mg.tensor(v) for k, v in state.items()})
    return mg_model


def compare(folders):
    """Print finished runs (their results.json) side by side: throughput, test scores and
    the validation score at each evaluation; draw validation BLEU (chrF for Korean)
    against training minutes into compare.png in the last folder. Returns its path."""
    from support import report
    from support.plots import plot_runs_over_time
    from translation import scoring
    runs = report.read_results(folders)
    metric = scoring.main_score(runs[0][1].get("pair", "en-de").split("-")[-1])
    curves = []
    for folder, r in runs:
        name = r.get("framework", "minigrad").split()[0]
        print(f"{folder} ({r.get('framework', 'minigrad')}): "
              f"{r['tokens_per_second'] or 0:,.0f} tok/s, {r['steps']} steps in "
              f"{r['train_seconds'] / 60:.1f} min")
        for decoding, s in r["test"].items():
            print(f"  test {decoding:>7}: BLEU {s['bleu']:.2f} | chrF {s['chrf']:.2f}")
        for v in r["validation"]:
            print(f"  {v['train_seconds'] / 60:6.2f} min  step {v['step']:>5}  validation "
                  f"loss {v['valid_loss']:.4f}  greedy BLEU {v['bleu']:.2f}  chrF "
                  f"{v['chrf']:.2f}")
        curves.append((f"{name} ({r['tokens_per_second'] or 0:,.0f} tok/s)",
                       [v["train_seconds"] / 60 for v in r["validation"]],
                       [v[metric] for v in r["validation"]]))
    path = plot_runs_over_time(
        curves, os.path.join(folders[-1], "compare.png"),
        f"validation {'BLEU' if metric == 'bleu' else 'chrF'} (greedy)",
        f"Translation {runs[0][1].get('pair', '')}: minigrad and PyTorch")
    print(f"written: {path}")
    return path


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--compare"]:
        if len(argv) < 2:
            raise translate.ExampleError("--compare needs the output folders of finished runs")
        compare(argv[1:])
        return 0
    args = translate.parse_train_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    tokenizer = Tokenizer(os.path.join(pair_folder(args.data, args.pair), "spm.model"))
    config = {k: getattr(args, k) for k in ("d_model", "nhead", "layers", "d_ff", "dropout",
                                             "norm", "warmup", "lr_factor", "label_smoothing",
                                             "batch_size", "seed", "pair")}
    config["vocab_size"] = len(tokenizer)
    sources, targets = load_split(args.data, args.pair, "train")
    batches = TokenBatches([source_ids(s) for s in tokenizer.encode(sources)],
                           [target_ids(t) for t in tokenizer.encode(targets)],
                           config["batch_size"], config["seed"])
    model = Seq2Seq(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    d, w, f = config["d_model"], config["warmup"], config["lr_factor"]
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: f * d ** -0.5 * min(max(s, 1) ** -0.5, max(s, 1) * w ** -1.5))
    loss_fn = nn.CrossEntropyLoss(ignore_index=PAD, label_smoothing=config["label_smoothing"])
    run = Run(args.out)
    test_sources, test_refs = translate.load_test(args, args.pair)
    history = History()
    valid = Validation(tokenizer, *load_split(args.data, args.pair, "valid"), config, args,
                       "cpu", history)
    print(f"PyTorch reference {args.pair}: {sum(p.numel() for p in model.parameters()):,} "
          f"parameters, {len(batches):,} batches, {args.minutes:g} minutes")
    model.train()
    with Progress(args.steps, 0, args.log_every, not args.no_progress,
                  budget_seconds=60 * args.minutes) as progress:
        for step in range(1, args.steps + 1):
            t0 = time.perf_counter()
            batch = batches.batch(step)
            src, tgt = torch.from_numpy(batch.src_ids), torch.from_numpy(batch.tgt_ids)
            lr = optimizer.param_groups[0]["lr"]
            logits = model(src, tgt[:, :-1])
            loss = loss_fn(logits.reshape(-1, config["vocab_size"]), tgt[:, 1:].reshape(-1))
            loss.backward()
            grad_norm = float(nn.utils.clip_grad_norm_(model.parameters(), 1.0))
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            seconds = time.perf_counter() - t0
            progress.update(step, loss.item(), lr, grad_norm, batch.n_tokens, seconds)
            history.append(loss.item(), lr)
            done = progress.out_of_time
            if step % args.valid_every == 0 or done:
                progress.print(valid(to_minigrad(model, config), step, progress.run_time))
                model.train()
            if done:
                break
    tokens_per_second = progress.report_throughput()
    scores, _ = translate.evaluate(to_minigrad(model, config), tokenizer, test_sources,
                                   test_refs, args.beam, "cpu")
    for name, s in scores.items():
        print(f"  {name:>7}: BLEU {s['bleu']:.2f} | chrF {s['chrf']:.2f}")
    torch.save(model.state_dict(), run.path("model.pt"))
    run.write_results({"framework": "torch " + torch.__version__, "pair": args.pair,
                       "test": scores, "validation": valid.records, "steps": len(history),
                       "train_seconds": progress.run_time, "tokens_per_second": tokens_per_second,
                       "config": config})
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The Shakespeare GPT's training step, minigrad beside PyTorch, alternated in one process.

    python benchmarks/gpt_step.py                   # the example's defaults, 1 thread each
    python benchmarks/gpt_step.py --reps 20 --profile
    python benchmarks/gpt_step.py --config n_layer=2,batch_size=8,block_size=32

The models of examples/shakespeare.py (minigrad.models.GPT, build_optimizer's AdamW)
and of benchmarks/shakespeare_torch.py (TorchGPT, torch.optim.AdamW with the same
groups), one BLAS / torch thread each, on the same random character batch (vocabulary
65, as the character-level corpus). A step is what both training loops do: forward
with the loss, backward, clip_grad_norm_ at 1.0, AdamW step, zero_grad. The two
frameworks alternate step by step after a warm-up and the medians are reported, so a
noisy neighbour slows both alike; the ratio is the number to read. --profile adds
each framework's per-op breakdown (minigrad.profiler; torch.profiler).
"""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "examples"))
sys.path.insert(0, HERE)

VOCAB = 65          # the character-level corpus' vocabulary


def parse_config(text):
    import shakespeare
    cfg = dict(shakespeare.DEFAULTS, schedule_steps=shakespeare.DEFAULTS["steps"])
    for part in filter(None, (text or "").split(",")):
        key, _, value = part.partition("=")
        key = key.strip()
        if key not in ("n_layer", "n_head", "n_embd", "block_size", "batch_size", "dropout"):
            sys.exit(f"gpt_step: unknown config key {key!r}")
        cfg[key] = float(value) if key == "dropout" else int(value)
    return cfg


def make_steps(cfg):
    """The two training steps (closures) on one fixed batch."""
    import torch

    import minigrad as mg
    import shakespeare
    from shakespeare_torch import TorchGPT

    mg.set_num_threads(1)
    torch.set_num_threads(1)
    mg.manual_seed(0)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, VOCAB, (cfg["batch_size"], cfg["block_size"] + 1))
    x, y = ids[:, :-1], ids[:, 1:]

    m_model = shakespeare.build_model(cfg, VOCAB)
    m_model.train()
    m_opt, _ = shakespeare.build_optimizer(m_model, cfg)
    mx, my = mg.tensor(x), mg.tensor(y)

    t_model = TorchGPT(VOCAB, cfg["block_size"], cfg["n_layer"], cfg["n_head"], cfg["n_embd"],
                       cfg["dropout"])
    t_model.train()
    decay = [p for p in t_model.parameters() if p.dim() >= 2]
    no_decay = [p for p in t_model.parameters() if p.dim() < 2]
    t_opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg["weight_decay"]},
                               {"params": no_decay, "weight_decay": 0.0}],
                              lr=cfg["lr"], betas=shakespeare.BETAS)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def minigrad_step():
        _, loss = m_model(mx, my)
        loss.backward()
        float(mg.optim.clip_grad_norm_(m_model.parameters(), shakespeare.GRAD_CLIP))
        m_opt.step()
        m_opt.zero_grad()
        return loss.item()

    def torch_step():
        loss = t_model(tx, ty)
        loss.backward()
        float(torch.nn.utils.clip_grad_norm_(t_model.parameters(), shakespeare.GRAD_CLIP))
        t_opt.step()
        t_opt.zero_grad(set_to_none=True)
        return loss.item()

    return minigrad_step, torch_step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", help="overrides, e.g. n_layer=2,batch_size=8,block_size=32")
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="per-op breakdown of both")
    parser.add_argument("--keep-freed-memory", action="store_true",
                        help="minigrad.keep_freed_memory() first, as examples/shakespeare.py "
                             "does (process-wide: PyTorch's step here gains from it too)")
    args = parser.parse_args(argv)
    try:
        import torch  # noqa: F401  (only to say so early when it is missing)
    except ImportError:
        sys.exit("gpt_step: PyTorch is needed for the side-by-side benchmark: pip install torch")
    cfg = parse_config(args.config)
    if args.keep_freed_memory:
        import minigrad
        minigrad.keep_freed_memory()
    minigrad_step, torch_step = make_steps(cfg)
    from train_step import print_minigrad_profile, time_alternating
    m_times, t_times = time_alternating([minigrad_step, torch_step], args.warmup, args.reps,
                                        raw=True)
    tokens = cfg["batch_size"] * cfg["block_size"]
    print(f"GPT step: {cfg['n_layer']} layers, {cfg['n_head']} heads, width {cfg['n_embd']}, "
          f"batch {cfg['batch_size']} x {cfg['block_size']}, dropout {cfg['dropout']}, "
          f"vocabulary {VOCAB}; 1 thread each; {args.reps} alternated steps"
          + ("; keep_freed_memory on" if args.keep_freed_memory else ""))
    print(f"{'':<10}{'median ms':>10}{'min ms':>9}{'tokens/s':>10}")
    for label, t in (("minigrad", m_times), ("pytorch", t_times)):
        med = float(np.median(t))
        print(f"{label:<10}{med * 1e3:>10.1f}{min(t) * 1e3:>9.1f}{tokens / med:>10.0f}")
    ratios = [m / t for m, t in zip(m_times, t_times)]
    print(f"ratio minigrad/pytorch: median of medians {np.median(m_times) / np.median(t_times):.3f}x,"
          f" median of paired ratios {np.median(ratios):.3f}x, of minima "
          f"{min(m_times) / min(t_times):.3f}x")
    if args.profile:
        print_minigrad_profile(minigrad_step, top=30)
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU]) as tprof:
            for _ in range(3):
                torch_step()
        print("\npytorch profile (3 steps):")
        print(tprof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30))
    return 0


if __name__ == "__main__":
    sys.exit(main())

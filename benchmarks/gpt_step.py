"""The Shakespeare GPT's training step, minigrad beside PyTorch, alternated in one process.

    python benchmarks/gpt_step.py                   # the example's defaults, 1 thread each
    python benchmarks/gpt_step.py --reps 20 --profile
    python benchmarks/gpt_step.py --config n_layer=2,batch_size=8,block_size=32
    python benchmarks/gpt_step.py --alone           # one process each

The models of examples/shakespeare.py (minigrad.models.GPT, build_optimizer's AdamW)
and of benchmarks/shakespeare_torch.py (TorchGPT, torch.optim.AdamW with the same
groups), one BLAS / torch thread each, on the same random character batch (vocabulary
65, as the character-level corpus). A step is what both training loops do: forward
with the loss, backward, clip_grad_norm_ at 1.0, AdamW step, zero_grad. The two
frameworks alternate step by step after a warm-up and the medians are reported, so a
noisy neighbour slows both alike; the ratio is the number to read, and on a loaded
machine the ratio of CPU times (time.process_time: both run one thread), which leaves
out the waits for a core. --alone runs each framework in a fresh process of its own,
as the two training scripts run, and compares CPU times. --profile adds each framework's per-op breakdown
(minigrad.profiler; torch.profiler).
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


def batch(cfg):
    rng = np.random.default_rng(0)
    ids = rng.integers(0, VOCAB, (cfg["batch_size"], cfg["block_size"] + 1))
    return ids[:, :-1], ids[:, 1:]


def minigrad_step_of(cfg):
    """examples/shakespeare.py's model, optimizer and step (a closure) on `batch`."""
    import minigrad as mg
    import shakespeare
    mg.set_num_threads(1)
    mg.manual_seed(0)
    x, y = (mg.tensor(a) for a in batch(cfg))
    model = shakespeare.build_model(cfg, VOCAB)
    model.train()
    opt, _ = shakespeare.build_optimizer(model, cfg)

    def minigrad_step():
        _, loss = model(x, y)
        loss.backward()
        float(mg.optim.clip_grad_norm_(model.parameters(), shakespeare.GRAD_CLIP))
        opt.step()
        opt.zero_grad()
        return loss.item()
    return minigrad_step


def torch_step_of(cfg):
    """benchmarks/shakespeare_torch.py's model, optimizer and step on `batch`."""
    import torch

    import shakespeare
    from shakespeare_torch import TorchGPT
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x, y = (torch.from_numpy(a) for a in batch(cfg))
    model = TorchGPT(VOCAB, cfg["block_size"], cfg["n_layer"], cfg["n_head"], cfg["n_embd"],
                     cfg["dropout"])
    model.train()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg["weight_decay"]},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=cfg["lr"], betas=shakespeare.BETAS)

    def torch_step():
        loss = model(x, y)
        loss.backward()
        float(torch.nn.utils.clip_grad_norm_(model.parameters(), shakespeare.GRAD_CLIP))
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()
    return torch_step


def alone(args):
    """Each framework in a fresh process of its own (as the two training scripts run):
    the median CPU milliseconds per step of each, and their ratio."""
    import json
    import subprocess
    cpu = {}
    for framework in ("minigrad", "pytorch"):
        cmd = [sys.executable, os.path.abspath(__file__), "--only", framework,
               "--reps", str(args.reps), "--warmup", str(args.warmup)]
        cmd += ["--config", args.config] if args.config else []
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        cpu[framework] = json.loads(out.strip().splitlines()[-1])["cpu_ms"]
        print(f"{framework:<10} alone: CPU ms per step, median {np.median(cpu[framework]):.1f}, "
              f"min {min(cpu[framework]):.1f}")
    print(f"ratio minigrad/pytorch (CPU time, separate processes"
          f"{', malloc as glibc leaves it' if args.no_keep_freed_memory else ''}): medians "
          f"{np.median(cpu['minigrad']) / np.median(cpu['pytorch']):.3f}x, minima "
          f"{min(cpu['minigrad']) / min(cpu['pytorch']):.3f}x")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", help="overrides, e.g. n_layer=2,batch_size=8,block_size=32")
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--profile", action="store_true", help="per-op breakdown of both")
    parser.add_argument("--no-keep-freed-memory", action="store_true",
                        help="MINIGRAD_KEEP_FREED_MEMORY=0: malloc as glibc leaves it (by "
                             "default importing minigrad, which both steps do, makes it keep "
                             "freed large arrays for reuse, process-wide)")
    parser.add_argument("--alone", action="store_true",
                        help="each framework in a process of its own (CPU times)")
    parser.add_argument("--only", choices=["minigrad", "pytorch"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        import torch  # noqa: F401  (only to say so early when it is missing)
    except ImportError:
        sys.exit("gpt_step: PyTorch is needed for the side-by-side benchmark: pip install torch")
    cfg = parse_config(args.config)
    if args.no_keep_freed_memory:        # before minigrad is imported; --alone's children inherit it
        os.environ["MINIGRAD_KEEP_FREED_MEMORY"] = "0"
    if args.only:                    # one framework, for --alone: its CPU times as JSON
        import json
        import time

        from train_step import time_alternating
        step = minigrad_step_of(cfg) if args.only == "minigrad" else torch_step_of(cfg)
        times = time_alternating([step], args.warmup, args.reps, raw=True,
                                 clocks=(time.process_time,))[0]
        print(json.dumps({"cpu_ms": [t * 1e3 for t in times]}))
        return 0
    if args.alone:
        alone(args)
        return 0
    minigrad_step, torch_step = minigrad_step_of(cfg), torch_step_of(cfg)
    import time

    from train_step import print_minigrad_profile, time_alternating
    wall, cpu = time_alternating([minigrad_step, torch_step], args.warmup, args.reps, raw=True,
                                 clocks=(time.perf_counter, time.process_time))
    tokens = cfg["batch_size"] * cfg["block_size"]
    print(f"GPT step: {cfg['n_layer']} layers, {cfg['n_head']} heads, width {cfg['n_embd']}, "
          f"batch {cfg['batch_size']} x {cfg['block_size']}, dropout {cfg['dropout']}, "
          f"vocabulary {VOCAB}; 1 thread each; {args.reps} alternated steps"
          + ("; malloc as glibc leaves it" if args.no_keep_freed_memory else ""))
    print(f"{'':<10}{'wall ms':>10}{'min':>9}{'CPU ms':>10}{'min':>9}{'tokens/s':>10}")
    for i, label in enumerate(("minigrad", "pytorch")):
        med = float(np.median(wall[i]))
        print(f"{label:<10}{med * 1e3:>10.1f}{min(wall[i]) * 1e3:>9.1f}"
              f"{np.median(cpu[i]) * 1e3:>10.1f}{min(cpu[i]) * 1e3:>9.1f}{tokens / med:>10.0f}")
    # CPU time (the process's own, both run one thread) is what to read on a loaded machine:
    # the wall clock also counts the time spent waiting for a core
    for name, (m, t) in (("wall", wall), ("CPU", cpu)):
        paired = [a / b for a, b in zip(m, t)]
        print(f"ratio minigrad/pytorch ({name} time): medians {np.median(m) / np.median(t):.3f}x, "
              f"median of paired ratios {np.median(paired):.3f}x, minima {min(m) / min(t):.3f}x")
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

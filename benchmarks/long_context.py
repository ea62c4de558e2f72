"""Long sequences: training-step time and peak memory against length, minigrad beside PyTorch eager.

    python benchmarks/long_context.py                          # lengths 256..4096, 3 steps each
    python benchmarks/long_context.py --lengths 256,512 --reps 1 --plot runs/long_context.png
    python benchmarks/long_context.py --dense-attention       # minigrad without the tiled kernel

The model is a 2+2-layer Transformer (d_model 128, 8 heads, d_ff 512, vocab 1000, batch 1,
dropout 0.1 or --dropout), built as in benchmarks/train_step.py (same weights in both frameworks);
source and target both have the given length. A step is forward, cross-entropy,
backward and Adam (Adam on 1.4M parameters is a negligible part of it).

Each (framework, length) runs in its own fresh Python process (allocators keep freed
memory, so a second measurement in one process would see none of it):

- memory: the process's peak resident set (VmHWM from /proc/self/status, i.e. what
  `resource.getrusage(RUSAGE_SELF).ru_maxrss` reports) during the first step, minus
  its resident set just before it (after both models are built and the data made):
  "peak MB over baseline". It counts every allocation, NumPy's and PyTorch's alike.
- time: the median of --reps further steps in that process.

The two frameworks alternate length by length so that a noisy neighbour slows both.
The data has no padding, and PyTorch gets no padding masks and the causal hint
(tgt_is_causal), so its nn.Transformer runs its own fused CPU attention kernel (flash
attention) where it can: with masks, or with dropout on the attention weights (PyTorch
2.13 on the CPU), it falls back to materialising the (T, T) scores; --dropout 0 shows
it at its best.
minigrad picks its tiled kernel (minigrad/ops/flash_attention.py) for long sequences.
Linux only (reads /proc).
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_step import _proc_status_kb, make_steps  # noqa: E402  (the same models)

CONFIG = dict(d_model=128, nhead=8, layers=2, d_ff=512, batch=1, vocab=1000)
FRAMEWORKS = ("minigrad", "pytorch")


def probe(framework, length, reps, dense=False, dropout=0.1):
    """In this (fresh) process: peak MB over baseline of the first step, then step times.
    dense: minigrad keeps its dense attention kernel at every length."""
    if dense:
        from minigrad.ops import dispatch
        dispatch.FLASH_MIN_SCORES = float("inf")
    minigrad_step, torch_step, _, _ = make_steps(dict(CONFIG, length=length, dropout=dropout), "cpu",
                                                 torch_padding_masks=False)
    step = minigrad_step if framework == "minigrad" else torch_step
    before = _proc_status_kb("VmRSS")
    step()
    peak_mb = (_proc_status_kb("VmHWM") - before) / 1024
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return {"peak_mb": peak_mb, "seconds": float(np.median(times)) if times else float("nan")}


def run_probe(framework, length, reps, dense=False, dropout=0.1):
    """probe() in a fresh process; None (and the error's last line) if it failed."""
    command = [sys.executable, __file__, "--probe", framework, "--lengths", str(length),
               "--reps", str(reps), "--dropout", str(dropout)] + \
        (["--dense-attention"] if dense else [])
    done = subprocess.run(command, capture_output=True, text=True)
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"  {framework} at length {length} failed: {last}", file=sys.stderr)
        return None


def plot(results, lengths, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (mem, sec) = plt.subplots(1, 2, figsize=(10, 4))
    for framework in FRAMEWORKS:
        rows = [(t, results[framework][t]) for t in lengths if results[framework][t]]
        xs = [t for t, _ in rows]
        mem.plot(xs, [r["peak_mb"] for _, r in rows], "o-", label=framework)
        sec.plot(xs, [r["seconds"] for _, r in rows], "o-", label=framework)
    for ax, label in ((mem, "peak memory over baseline (MB)"), (sec, "step time (s)")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("sequence length")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        ax.legend()
    fig.suptitle("2+2-layer Transformer, d_model 128, 8 heads, batch 1: one training step")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", default="256,512,1024,2048,4096")
    parser.add_argument("--reps", type=int, default=3, help="timed steps after the first")
    parser.add_argument("--plot", default="runs/long_context.png", help="PNG to write")
    parser.add_argument("--dropout", type=float, default=0.1,
                        help="dropout of the model, attention weights included (PyTorch's CPU "
                             "flash kernel takes none: with dropout it materialises the scores)")
    parser.add_argument("--dense-attention", action="store_true",
                        help="minigrad keeps its dense attention kernel at every length")
    parser.add_argument("--probe", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    lengths = [int(t) for t in args.lengths.split(",")]
    if args.probe:
        print(json.dumps(probe(args.probe, lengths[0], args.reps, args.dense_attention,
                               args.dropout)))
        return
    try:
        import torch  # noqa: F401
    except ImportError:
        sys.exit("long_context: PyTorch is needed for the side-by-side benchmark: pip install torch")
    from minigrad.ops.flash_attention import FLASH_MIN_SCORES
    kernel = "dense" if args.dense_attention else f"tiled from T*S >= {FLASH_MIN_SCORES}"
    print(f"2+2 layers, d_model {CONFIG['d_model']}, {CONFIG['nhead']} heads, batch 1; "
          f"peak RSS over baseline of the first step; median of {args.reps} later steps; "
          f"minigrad attention: {kernel}; dropout {args.dropout}")
    print(f"{'length':>7}{'minigrad MB':>13}{'pytorch MB':>12}{'mem ratio':>11}"
          f"{'minigrad s':>12}{'pytorch s':>11}{'time ratio':>12}")
    results = {f: {} for f in FRAMEWORKS}
    for length in lengths:
        for framework in FRAMEWORKS:
            results[framework][length] = run_probe(framework, length, args.reps,
                                                   args.dense_attention, args.dropout)
        m, t = results["minigrad"][length], results["pytorch"][length]
        nan = {"peak_mb": float("nan"), "seconds": float("nan")}
        m, t = m or nan, t or nan
        print(f"{length:>7}{m['peak_mb']:>13.1f}{t['peak_mb']:>12.1f}"
              f"{m['peak_mb'] / t['peak_mb'] if t['peak_mb'] else float('nan'):>10.2f}x"
              f"{m['seconds']:>12.3f}{t['seconds']:>11.3f}"
              f"{m['seconds'] / t['seconds'] if t['seconds'] else float('nan'):>11.2f}x",
              flush=True)
    if args.plot:
        plot(results, lengths, args.plot)


if __name__ == "__main__":
    main()

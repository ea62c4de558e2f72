"""One full training step, minigrad beside PyTorch, in one process.

    python benchmarks/train_step.py                 # small and base
    python benchmarks/train_step.py --configs small --reps 20
    python benchmarks/train_step.py --config d_model=256,nhead=4,layers=2,d_ff=1024,batch=16,length=32,vocab=4000
    python benchmarks/train_step.py --profile       # where minigrad's time goes, per op
    python benchmarks/train_step.py --device cuda --amp   # mixed precision in both
    python benchmarks/train_step.py --torch-compile # a third column: PyTorch under torch.compile
    python benchmarks/train_step.py --no-keep-freed-memory   # malloc as glibc leaves it

The same model (minigrad's weights copied into PyTorch with the converter), the
same data and dropout 0.1 in both. A step is: embeddings, Transformer, generator,
cross-entropy, backward, Adam. With --amp both run the forward under autocast
(float16; each framework's own autocast lists) and step through a GradScaler. The two frameworks alternate step by step after a
warm-up, and the table reports medians, so a noisy neighbour slows both alike.
With --torch-compile a third model (same weights) runs under torch.compile (Inductor);
its first steps compile, are excluded from the timing and are reported as compile
time. Where compiling fails (no C++ compiler, ...), the output says so and the
comparison goes on with the other two. `import minigrad` sets glibc's malloc to keep
the memory of freed large arrays for reuse (minigrad.keep_freed_memory), so a step does
not fault in fresh pages for most of its activations; the setting is process-wide, so
PyTorch's steps here (and the memory probes' processes) run with it too.
--no-keep-freed-memory runs everything with malloc as glibc leaves it
(MINIGRAD_KEEP_FREED_MEMORY=0, inherited by the probes).
"""
import argparse
import math
import os
import sys
import time

import numpy as np

CONFIGS = {
    #          d_model heads layers d_ff batch length vocab
    "small": dict(d_model=128, nhead=4, layers=2, d_ff=512, batch=32, length=32, vocab=1000),
    "base": dict(d_model=512, nhead=8, layers=2, d_ff=2048, batch=16, length=64, vocab=8000),
}


def parse_config(text):
    cfg = dict(CONFIGS["small"])
    for part in text.split(","):
        key, _, value = part.partition("=")
        if key.strip() not in cfg:
            sys.exit(f"train_step: unknown config key {key!r}; known: {', '.join(cfg)}")
        cfg[key.strip()] = int(value)
    return cfg


# ------------------------------------------------------------------ memory
def _proc_status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def peak_memory_mb(framework, cfg, device, amp=False):
    """Peak resident memory added by a first training step, measured in a fresh process.

    A fresh process, because the allocators keep freed memory for reuse: after one
    step, a second one in the same process would show almost no growth.
    """
    import json
    import subprocess
    probe = subprocess.run(
        [sys.executable, __file__, "--memory-probe", framework, "--device", device,
         "--config", ",".join(f"{k}={v}" for k, v in cfg.items())] + (["--amp"] if amp else []),
        capture_output=True, text=True)
    try:
        return json.loads(probe.stdout.strip().splitlines()[-1])["peak_mb"]
    except (IndexError, ValueError, KeyError):
        return float("nan")


def _memory_probe(framework, cfg, device, amp=False):
    import json
    minigrad_step, torch_step, _, _ = make_steps(cfg, device, amp)
    step = minigrad_step if framework == "minigrad" else torch_step
    before = _proc_status_kb("VmRSS")
    step()
    print(json.dumps({"peak_mb": (_proc_status_kb("VmHWM") - before) / 1024}))


def matmul_peak_gflops(xp=np, sync=lambda: None):
    """The machine's float32 GEMM rate: the best of a few large square products."""
    best = 0.0
    for n in (1024, 2048):
        a = xp.ones((n, n), dtype=np.float32)
        b = xp.ones((n, n), dtype=np.float32)
        a @ b
        sync()
        for _ in range(3):
            start = time.perf_counter()
            a @ b
            sync()
            best = max(best, 2 * n ** 3 / (time.perf_counter() - start) / 1e9)
    return best


# ------------------------------------------------------------------ the two models
def build_minigrad(cfg, device):
    import minigrad as mg
    from minigrad.models import Seq2SeqTransformer
    from minigrad.optim import Adam
    mg.manual_seed(0)
    model = Seq2SeqTransformer(cfg["vocab"], cfg["vocab"], d_model=cfg["d_model"], nhead=cfg["nhead"],
                               num_encoder_layers=cfg["layers"], num_decoder_layers=cfg["layers"],
                               dim_feedforward=cfg["d_ff"], dropout=cfg.get("dropout", 0.1), max_len=max(512, cfg["length"]))
    model.to(device).train()
    opt = Adam(model.parameters(), lr=1e-4)
    return mg, model, opt


def build_torch(cfg, state_dict, device):
    import torch
    from minigrad.models import to_torch
    from minigrad.nn.positional import sinusoid_table

    class Embed(torch.nn.Module):
        def __init__(self, vocab, d):
            super().__init__()
            self.embedding = torch.nn.Embedding(vocab, d, padding_idx=0)
            self.scale = math.sqrt(d)

        def forward(self, ids):
            return self.embedding(ids) * self.scale

    class TorchSeq2Seq(torch.nn.Module):
        def __init__(self):
            super().__init__()
            d = cfg["d_model"]
            self.src_tok_emb = Embed(cfg["vocab"], d)
            self.tgt_tok_emb = Embed(cfg["vocab"], d)
            self.register_buffer("pe", torch.from_numpy(sinusoid_table(max(512, cfg["length"]), d)),
                                 persistent=False)
            self.drop = torch.nn.Dropout(cfg.get("dropout", 0.1))
            self.transformer = torch.nn.Transformer(d, cfg["nhead"], cfg["layers"], cfg["layers"],
                                                    cfg["d_ff"], cfg.get("dropout", 0.1),
                                                    batch_first=True)
            self.generator = torch.nn.Linear(d, cfg["vocab"])

        def forward(self, src, tgt, src_pad, tgt_pad, causal):
            s = self.drop(self.src_tok_emb(src) + self.pe[: src.shape[1]])
            t = self.drop(self.tgt_tok_emb(tgt) + self.pe[: tgt.shape[1]])
            # without padding masks, tgt_is_causal lets PyTorch run its fused causal kernel
            out = self.transformer(s, t, tgt_mask=causal, src_key_padding_mask=src_pad,
                                   tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=src_pad,
                                   tgt_is_causal=src_pad is None)
            return self.generator(out)

    torch.manual_seed(0)
    model = TorchSeq2Seq()
    model.load_state_dict(to_torch(state_dict, tensors=True), strict=True)
    model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    return torch, model, opt


def make_data(cfg):
    """The step's (source, target input, target output) ids, the same on every call."""
    rng = np.random.default_rng(0)
    src = rng.integers(1, cfg["vocab"], (cfg["batch"], cfg["length"]))
    tgt = rng.integers(1, cfg["vocab"], (cfg["batch"], cfg["length"] + 1))
    return src, tgt[:, :-1], tgt[:, 1:]


def torch_step_of(torch, model, opt, cfg, device, padding_masks=True, amp=False):
    """One PyTorch training step of `model` (eager or compiled) on make_data's batch.
    padding_masks=False passes none (make_data has no padding: its ids start at 1), so
    PyTorch may take its fused (flash) attention kernels. `amp`: forward under autocast
    (float16) and the step through a GradScaler."""
    tdev = "cuda" if device != "cpu" else "cpu"
    t_src, t_in, t_out = (torch.from_numpy(a).to(tdev) for a in make_data(cfg))
    t_causal = torch.nn.Transformer.generate_square_subsequent_mask(cfg["length"], device=tdev)
    t_sync = torch.cuda.synchronize if device != "cpu" else (lambda: None)
    scaler = torch.amp.GradScaler(tdev, enabled=amp)        # disabled: a pass-through

    def torch_step():
        pads = (t_src == 0, t_in == 0) if padding_masks else (None, None)
        with torch.autocast(tdev, dtype=torch.float16, enabled=amp):
            logits = model(t_src, t_in, *pads, t_causal)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, cfg["vocab"]),
                                                     t_out.reshape(-1))
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        t_sync()
        return loss
    return torch_step, t_sync


def make_compiled_step(cfg, state_dict, device):
    """A PyTorch step under torch.compile, from `state_dict` (minigrad's initial weights)."""
    torch, model, opt = build_torch(cfg, state_dict, "cuda" if device != "cpu" else "cpu")
    return torch_step_of(torch, torch.compile(model), opt, cfg, device)[0]


def make_steps(cfg, device, amp=False, torch_padding_masks=True):
    """The two training steps (closures); `amp`: forward under autocast in float16 and
    the step through a GradScaler, in both frameworks."""
    mg, m_model, m_opt = build_minigrad(cfg, device)
    torch, t_model, t_opt = build_torch(cfg, m_model.state_dict(), "cuda" if device != "cpu" else "cpu")
    vocab = cfg["vocab"]
    m_src, m_in, m_out = (mg.tensor(a, device=device) for a in make_data(cfg))
    torch_step, t_sync = torch_step_of(torch, t_model, t_opt, cfg, device, torch_padding_masks,
                                       amp)
    if device == "cpu":
        m_sync = lambda: None  # noqa: E731
    else:
        import cupy
        m_sync = cupy.cuda.Device().synchronize

    kind = "cpu" if device == "cpu" else "cuda"
    m_scaler = mg.amp.GradScaler(kind, enabled=amp)       # disabled: a pass-through

    def minigrad_step():
        with mg.autocast(kind, dtype=mg.float16, enabled=amp):
            logits = m_model(m_src, m_in)
            loss = mg.cross_entropy(logits.reshape(-1, vocab), m_out.reshape(-1))
        m_opt.zero_grad()
        m_scaler.scale(loss).backward()
        m_scaler.step(m_opt)
        m_scaler.update()
        m_sync()
        return loss

    return minigrad_step, torch_step, m_model, (m_sync, t_sync)


def flops_per_step(model, cfg):
    """6 x parameters x tokens for the matmuls each token meets, plus attention's scores."""
    b, t, d = cfg["batch"], cfg["length"], cfg["d_model"]
    enc = sum(p.numel() for p in model.transformer.encoder.parameters())
    dec = sum(p.numel() for p in model.transformer.decoder.parameters())
    gen = model.generator.weight.numel()
    dense = 6 * (enc * b * t + (dec + gen) * b * t)
    # per attention: Q K^T and P V, 2*b*t*s*d each, x3 for forward + backward
    attention = 12 * b * t * t * d * (cfg["layers"] + 2 * cfg["layers"])
    return dense + attention


def time_alternating(steps, warmup, reps, raw=False, clocks=(time.perf_counter,)):
    """Median seconds of each step, run in turn after `warmup` rounds (raw=True: every
    step's seconds, one list per step). With several `clocks` (e.g. time.process_time
    beside the wall clock) the result is one such answer per clock.

    The order rotates from round to round, so each step follows each other step equally
    often: after its work a framework's worker threads keep spinning for a while
    (OpenBLAS's, PyTorch's OpenMP threads) and take a core from whatever runs next, so a
    fixed order would always time the same framework behind the same spinner."""
    for _ in range(warmup):
        for step in steps:
            step()
    times = [[[] for _ in steps] for _ in clocks]
    for r in range(reps):
        for i in [(r + j) % len(steps) for j in range(len(steps))]:
            step = steps[i]
            starts = [clock() for clock in clocks]
            step()
            for c, (clock, start) in enumerate(zip(clocks, starts)):
                times[c][i].append(clock() - start)
    answers = [t if raw else [float(np.median(x)) for x in t] for t in times]
    return answers[0] if len(clocks) == 1 else answers


def compile_step(cfg, state_dict, args):
    """(step, compile seconds, first loss) under torch.compile, or (None, why, None).

    Compile time: the first two steps (Inductor compiles the forward on the first call
    and the backward at its first backward; the second shows any recompilation) minus
    two ordinary steps afterwards."""
    try:
        step = make_compiled_step(cfg, state_dict, args.device)
        start = time.perf_counter()
        loss = float(step().item())
        step()
        first_two = time.perf_counter() - start
        start = time.perf_counter()
        step()
        step()
        return step, first_two - (time.perf_counter() - start), loss
    except Exception as e:          # noqa: BLE001  (any compiler failure: report, go on)
        lines = str(e).strip().splitlines() or [""]
        return None, f"{type(e).__name__}: {lines[0][:200]}", None


def run_config(name, cfg, args, peak):
    minigrad_step, torch_step, model, _ = make_steps(cfg, args.device, args.amp)
    compiled = compile_step(cfg, model.state_dict(), args) if args.torch_compile else None
    m_loss, t_loss = float(minigrad_step().item()), float(torch_step().item())
    steps = [minigrad_step, torch_step] + ([compiled[0]] if compiled and compiled[0] else [])
    m_time, t_time, *c_time = time_alternating(steps, args.warmup, args.reps)
    m_mem = peak_memory_mb("minigrad", cfg, args.device, args.amp) if args.device == "cpu" \
        else float("nan")
    t_mem = peak_memory_mb("pytorch", cfg, args.device, args.amp) if args.device == "cpu" \
        else float("nan")
    flops = flops_per_step(model, cfg)
    tokens = 2 * cfg["batch"] * cfg["length"]
    print(f"\n== {name} ({'autocast float16' if args.amp else 'float32'}): d_model={cfg['d_model']} heads={cfg['nhead']} layers={cfg['layers']}/"
          f"{cfg['layers']} d_ff={cfg['d_ff']} batch x length={cfg['batch']}x{cfg['length']} "
          f"vocab={cfg['vocab']}  params={model.num_parameters():,}  first loss "
          f"minigrad {m_loss:.4f} / torch {t_loss:.4f}")
    print(f"{'':<10}{'ms/step':>10}{'tokens/s':>11}{'GFLOP/s':>10}{'% peak':>8}{'peak MB':>9}")
    rows = [("minigrad", m_time, m_mem), ("pytorch", t_time, t_mem)]
    rows += [("compiled", c_time[0], float("nan"))] if c_time else []
    for label, sec, mem in rows:
        gflops = flops / sec / 1e9
        print(f"{label:<10}{sec * 1e3:>10.1f}{tokens / sec:>11.0f}{gflops:>10.1f}"
              f"{100 * gflops / peak:>7.1f}%{mem:>9.1f}")
    print(f"ratio minigrad/pytorch: time {m_time / t_time:.2f}x   peak memory "
          f"{m_mem / t_mem if t_mem == t_mem and t_mem > 0 else float('nan'):.2f}x")
    if compiled and compiled[0]:
        print(f"torch.compile: compile time {compiled[1]:.1f} s (first two steps less two "
              f"ordinary ones; excluded above), first loss {compiled[2]:.4f}; ratio "
              f"minigrad/compiled {m_time / c_time[0]:.2f}x, minigrad/faster PyTorch "
              f"{m_time / min(t_time, c_time[0]):.2f}x")
    elif compiled:
        print(f"torch.compile: failed on this machine, no compiled column ({compiled[1]})")
    if args.profile:
        print_minigrad_profile(minigrad_step)
    return m_time, t_time


def print_minigrad_profile(step, steps=3, top=25):
    """minigrad's per-op profile of `steps` calls of `step`."""
    from minigrad import profiler
    with profiler.profile() as prof:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        wall = (time.perf_counter() - start) / steps
    print(f"\nminigrad profile ({steps} steps, {wall * 1e3:.1f} ms/step wall; op time covers forward "
          "and backward of each op, the rest is the optimizer and Python):")
    print(prof.table(top))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--configs", default="small,base", help="comma-separated: small, base")
    parser.add_argument("--config", help="a custom config, e.g. d_model=256,nhead=4,layers=2,"
                                         "d_ff=1024,batch=16,length=32,vocab=4000")
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--profile", action="store_true", help="print minigrad's per-op profile")
    parser.add_argument("--amp", action="store_true",
                        help="mixed precision: forward under autocast (float16), GradScaler")
    parser.add_argument("--torch-compile", action="store_true",
                        help="add PyTorch under torch.compile as a third column")
    parser.add_argument("--no-keep-freed-memory", action="store_true",
                        help="MINIGRAD_KEEP_FREED_MEMORY=0: malloc as glibc leaves it (by "
                             "default importing minigrad makes it keep freed large arrays for "
                             "reuse, process-wide: both frameworks)")
    parser.add_argument("--memory-probe", choices=["minigrad", "pytorch"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.no_keep_freed_memory:        # before minigrad is imported; the probes inherit it
        os.environ["MINIGRAD_KEEP_FREED_MEMORY"] = "0"
    if args.memory_probe:
        return _memory_probe(args.memory_probe, parse_config(args.config), args.device, args.amp)
    try:
        import torch
        import warnings
        warnings.filterwarnings("ignore", message="Support for mismatched key_padding_mask")
    except ImportError:
        sys.exit("train_step: PyTorch is needed for the side-by-side benchmark: pip install torch")
    if args.device == "cpu":
        peak = matmul_peak_gflops()
        print(f"float32 matmul peak (NumPy/OpenBLAS, {os.cpu_count()} cores): {peak:.0f} GFLOP/s;"
              f" torch threads {torch.get_num_threads()}")
    else:
        import cupy
        peak = matmul_peak_gflops(cupy, cupy.cuda.Device().synchronize)
        print(f"float32 matmul peak (CuPy on {args.device}): {peak:.0f} GFLOP/s")
    configs = [("custom", parse_config(args.config))] if args.config else \
        [(n, CONFIGS[n]) for n in args.configs.split(",")]
    for name, cfg in configs:
        run_config(name, cfg, args, peak)


if __name__ == "__main__":
    main()

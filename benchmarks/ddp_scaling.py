"""Data-parallel throughput: 1 and 2 MPI processes training one small Transformer.

    python benchmarks/ddp_scaling.py                   # the table (launches mpirun itself)
    python benchmarks/ddp_scaling.py --steps 30 --procs 1,2,4
    python benchmarks/ddp_scaling.py --device cuda --procs 1,2     # NCCL, one GPU per process
    mpirun -n 2 python benchmarks/ddp_scaling.py --worker          # one run by hand

Weak scaling, as data parallelism is used: every process trains on its own
batch of the same size, so N processes process N times the tokens per step.
A step is forward, loss, backward with the bucketed gradient all-reduce, and
Adam. Reported: global target tokens per second (all ranks together), the
median step time of the slowest rank, and the scaling efficiency
tokens/s(N) / (N * tokens/s(1)). The plain single-process run (no MPI, no DDP)
shows what the wrapper itself costs; the all-reduce row times the gradient
all-reduce alone.

On a machine with fewer cores than processes x BLAS threads the processes
compete for the cores, and the efficiency measures that contention, not MPI:
the table prints the core count beside the numbers.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

SMALL = dict(d_model=128, nhead=4, layers=2, d_ff=512, batch=32, length=32, vocab=1000)


def build(cfg):
    from minigrad.models import Seq2SeqTransformer
    return Seq2SeqTransformer(cfg["vocab"], cfg["vocab"], d_model=cfg["d_model"],
                              nhead=cfg["nhead"], num_encoder_layers=cfg["layers"],
                              num_decoder_layers=cfg["layers"], dim_feedforward=cfg["d_ff"],
                              dropout=0.1)


def copy_batch(rng, cfg):
    """The copy task: the target is the source, after a start token (1)."""
    src = rng.integers(3, cfg["vocab"], size=(cfg["batch"], cfg["length"]))
    tgt = np.concatenate([np.ones((cfg["batch"], 1), dtype=src.dtype), src], axis=1)
    return src, tgt[:, :-1], tgt[:, 1:]


def worker(args, cfg):
    """One rank (or the plain process): time `args.steps` training steps, print JSON on rank 0."""
    import minigrad as mg
    import minigrad.distributed as dist
    device = args.device
    if not args.plain:
        dist.init("nccl" if device == "cuda" else "mpi")
        device = dist.get_device()
    dist.seed_per_rank(0)
    model = build(cfg).to(device)
    n_params = model.num_parameters()
    if not args.plain:
        model = dist.DistributedDataParallel(model, bucket_size_mb=args.bucket_mb)
    opt = mg.optim.Adam(model.parameters(), lr=1e-4)
    rng = np.random.default_rng(dist.get_rank())
    batches = [[mg.tensor(a, device=device) for a in copy_batch(rng, cfg)] for _ in range(4)]

    def sync():
        if device.startswith("cuda"):
            from minigrad.backend import cupy_module
            cupy_module().cuda.Device().synchronize()

    times = []
    for step in range(args.warmup + args.steps):
        src, tgt_in, tgt_out = batches[step % len(batches)]
        if not args.plain:
            dist.barrier()                # every rank starts the step together
        t0 = time.perf_counter()
        logits = model(src, tgt_in)
        loss = mg.cross_entropy(logits.reshape(-1, cfg["vocab"]), tgt_out.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sync()
        if step >= args.warmup:
            times.append(time.perf_counter() - t0)
    step_s = float(np.median(times))
    if not args.plain:
        step_s = dist.reduce_metrics({"t": step_s}, op="max")["t"]    # the slowest rank
    allreduce_ms = None
    if not args.plain:
        grads = np.ones(n_params, dtype=np.float32)
        buf = grads if device == "cpu" else mg.tensor(grads, device=device).array
        comm = dist.get_communicator()
        reps = []
        for _ in range(5):
            dist.barrier()
            t0 = time.perf_counter()
            comm.all_reduce(buf, op="mean")
            sync()
            reps.append(time.perf_counter() - t0)
        allreduce_ms = 1e3 * float(np.median(reps))
    world = dist.get_world_size()
    tokens_per_step = cfg["batch"] * cfg["length"] * world
    if dist.is_main_process():
        print(json.dumps(dict(procs=world, plain=args.plain, step_ms=1e3 * step_s,
                              tokens_per_s=tokens_per_step / step_s, params=n_params,
                              allreduce_ms=allreduce_ms,
                              blas_threads=os.environ.get("OPENBLAS_NUM_THREADS", "default"))),
              flush=True)


# ------------------------------------------------------------------ the driver
def find_mpirun():
    beside = os.path.join(os.path.dirname(sys.executable), "mpirun")
    return beside if os.path.exists(beside) else shutil.which("mpirun")


def launch(args, procs, threads, plain=False):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads), OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    script = [sys.executable, os.path.abspath(__file__), "--worker", "--steps", str(args.steps),
              "--warmup", str(args.warmup), "--device", args.device,
              "--bucket-mb", str(args.bucket_mb)]
    if plain:
        cmd = script + ["--plain"]
    else:
        mpirun = find_mpirun()
        if mpirun is None:
            sys.exit("ddp_scaling: mpirun not found: pip install 'minigrad[distributed]'")
        transport = (["--mca", "btl", "self,tcp", "--mca", "btl_tcp_if_include", "lo"]
                     if args.tcp else [])
        cmd = [mpirun, "-n", str(procs), "--oversubscribe", "--bind-to", "none"] + transport \
            + script
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.timeout)
    if proc.returncode != 0:
        sys.exit(f"ddp_scaling: {' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--procs", default="1,2", help="process counts, e.g. 1,2,4")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads per process")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2,
                        help="run every configuration this many times, alternating; medians")
    parser.add_argument("--bucket-mb", type=float, default=4.0)
    parser.add_argument("--tcp", action="store_true",
                        help="MPI over loopback TCP (as the tests) instead of MPI's default "
                             "transport (shared memory on one machine)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--timeout", type=int, default=600)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args, SMALL)

    cores = os.cpu_count()
    print(f"ddp_scaling: Seq2SeqTransformer {SMALL}, {args.steps} timed steps x {args.rounds} "
          f"rounds, {cores} CPU cores, device {args.device}, buckets of {args.bucket_mb} MB, "
          f"MPI over {'loopback TCP' if args.tcp else 'its default transport'}")
    runs = [("plain, 1 process", dict(procs=1, threads=args.threads, plain=True))]
    if args.device == "cpu" and args.threads == 1 and cores and cores >= 2:
        runs.append(("plain, 1 process, 2 BLAS threads", dict(procs=1, threads=2, plain=True)))
    procs = [int(p) for p in args.procs.split(",")]
    runs += [(f"DDP, {n} process{'es' if n > 1 else ''}", dict(procs=n, threads=args.threads))
             for n in procs]
    results = {name: [] for name, _ in runs}
    for _ in range(args.rounds):                 # alternate, so load changes hit all alike
        for name, how in runs:
            results[name].append(launch(args, **how))

    def median(name, key):
        values = [r[key] for r in results[name] if r[key] is not None]
        return float(np.median(values)) if values else None

    base = median(runs[len(runs) - len(procs)][0], "tokens_per_s") / procs[0]
    print(f"{'run':36s} {'step ms':>9s} {'tokens/s':>10s} {'efficiency':>10s} "
          f"{'all-reduce ms':>13s}")
    for name, how in runs:
        tps = median(name, "tokens_per_s")
        eff = "-" if how.get("plain") else f"{tps / (how['procs'] * base):.2f}"
        ar = median(name, "allreduce_ms")
        ar = "-" if ar is None else f"{ar:.1f}"
        print(f"{name:36s} {median(name, 'step_ms'):9.1f} {tps:10.0f} {eff:>10s} {ar:>13s}")
    params = results[runs[0][0]][0]["params"]
    print(f"({params:,} parameters: {params * 4 / 2 ** 20:.1f} MB of float32 gradients "
          f"all-reduced per step; efficiency = tokens/s(N) / (N x tokens/s per process of "
          f"DDP with {procs[0]}); tokens = target tokens of all ranks)")


if __name__ == "__main__":
    main()

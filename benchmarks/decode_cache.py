"""Incremental decoding with the key/value cache against recomputing the whole prefix.

Greedy-decodes a batch of sentences to a fixed number of new tokens (no end
symbol, so every run does the same work) with `use_cache=True` and `False`,
alternating the two, and prints the median times and their ratio. It also
checks that both give the same tokens and logits.

    python benchmarks/decode_cache.py                      # the 'base' model, 64 new tokens
    python benchmarks/decode_cache.py --config small --tokens 128
    python benchmarks/decode_cache.py --blas-threads 1     # on a machine shared with other jobs

Without the cache, step t runs the decoder over all t positions (quadratic work
in the output length); with it, step t runs it over the newest position only,
reading earlier keys and values from the cache, and the encoder memory is
projected to keys and values once instead of at every step and layer.
"""
import argparse
import os
import statistics
import sys
import time

# as in benchmarks/train_step.py (design.md's benchmark table)
CONFIGS = {
    "small": dict(d_model=128, nhead=4, layers=2, dim_feedforward=512, vocab=1000),
    "base": dict(d_model=512, nhead=8, layers=2, dim_feedforward=2048, vocab=8000),
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", choices=sorted(CONFIGS), default="base")
    p.add_argument("--tokens", type=int, default=64, help="new tokens per sentence")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--src-len", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--blas-threads", type=int, default=None,
                   help="BLAS threads (set before NumPy loads; 1 avoids the 3-10x slowdown of "
                        "small matrix products when other processes hold the cores)")
    return p.parse_args()


def main(args):
    import numpy as np

    import minigrad as mg
    from minigrad.models import Seq2SeqTransformer

    cfg = CONFIGS[args.config]
    mg.manual_seed(args.seed)
    model = Seq2SeqTransformer(cfg["vocab"], cfg["vocab"], d_model=cfg["d_model"],
                               nhead=cfg["nhead"], num_encoder_layers=cfg["layers"],
                               num_decoder_layers=cfg["layers"],
                               dim_feedforward=cfg["dim_feedforward"], dropout=0.1)
    rng = np.random.default_rng(args.seed)
    src = rng.integers(3, cfg["vocab"], (args.batch, args.src_len))
    max_len = args.tokens + 1                         # the start symbol counts

    def decode(use_cache):
        t0 = time.perf_counter()
        out = model.greedy_decode(src, max_len, start_symbol=1, use_cache=use_cache,
                                  return_logits=True)
        return time.perf_counter() - t0, out

    decode(True)                                      # warm up
    times = {True: [], False: []}
    results = {}
    for _ in range(args.repeats):
        for use_cache in (True, False):               # alternate: both see the same machine load
            dt, results[use_cache] = decode(use_cache)
            times[use_cache].append(dt)

    (ys_c, logits_c), (ys_f, logits_f) = results[True], results[False]
    same_tokens = bool(np.array_equal(ys_c, ys_f))
    max_diff = float(np.abs(logits_c - logits_f).max())
    cached, full = statistics.median(times[True]), statistics.median(times[False])
    print(f"config {args.config}: d_model {cfg['d_model']}, {cfg['layers']} decoder layers, "
          f"vocab {cfg['vocab']}; batch {args.batch}, source {args.src_len}, "
          f"{args.tokens} new tokens, median of {args.repeats}")
    print(f"  with cache     {cached * 1e3:9.1f} ms  ({cached / args.tokens * 1e3:.2f} ms/token)")
    print(f"  without cache  {full * 1e3:9.1f} ms  ({full / args.tokens * 1e3:.2f} ms/token)")
    print(f"  speed-up       {full / cached:9.2f}x")
    print(f"  same tokens: {same_tokens}; largest logit difference {max_diff:.2e}")
    if not same_tokens or max_diff > 1e-4:
        raise SystemExit("cached and full decoding disagree")


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.blas_threads is not None:
        if "numpy" in sys.modules:
            raise SystemExit("--blas-threads must be set before NumPy is imported")
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(arguments.blas_threads)
    main(arguments)

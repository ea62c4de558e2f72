"""Helpers shared by the insight experiments only: where figures go, printing a
table of measured numbers, the length of a recorded graph's longest path, one
BLAS thread for small-matrix work, and an encoder layer whose parts can be
switched off.

Generic example code (data batches, checkpoints, plots) lives in examples/support/;
this file holds what the insight scripts need to *measure and show* a claim.
"""
import argparse
import contextlib
import functools
import os

import matplotlib

import minigrad as mg
from minigrad import nn

matplotlib.use("Agg")                  # no display needed: every figure goes to a PNG

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIGURE_DIR = os.path.join(ROOT, "runs", "insights")


# ---------------------------------------------------------------- command line
def parse_args(doc, argv=None):
    """An experiment's command line: no options, and --help prints `doc` (the script's
    docstring: the claim and how the script measures it)."""
    parser = argparse.ArgumentParser(description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    return parser.parse_args(argv)


# ---------------------------------------------------------------- BLAS threads
@contextlib.contextmanager
def single_blas_thread():
    """Run with one BLAS thread, then restore the previous count.

    These experiments multiply small matrices. For them a second BLAS thread costs
    more than it gives, and on a machine shared with other jobs a BLAS thread that
    waits for a busy core can slow every small matmul 10-20x. Does nothing where
    NumPy's BLAS is not a bundled OpenBLAS.
    """
    before = mg.set_num_threads(1)
    try:
        yield
    finally:
        if before is not None:
            mg.set_num_threads(before)


def one_blas_thread(fn):
    """Decorator form of single_blas_thread, for an experiment's run()."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with single_blas_thread():
            return fn(*args, **kwargs)
    return wrapper


def pyplot():
    """matplotlib.pyplot, imported lazily on the Agg backend."""
    import matplotlib.pyplot as plt
    return plt


def figure_path(name, directory=None):
    """runs/insights/<name>.png (the folder is created); `directory` overrides the folder."""
    directory = directory or FIGURE_DIR
    os.makedirs(directory, exist_ok=True)
    return os.path.join(directory, f"{name}.png")


def save_figure(fig, name, directory=None):
    path = figure_path(name, directory)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    print(f"figure written to {os.path.relpath(path, os.getcwd())}")
    return path


def print_table(title, headers, rows):
    """Print rows as an aligned text table; floats get 4 significant digits."""
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)
    cells = [[fmt(v) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print("  ".join(h.rjust(w) for h, w in zip(headers, widths)))
    print("  ".join("-" * w for w in widths))
    for r in cells:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))


def graph_depth(tensor, source=None):
    """Number of recorded ops on the longest path from the leaves (or from the
    tensor `source`) to `tensor`: the ops that must run one after another.

    Walks the creator graph iteratively (an RNN's graph is thousands of ops deep).
    Returns 0 when `source` does not reach `tensor`.
    """
    order, seen, stack = [], set(), [(tensor, False)]
    while stack:                           # iterative post-order: inputs before users
        t, expanded = stack.pop()
        if expanded:
            order.append(t)
            continue
        if id(t) in seen:
            continue
        seen.add(id(t))
        stack.append((t, True))
        ctx = t._ctx
        for parent in (ctx.__dict__.get("inputs", ()) if ctx is not None else ()):
            if id(parent) not in seen:
                stack.append((parent, False))
    depth = {}
    for t in order:
        ctx = t._ctx
        parents = ctx.__dict__.get("inputs", ()) if ctx is not None else ()
        if source is not None and t is source:
            depth[id(t)] = 0
        elif ctx is None or not parents:
            depth[id(t)] = None if source is not None else 0
        else:
            reached = [depth[id(p)] for p in parents if depth.get(id(p)) is not None]
            depth[id(t)] = 1 + max(reached) if reached else None
    return depth[id(tensor)] or 0


# ---------------------------------------------------------------- ablation block
class AblationEncoderLayer(nn.Module):
    """An encoder layer whose parts can be switched off, for experiments that remove one.

    Built from the library's MultiheadAttention, FeedForward and LayerNorm. `norm`
    makes the normalisation layer (default: LayerNorm), `dim_feedforward=0` drops the
    feed-forward sublayer, `residual=False` drops the skip connections. With the
    defaults it computes what models.transformer.EncoderLayer computes (dropout 0).
    A norm with `uses_padding_mask = True` is also given the padding mask.
    """

    def __init__(self, d_model, nhead, dim_feedforward, norm=None, residual=True, norm_first=False):
        super().__init__()
        make_norm = norm or nn.LayerNorm
        self.residual, self.norm_first = residual, norm_first
        self.self_attn = nn.MultiheadAttention(d_model, nhead, batch_first=True)
        self.norm1 = make_norm(d_model)
        if dim_feedforward:
            self.feed_forward = nn.FeedForward(d_model, dim_feedforward, dropout=0.0)
            self.norm2 = make_norm(d_model)
        else:
            self.feed_forward = self.norm2 = None

    def forward(self, x, key_padding_mask=None):
        attend = lambda h: self.self_attn(h, h, h, key_padding_mask=key_padding_mask,  # noqa: E731
                                          need_weights=False)[0]
        x = self._sublayer(x, attend, self.norm1, key_padding_mask)
        if self.feed_forward is not None:
            x = self._sublayer(x, self.feed_forward, self.norm2, key_padding_mask)
        return x

    def _sublayer(self, x, f, norm, padding_mask):
        def normalize(h):
            return norm(h, padding_mask) if getattr(norm, "uses_padding_mask", False) else norm(h)
        if self.norm_first:                      # x + f(norm(x))
            y = f(normalize(x))
            return x + y if self.residual else y
        return normalize(x + f(x) if self.residual else f(x))   # norm(x + f(x))

"""Long runs: 2,000 training steps of the copy-task model leak nothing.

The model and data are those of examples/copy_task.py (vocabulary 11, sequences
of 10, pre-norm), at a width that makes 2,000 steps quick. After the first few
hundred steps every cache and pool has reached its size, so from then on:

* resident memory stays flat (step 2,000 within 5% of step 200);
* no recorded graph outlives its step: the number of live autograd Functions
  is the same (zero) at step 200, 1,000 and 2,000;
* nothing is warned, not even once (every warning of the run is recorded).
"""
import gc
import os
import sys
import time
import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import Function
from minigrad.models import Seq2SeqTransformer

pytestmark = pytest.mark.slow

VOCAB, LENGTH, START, PAD = 11, 10, 1, 0
STEPS, BATCH = 2000, 16
CHECKS = (200, 1000, 2000)


def rss_bytes():
    """Resident memory of this process now (not the peak), from /proc."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def live_functions():
    """Recorded ops still alive. (type(), not isinstance: isinstance asks an object for its
    __class__, which some of PyTorch's lazy modules answer with a deprecation warning.)"""
    gc.collect()
    return sum(1 for o in gc.get_objects() if issubclass(type(o), Function))


def copy_batch(step):
    """Batch `step` of the copy task: the start symbol, then 9 tokens from 1..10."""
    ids = np.random.default_rng([0, 0, step]).integers(1, VOCAB, size=(BATCH, LENGTH))
    ids[:, 0] = START
    return mg.tensor(ids), mg.tensor(ids[:, :-1]), mg.tensor(ids[:, 1:])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_two_thousand_steps_keep_memory_graph_and_warnings_flat():
    mg.manual_seed(0)
    model = Seq2SeqTransformer(VOCAB, VOCAB, d_model=32, nhead=2, num_encoder_layers=1,
                               num_decoder_layers=1, dim_feedforward=64, dropout=0.1,
                               norm_first=True, pad_idx=PAD)
    optimizer = mg.optim.Adam(model.parameters(), lr=1.0, betas=(0.9, 0.98), eps=1e-9)
    scheduler = mg.optim.NoamLR(optimizer, d_model=32, warmup_steps=100, factor=0.5)
    seen = {}
    started = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for step in range(1, STEPS + 1):
            src, tgt_in, tgt_out = copy_batch(step)
            logits = model(src, tgt_in)
            loss = mg.cross_entropy(logits.reshape(-1, VOCAB), tgt_out.reshape(-1),
                                    ignore_index=PAD, label_smoothing=0.1)
            optimizer.zero_grad()
            loss.backward()
            mg.optim.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            value = loss.item()
            del logits, loss
            if step in CHECKS:
                seen[step] = (rss_bytes(), live_functions(), value)
    seconds = time.perf_counter() - started
    print(f"\n{STEPS} steps in {seconds:.1f} s; (RSS MiB, live Functions, loss) at "
          + ", ".join(f"step {s}: ({r / 2**20:.1f}, {n}, {v:.3f})" for s, (r, n, v) in seen.items()))

    assert not caught, "warnings during training: " + "; ".join(
        f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught[:5])
    (rss_200, fns_200, loss_200), _, (rss_2000, fns_2000, loss_2000) = (seen[s] for s in CHECKS)
    assert fns_200 == seen[1000][1] == fns_2000 == 0, "graphs outlive their step"
    assert rss_2000 <= 1.05 * rss_200, \
        f"resident memory grew from {rss_200 / 2**20:.1f} MiB to {rss_2000 / 2**20:.1f} MiB"
    assert loss_2000 < loss_200, "the model did not learn (so the run proves little)"

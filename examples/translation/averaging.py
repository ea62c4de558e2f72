"""Checkpoint averaging (the paper, section 6.1: the base models average the last 5
checkpoints): model-only snapshots every --checkpoint-every steps, the last N kept,
and their mean loaded into the model for evaluation."""
import glob
import os
import re

import minigrad as mg

_SNAPSHOT = re.compile(r"snapshot-(\d+)\.safetensors$")


def _snapshots(folder):
    found = [(int(m.group(1)), p) for p in glob.glob(os.path.join(folder, "snapshot-*.safetensors"))
             for m in [_SNAPSHOT.search(p)] if m]
    return [p for _, p in sorted(found)]


def snapshot(folder, model, step, keep):
    """Write the model's weights as snapshot-STEP.safetensors and delete all but the
    newest `keep` snapshots (nothing when keep is 0)."""
    if not keep:
        return
    mg.io.save_checkpoint(os.path.join(folder, f"snapshot-{step}.safetensors"), model=model,
                          rng=False)
    for old in _snapshots(folder)[:-keep]:
        os.remove(old)


def average_last(folder, model, n):
    """Load the mean of the newest `n` snapshots into `model`; returns how many were
    averaged (0: nothing changed). Shared weights appear once per name in each file
    and average to the same value, so loading them is consistent."""
    paths = _snapshots(folder)[-n:] if n else []
    if not paths:
        return 0
    total = None
    for path in paths:
        tensors = mg.io.load(path)
        arrays = {k[len("model."):]: t.numpy().astype("float64") for k, t in tensors.items()
                  if k.startswith("model.")}
        total = arrays if total is None else {k: total[k] + v for k, v in arrays.items()}
    own = model.state_dict()
    model.load_state_dict({k: mg.tensor((v / len(paths)).astype(own[k].dtype))
                           for k, v in total.items()})
    return len(paths)

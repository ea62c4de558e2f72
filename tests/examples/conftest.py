"""Shared by the example tests: examples/ on sys.path (as when a script runs), and
the copy task's own training loop run in this process."""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples")
if EXAMPLES not in sys.path:
    sys.path.insert(0, EXAMPLES)


@pytest.fixture
def train_copy_task():
    """run(flags) -> History: examples/copy_task.py's train() on the CPU with those flags,
    as main() calls it (run folder checks, resume, periodic and final checkpoints)."""
    import copy_task
    from support import checkpoints

    def run(argv):
        args = copy_task.parse_args(argv)
        config = checkpoints.run_config(args, copy_task.DEFAULTS, copy_task.SCRIPT)
        folder = checkpoints.open_run(args, copy_task.SCRIPT)
        model, optimizer, scheduler, start, history = checkpoints.make_training(
            config, copy_task.build_model, "cpu", args.resume)
        copy_task.train(model, optimizer, scheduler,
                        lambda step: copy_task.training_batch(step, config),
                        start, history, config, args, folder)
        return history
    return run

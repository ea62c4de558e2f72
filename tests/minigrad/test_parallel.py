"""minigrad/parallel.py: jobs split over threads, results in worker order, errors raised
in the caller, one region at a time, the BLAS thread count restored."""
import threading

import numpy as np
import pytest

import minigrad as mg
from minigrad import parallel


def test_jobs_are_split_and_results_come_in_worker_order():
    seen = []

    def work(mine, worker):
        seen.append((worker, list(mine)))
        return worker, sum(mine)
    results = parallel.run(list(range(10)), work, 3)
    assert [w for w, _ in results] == [0, 1, 2]
    assert sorted(j for _, mine in seen for j in mine) == list(range(10))
    assert sum(total for _, total in results) == 45
    assert parallel.run([1, 2], work, 1) == [(0, 3)]            # one thread: here, in order


def test_a_worker_error_is_raised_and_the_blas_threads_come_back():
    before = mg.get_num_threads()

    def work(mine, worker):
        if worker == 1:
            raise ValueError("worker 1 failed")
        return worker
    with pytest.raises(ValueError, match="worker 1 failed"):
        parallel.run([1, 2, 3], work, 2)
    assert mg.get_num_threads() == before
    a = np.random.default_rng(0).standard_normal((300, 300)).astype(np.float32)
    np.testing.assert_allclose(a @ a, (a.astype(np.float64) @ a).astype(np.float32),
                               rtol=1e-4, atol=1e-3)     # the BLAS still works after a stop


def test_a_second_region_meanwhile_runs_in_its_own_thread():
    inside, release = threading.Event(), threading.Event()
    nested = []

    def slow(mine, worker):
        if worker == 0:
            inside.set()
            release.wait(5)
        return worker

    def other():
        inside.wait(5)
        nested.append(parallel.run([1, 2, 3], lambda mine, w: (w, list(mine)), 2))
        release.set()
    t = threading.Thread(target=other)
    t.start()
    parallel.run([1, 2], slow, 2)
    t.join(5)
    assert nested == [[(0, [1, 2, 3])]]          # ran serially: the region was busy


def test_threads_for():
    assert parallel.threads_for(np, 10, 100) == 1
    assert parallel.threads_for(np, 1000, 100) == max(1, mg.get_num_threads() or 1)
    assert parallel.threads_for(object(), 1000, 100) == 1        # not NumPy: the GPU

"""CPU threads for the NumPy kernels that split into independent pieces.

NumPy runs each elementwise op on one core; its BLAS (OpenBLAS) runs a matmul on
`minigrad.get_num_threads()` cores. A kernel whose work splits into independent jobs
(the tiled attention's query tiles, the optimizer's blocks of parameters) runs its
jobs on that many Python threads instead: NumPy releases the GIL inside each op, so
the threads' ops run on separate cores. While they work, the BLAS runs one thread
inside each, and its own worker threads are stopped first (`backend.stop_blas_threads`):
after a matmul they spin for about 0.1 s waiting for the next one, and would take a
core from the workers.

    threads = parallel.threads_for(xp, work=n_elements, minimum=1 << 22)
    results = parallel.run(jobs, work, threads)   # work(jobs[w::threads], w) per worker

With one thread (minigrad.set_num_threads(1), a small job, or a GPU) everything runs in
the calling thread, in order. One parallel region runs at a time: a second Python thread
that asks for one meanwhile runs its jobs itself, in order (the BLAS thread count and
its workers are process-wide). Stopping the BLAS's workers assumes that no other Python
thread is inside a BLAS call at that moment; a program that drives minigrad from several
threads at once should call minigrad.set_num_threads(1).
"""
import concurrent.futures
import os
import threading

import numpy as np

from .backend import get_num_threads, set_num_threads, stop_blas_threads

_pool = None
_pool_pid = None
_pool_lock = threading.Lock()
_region = threading.Lock()      # held while a parallel region runs


def threads_for(xp, work, minimum):
    """How many threads a kernel of `work` units (elements, scores) should use: 1 on a
    GPU or below `minimum` (where starting the threads costs more than they save), else
    minigrad.get_num_threads()."""
    if xp is not np or work < minimum:
        return 1
    return max(1, get_num_threads() or 1)


def run(jobs, work, threads):
    """work(jobs[w::n], w) for each of n = min(threads, len(jobs)) workers; returns their
    results in worker order. A worker's exception is raised here."""
    n = min(threads, len(jobs))
    if n <= 1 or not _region.acquire(blocking=False):
        return [work(jobs, 0)]
    try:
        return _run_on_threads(jobs, work, n)
    finally:
        _region.release()


def _run_on_threads(jobs, work, n):
    global _pool, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid():      # a forked child needs its own
            _pool = concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2,
                                                          thread_name_prefix="minigrad")
            _pool_pid = os.getpid()
    before = set_num_threads(1)
    stop_blas_threads()      # their spin-wait after the last matmul would take a core
    try:
        futures = [_pool.submit(work, jobs[w::n], w) for w in range(n)]
        return [f.result() for f in futures]
    finally:
        set_num_threads(before)

"""Rank 1 raises while rank 0 waits in a collective; launched by test_mpirun.py.

Without minigrad.distributed's abort-on-exception hook rank 0 would wait in the
barrier forever; with it the whole job ends with a message naming rank 1.
"""
import minigrad.distributed as dist

dist.init()
if dist.get_rank() == 1:
    raise ValueError("rank one fails on purpose")
dist.barrier()
print("rank 0 passed the barrier: the abort did not happen", flush=True)

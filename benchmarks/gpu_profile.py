"""Where minigrad's training step spends its time on a GPU (CuPy), beside PyTorch's.

    python benchmarks/gpu_profile.py                     # small and base, float32
    python benchmarks/gpu_profile.py --configs base --amp --top 40

On a GPU a step is fast when the host only queues kernels and never waits. This prints,
per config: the step's wall time and the host's CPU time in it (CPU time close to the
wall time: the step is bound by Python and kernel launches, not by the GPU), the same
for PyTorch CUDA eager, the first place where the step waits for the device (found
with cupyx.allow_synchronize(False)), and a cProfile of a few steps (the functions with
the most own time, and who calls the host transfers).
"""
import argparse
import cProfile
import io
import os
import pstats
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_step import CONFIGS, make_steps  # noqa: E402


def timed(step, sync, reps):
    """Median wall and CPU seconds of `reps` steps, each ended by `sync`."""
    walls, cpus = [], []
    for _ in range(reps):
        w, c = time.perf_counter(), time.process_time()
        step()
        sync()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return sorted(walls)[reps // 2], sorted(cpus)[reps // 2]


def first_sync(step):
    """The stack (minigrad's frames) of the first implicit device-to-host wait of a step."""
    import cupyx
    try:
        with cupyx.allow_synchronize(False):
            step()
    except Exception as e:                      # noqa: BLE001  (DeviceSynchronized, ...)
        frames = [f for f in traceback.extract_tb(e.__traceback__)
                  if "minigrad" in f.filename or "/nn/" in f.filename or "/models/" in f.filename]
        return f"{type(e).__name__}: {str(e)[:120]}\n" + "".join(
            traceback.format_list(frames[-6:]))
    return "none: the step never waits for the device"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="small,base")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--amp", action="store_true")
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--top", type=int, default=30)
    args = parser.parse_args()
    for name in args.configs.split(","):
        cfg = CONFIGS[name]
        m_step, t_step, _, (m_sync, t_sync) = make_steps(cfg, args.device, args.amp)
        for _ in range(3):
            m_step()
            t_step()
        m_wall, m_cpu = timed(m_step, m_sync, args.reps)
        t_wall, t_cpu = timed(t_step, t_sync, args.reps)
        print(f"== {name}{' (autocast float16)' if args.amp else ''}: ms/step wall (host CPU)")
        print(f"minigrad {1e3 * m_wall:8.1f} ({1e3 * m_cpu:.1f})")
        print(f"pytorch  {1e3 * t_wall:8.1f} ({1e3 * t_cpu:.1f})   ratio {m_wall / t_wall:.2f}x")
        if args.device != "cpu":
            print("first wait for the device in a minigrad step:", first_sync(m_step))
        m_sync()
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(5):
            m_step()
        profile.disable()
        out = io.StringIO()
        stats = pstats.Stats(profile, stream=out).sort_stats("tottime")
        stats.print_stats(args.top)
        stats.print_callers(r"(get' of 'cupy|\bitem\b|tolist|synchronize)")
        print("\n".join(line for line in out.getvalue().splitlines() if line.strip())[:20000])


if __name__ == "__main__":
    main()

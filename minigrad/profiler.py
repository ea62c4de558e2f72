"""Where does the time go? A per-op profile of forward and backward.

    with minigrad.profiler.profile() as prof:
        loss = model(x).sum(); loss.backward()
    print(prof.table())

While the context is open, every Function subclass's `forward` and `backward`
is wrapped in a timer; on exit the original methods come back, so the profiler
costs nothing when it is not in use.
"""
import contextlib
import time
from collections import defaultdict

from .autograd import Function


def _all_functions():
    seen, stack = [], [Function]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            if sub not in seen:
                seen.append(sub)
                stack.append(sub)
    return seen


class Profile:
    """Accumulated seconds and call counts per (op, phase)."""

    def __init__(self):
        self.seconds = defaultdict(float)
        self.calls = defaultdict(int)

    def _timed(self, cls, phase, method):
        key = (cls.name, phase)
        seconds, calls = self.seconds, self.calls

        def timed(fn_self, *args):
            start = time.perf_counter()
            try:
                return method(fn_self, *args)
            finally:
                seconds[key] += time.perf_counter() - start
                calls[key] += 1
        return timed

    def total(self):
        return sum(self.seconds.values())

    def table(self, top=25):
        """Ops sorted by time, with their share of the total op time."""
        total = self.total() or 1.0
        rows = sorted(self.seconds.items(), key=lambda kv: -kv[1])[:top]
        lines = [f"{'op':<28}{'phase':<10}{'calls':>7}{'ms':>10}{'share':>8}"]
        for (op, phase), sec in rows:
            lines.append(f"{op:<28}{phase:<10}{self.calls[(op, phase)]:>7}"
                         f"{sec * 1e3:>10.2f}{100 * sec / total:>7.1f}%")
        lines.append(f"{'total op time':<45}{total * 1e3:>10.2f}")
        return "\n".join(lines)


@contextlib.contextmanager
def profile():
    """Time every op's forward and backward while the context is open."""
    prof = Profile()
    patched = []
    for cls in _all_functions():
        for phase in ("forward", "backward"):
            if phase in cls.__dict__:
                original = cls.__dict__[phase]
                setattr(cls, phase, prof._timed(cls, phase, original))
                patched.append((cls, phase, original))
    try:
        yield prof
    finally:
        for cls, phase, original in patched:
            setattr(cls, phase, original)

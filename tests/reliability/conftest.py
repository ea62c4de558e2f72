"""Print how many fuzz cases ran, and how each ended, at the end of the test run.

Set MINIGRAD_FUZZ_REPORT=path.json to also write the totals (and each test file's) to a
file. Only "matched torch" counts a comparison with PyTorch; the other names say what
each case was checked against (fuzzlib.py).
"""
import json
import os

from reliability.fuzzlib import BY_FILE, TALLY


def pytest_terminal_summary(terminalreporter):
    if not TALLY:
        return
    total = sum(TALLY.values())
    terminalreporter.write_sep("-", f"reliability fuzz: {total} cases")
    for outcome, n in sorted(TALLY.items(), key=lambda kv: -kv[1]):
        terminalreporter.write_line(f"{n:8d}  {outcome}")
    path = os.environ.get("MINIGRAD_FUZZ_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump({"total": total, **TALLY, "by_file": BY_FILE}, f, indent=1)

"""Plain PyTorch programs run unchanged with `torch` resolved to minigrad (issue 15).

Each program in this folder is ordinary PyTorch code that prints `RESULT name value rule arg`
lines; run.py (a copy of ../shared/torch_programs/run.py) runs it under torch and under
minigrad through an import hook and checks every RESULT. Programs that need an API minigrad
does not have yet are strict expected failures naming that API: when the API lands they
pass, the xfail turns into a failure, and the mark must be removed.

    python tests/torch_programs/run.py tests/torch_programs/*.py     # the same by hand
"""
import importlib.util
import os

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("torch_programs_run", os.path.join(HERE, "run.py"))
run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run)

MISSING = {   # program -> the missing API it needs (none today: add one here when a new
}             # program needs an API minigrad does not have yet)
SLOW = {"gpt_train.py", "transformer_padding.py", "nanogpt_tied.py", "encoder_classifier.py",
        "translation_tutorial.py", "gpt_resume.py"}
PROGRAMS = sorted(f for f in os.listdir(HERE) if f.endswith(".py") and not f.startswith("_")
                  and f not in ("run.py", os.path.basename(__file__)))   # (_report.py: a helper)


def _marks(program):
    marks = [pytest.mark.torch]
    if program in SLOW:
        marks.append(pytest.mark.slow)
    if program in MISSING:
        marks.append(pytest.mark.xfail(strict=True, reason=f"needs {MISSING[program]}"))
    return marks


@pytest.mark.parametrize("program", [pytest.param(p, marks=_marks(p)) for p in PROGRAMS])
def test_program_runs_unchanged_with_torchs_results(program):
    pytest.importorskip("torch")
    failures = run.check(os.path.join(HERE, program))
    assert not failures, "\n".join(failures)


def test_the_runner_reads_lists_and_fails_nan_and_unknown_rules():
    """The shared runner split RESULT lines on every space, so a printed list's second
    element became the rule and the line passed unchecked; NaN passed `close`. This copy
    reads the rule from the end and fails those."""
    assert run.parse_result("RESULT ids [1, 2, 0] equal -") == ("ids", ("[1, 2, 0]", "equal", "-"))
    assert run.parse_result("RESULT loss 0.5 close 1e-3") == ("loss", ("0.5", "close", "1e-3"))
    assert run.parse_result("RESULT odd [1, 2]")[1][1] is None
    assert run._close(1.0, 1.0005, 1e-3) and not run._close(1.0, 1.01, 1e-3)
    assert not run._close(float("nan"), 1.0, 1e-3) and not run._close(1.0, float("nan"), 1e-3)
    assert run._close(float("nan"), float("nan"), 1e-3)

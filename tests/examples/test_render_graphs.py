"""examples/render_graphs.py: one picture per Transformer block, and DOT text
with a note when Graphviz's `dot` is missing."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "examples", "render_graphs.py")

pytest.importorskip("graphviz")
from minigrad.graph import BLOCKS  # noqa: E402


def run(*args, env=None):
    proc = subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env=env)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot program")
def test_every_block_is_drawn_as_svg(tmp_path):
    status, out, err = run("--out", str(tmp_path))
    assert status == 0, err
    for block in BLOCKS:
        svg = tmp_path / f"{block}.svg"
        assert "<svg" in svg.read_text(), block
        assert str(svg) in out
    assert "note" not in out


def test_without_dot_the_dot_text_is_written_with_a_note(tmp_path):
    env = dict(os.environ, PATH=str(tmp_path / "empty"))          # no `dot` on PATH
    status, out, err = run("--out", str(tmp_path), "--blocks", "attention", "ffn", env=env)
    assert status == 0, err
    for block in ("attention", "ffn"):
        assert (tmp_path / f"{block}.dot").read_text().startswith("digraph")
        assert not (tmp_path / f"{block}.svg").exists()
    assert "note:" in out and "install Graphviz" in out


def test_bad_sizes_are_one_line_errors(tmp_path):
    status, out, err = run("--out", str(tmp_path), "--d-model", "30", "--nhead", "4")
    assert status != 0
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "does not divide" in err

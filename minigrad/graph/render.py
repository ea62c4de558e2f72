"""Write a picture to disk: DOT text always, SVG / PNG / PDF through Graphviz's `dot`.

The `.dot` file is written first, by Python alone, so a machine without the
`dot` program still gets the graph (open it later, or paste it into an online
viewer). Then `dot` lays it out; if `dot` is not installed the error says which
package provides it.
"""
import os
import shutil
import subprocess

from ..errors import MinigradError

FORMATS = ("svg", "png", "pdf", "dot")

INSTALL_HINT = ("install Graphviz, the package that provides `dot`: "
                "`apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS), "
                "or `conda install graphviz`")


class GraphvizNotFoundError(MinigradError, RuntimeError):
    """The Graphviz `dot` program is not on PATH."""


def dot_source(picture):
    """DOT text from a `graphviz.Digraph` or a string that already is DOT text."""
    return picture if isinstance(picture, str) else picture.source


def render(picture, path, format=None, keep_dot=False):
    """Write `picture` (a `graphviz.Digraph` or DOT text) to `path`; returns the path.

    format: 'svg', 'png', 'pdf' or 'dot'; by default taken from the file's suffix
            (a path without one gets the format's).
    The DOT text goes to the same name with the suffix `.dot`; it stays there when
    `keep_dot` is set, when format is 'dot', or when `dot` is missing or fails.
    """
    path = os.fspath(path)
    stem, suffix = os.path.splitext(path)
    if format is None:
        format = suffix.lstrip(".").lower() or "svg"
    if not suffix:
        path = f"{path}.{format}"
    if format not in FORMATS:
        raise MinigradError(f"render: format must be one of {', '.join(FORMATS)}, got {format!r}")
    dot_path = stem + ".dot"
    if format != "dot" and os.path.abspath(dot_path) == os.path.abspath(path):
        dot_path = stem + ".gv"          # 'picture.dot' asked for as SVG: keep both
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    with open(dot_path, "w", encoding="utf-8") as f:
        f.write(dot_source(picture))
    if format == "dot":
        if os.path.abspath(dot_path) != os.path.abspath(path):
            os.replace(dot_path, path)
        return path
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizNotFoundError(
            f"render: cannot make {format.upper()} because the Graphviz program `dot` is not on "
            f"PATH; the graph was written as DOT text to {dot_path}. To render it, {INSTALL_HINT}; "
            f"then run `dot -T{format} {dot_path} -o {path}`")
    done = subprocess.run([exe, f"-T{format}", dot_path, "-o", path],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise MinigradError(f"render: `dot -T{format}` failed (exit {done.returncode}) on "
                            f"{dot_path}: {done.stderr.strip()}")
    if not keep_dot:
        os.remove(dot_path)
    return path

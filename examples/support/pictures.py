"""Computation-graph pictures of Transformer blocks (minigrad.graph.render_block),
written into a run folder; a missing Graphviz is a note, never a failure."""
import os


def render_block_pictures(folder, blocks=("attention", "ffn"), fmt="svg", suffix="",
                          **block_args):
    """Draw Transformer blocks with minigrad.graph.render_block into `folder`, as
    BLOCK{suffix}.{fmt}; `block_args` go to render_block (d_model, nhead, backward...).

    Returns [(picture name, path written, note or None)]. Without Graphviz's `dot`
    program the DOT text is written instead and the note says how to get pictures;
    a missing `graphviz` Python package is a note too: pictures never stop a run.
    """
    try:
        from minigrad.graph import GraphvizNotFoundError, render_block
    except ImportError as e:
        return [(b, None, f"graph pictures skipped: {e}") for b in blocks]
    written = []
    for block in blocks:
        name = block + suffix
        path = os.path.join(folder, f"{name}.{fmt}")
        try:
            written.append((name, render_block(block, path=path, **block_args), None))
        except GraphvizNotFoundError:
            dot = os.path.splitext(path)[0] + ".dot"
            written.append((name, dot, "Graphviz's `dot` program is missing, so the graph was "
                                        "written as DOT text; install Graphviz (apt-get install "
                                        "graphviz / brew install graphviz) for "
                                        f"{fmt.upper()}"))
        except ImportError as e:
            written.append((name, None, f"graph pictures need the graphviz package ({e}): "
                                         "pip install graphviz"))
    return written

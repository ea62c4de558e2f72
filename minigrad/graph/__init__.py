"""Pictures of the computation graph: what ran, in which module, on what shapes.

    import minigrad.graph as mgg
    out = model(x)                                          # before backward()
    mgg.render(mgg.make_dot(out, module=model), "model.svg")
    mgg.render_block("attention", path="attention.svg")     # a ready-made picture

From the shell: `python -m minigrad.graph attention -o attention.svg`.
Building a picture needs the `graphviz` Python package; turning it into SVG, PNG
or PDF needs Graphviz's `dot` program (the DOT text is written without it).
"""
from .blocks import BLOCKS, build_block, render_block
from .dot import build_digraph, make_dot, node_label, to_dot
from .render import FORMATS, GraphvizNotFoundError, render
from .roles import label_attention
from .simplify import simplify
from .walk import Graph, Node, record_grad_norms, walk

__all__ = ["BLOCKS", "FORMATS", "Graph", "GraphvizNotFoundError", "Node", "build_block",
           "build_digraph", "label_attention", "make_dot", "node_label", "record_grad_norms",
           "render", "render_block", "simplify", "to_dot", "walk"]

"""Build the Graphviz picture (a `graphviz.Digraph`) of a walked graph.

Ops are rounded boxes coloured by family and labelled with their role (when
known), the op and its output shape and dtype; parameters are yellow boxes
named by module path; inputs are ellipses; collapsed modules are 3-D boxes.
Each module scope becomes a cluster, nested as the modules are, labelled with
its path and class. Dashed edges carry no gradient.

Labels are Graphviz HTML-like labels; every piece of text that comes from the
user's program (module and parameter names) is HTML-escaped, so a module named
`<"odd">` draws as written.
"""
import html

from ..errors import MinigradError, MissingPackageError
from . import style
from .roles import label_attention, label_biases, label_residuals
from .simplify import simplify
from .walk import Graph, scope_path, walk


def _graphviz():
    try:
        import graphviz
    except ImportError:
        raise MissingPackageError("graph: the 'graphviz' Python package is needed to build "
                                  "pictures; install it with `pip install graphviz` (or "
                                  "`pip install minigrad[viz]`)") from None
    return graphviz


def make_dot(outputs, params=None, module=None, names=None, *, backward=False,
             grad_norms=False, collapse=(), rankdir="TB", simplified=True, legend=False,
             title=None):
    """The computation behind `outputs` (a Tensor or a list of them) as a `graphviz.Digraph`.

    params:   {path: Parameter}, e.g. `dict(model.named_parameters())`, names the parameters;
    module:   or pass the model itself, whose parameter paths name them.
    names:    {name: Tensor} names input tensors ('x', 'memory').
    backward: draw the gradient's path instead: each op's backward, from the output
              to the parameters' `.grad`.
    grad_norms: label edges with the norm of the gradient of the tensor they carry (summed
              over all its uses);
              needs `backward(retain_graph=True)` run under `record_grad_norms()`.
    collapse: modules to draw as one box each: paths, globs ('encoder.layers.*'),
              class names ('LayerNorm') or a function (path, class name) -> bool.
    rankdir:  'TB' (top to bottom, the default), 'LR', 'BT' or 'RL'.
    simplified: fold constants, merge reshape/permute chains, name attention roles
              (False draws every recorded op as it is).
    legend:   add a key to the colours.
    title:    a caption under the picture (its first line in bold).

    The graph must still be alive: draw before `backward()`, or call it with
    `retain_graph=True`. `str(make_dot(...))` is the DOT text; no `dot` program needed.
    """
    graph = walk(outputs, params=params, module=module, names=names, grad_norms=grad_norms)
    graph = simplify(graph, collapse=collapse, readable=simplified)
    if simplified:
        label_attention(graph)
        label_biases(graph)
        label_residuals(graph)
    return build_digraph(graph, backward=backward, grad_norms=grad_norms, rankdir=rankdir,
                         legend=legend, title=title)


def to_dot(outputs, **kwargs):
    """The DOT text of `make_dot(outputs, **kwargs)`."""
    return make_dot(outputs, **kwargs).source


# ------------------------------------------------------------------ labels
def _esc(text):
    return html.escape(str(text), quote=True)


def _shape_text(node):
    return f"{tuple(int(s) for s in node.shape)} {node.dtype}"


def _small(text, colour="#444444"):
    return f'<font point-size="9" color="{colour}">{_esc(text)}</font>'


def node_label(node, backward=False, module_note=None):
    """The HTML-like label of one node: a bold title (the role, or the op or name),
    then a line with the op, its arguments, and the output shape and dtype."""
    shape = _small(_shape_text(node))
    if node.kind == "op":
        op = node.name + (" backward" if backward else "")
        detail = node.detail if len(node.members) <= 1 else None
        if node.role and node.role != node.name:
            title, line = node.role, op + (f" {detail}" if detail else "")
        else:
            title, line = op, detail
        head = f"<i>{_small(module_note)}</i><br/>" if module_note else ""
        body = f"{_esc(line)}  {shape}" if line else shape
        return f"<{head}<b>{_esc(title)}</b><br/>{body}>"
    if node.kind == "module":
        title = node.role or node.name
        line = (f"{node.name} · " if node.role else "") + node.detail
        line += " backward" if backward else ""
        return f"<<b>{_esc(title)}</b><br/>{_esc(line)}<br/>{shape}>"
    name = node.name + (".grad" if backward and node.kind == "param" else "")
    extra = f"<br/>{_small(node.detail)}" if node.detail else ""
    return f"<<b>{_esc(name)}</b><br/>{shape}{extra}>"


def _node_attrs(node):
    if node.kind == "op":
        fam = style.op_family(node.name.split(" → ")[0], node.fn)
        attrs = {"shape": "box", "style": "rounded,filled",
                 "fillcolor": style.FAMILY_COLOUR[fam]}
    elif node.kind == "module":
        attrs = {"shape": "box3d", "style": "filled", "fillcolor": style.MODULE_COLOUR,
                 "margin": "0.14,0.07"}
    elif node.kind == "param":
        attrs = {"shape": "box", "style": "filled", "fillcolor": style.PARAM_COLOUR}
    elif node.kind == "constant":
        attrs = {"shape": "plaintext", "style": ""}
    else:
        attrs = {"shape": "ellipse", "style": "filled", "fillcolor": style.INPUT_COLOUR}
    if node.is_output:
        attrs["penwidth"] = "2.5"
    return attrs


def _cluster_label(prefix):
    path, cls = scope_path(prefix), prefix[-1][1]
    head = f"<b>{_esc(path)}</b>  " if path else ""
    return f"<{head}<i>{_esc(cls)}</i>>"


def _legend():
    """A one-row key to the colours, as an HTML table (it becomes the graph's label,
    so it takes no rank and never stretches the layout)."""
    cells = [(style.FAMILY_COLOUR[fam], title) for fam, title in style.FAMILY_TITLE.items()]
    cells += [(style.PARAM_COLOUR, "parameter"), (style.MODULE_COLOUR, "module"),
              (style.INPUT_COLOUR, "input")]
    row = "".join(f'<td bgcolor="{colour}">{_esc(title)}</td>' for colour, title in cells)
    row += '<td border="0">dashed edge: no gradient</td>'
    return ('<table border="0" cellborder="1" cellspacing="2" cellpadding="3">'
            f"<tr>{row}</tr></table>")


# ------------------------------------------------------------------ the digraph
def build_digraph(graph: Graph, backward=False, grad_norms=False, rankdir="TB", legend=False,
                  title=None):
    """Lay out a (walked, maybe simplified) Graph as a nested-cluster Digraph."""
    graphviz = _graphviz()
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise MinigradError(f"graph: rankdir must be 'TB', 'LR', 'BT' or 'RL', got {rankdir!r}")
    g = graphviz.Digraph("minigrad", graph_attr={
        "rankdir": rankdir, "fontname": "Helvetica", "fontsize": "11", "nodesep": "0.2",
        "ranksep": "0.22", "newrank": "true"})
    g.attr("node", fontname="Helvetica", fontsize="11", margin="0.1,0.03", height="0.3",
           penwidth="1")
    g.attr("edge", color=style.EDGE_COLOUR, arrowsize="0.6", fontname="Helvetica", fontsize="9")
    if title or legend:
        lines = title.split("\n") if title else []
        rows = [f'<tr><td align="left"><font point-size="14"><b>{_esc(lines[0])}</b></font>'
                "</td></tr>"] if lines else []
        rows += [f'<tr><td align="left">{_esc(line)}</td></tr>' for line in lines[1:]]
        if legend:
            rows.append(f'<tr><td align="left">{_legend()}</td></tr>')
        g.attr(label='<<table border="0" cellpadding="2">' + "".join(rows) + "</table>>",
               labelloc="b", labeljust="l")

    nodes = graph.nodes
    if backward:
        keep = _backward_nodes(graph)
    else:
        keep = set(nodes)

    # Clusters: one per module scope prefix, in order of first appearance (stable names).
    children, members, order = {(): []}, {(): []}, []
    for n in nodes.values():
        if n.id not in keep:
            continue
        scope = tuple(n.scope)
        for depth in range(1, len(scope) + 1):
            prefix = scope[:depth]
            if prefix not in members:
                members[prefix], children[prefix] = [], []
                children[prefix[:-1]].append(prefix)
                order.append(prefix)
        members[scope].append(n)
    number = {prefix: k for k, prefix in enumerate(order)}

    # A module that ran a single op and owns no parameters (Dropout, ReLU) gets no
    # frame of its own: its op joins the parent, labelled with the module's name.
    module_notes = {}
    for prefix in reversed(order):
        inner = members[prefix]
        if not children[prefix] and len(inner) == 1 and inner[0].kind == "op":
            path, cls = scope_path(prefix), prefix[-1][1]
            module_notes[inner[0].id] = f"{path} · {cls}" if path else cls
            members[prefix[:-1]].append(inner[0])
            children[prefix[:-1]].remove(prefix)

    def emit(sub, prefix):
        for n in members[prefix]:
            sub.node(n.id, node_label(n, backward, module_notes.get(n.id)), **_node_attrs(n))
        for child in children[prefix]:
            with sub.subgraph(name=f"cluster_{number[child]}") as c:
                c.attr(label=_cluster_label(child), style="rounded,filled",
                       fillcolor=style.CLUSTER_FILLS[(len(child) - 1) % 2], color="#8a8a9a",
                       labelloc="t",
                       fontsize="11", labeljust="l", margin="10")
                emit(c, child)

    emit(g, ())

    for src, dst, carries_grad, note in graph.edges():
        if src not in keep or dst not in keep:
            continue
        if backward and not carries_grad:
            continue
        attrs = {}
        if not carries_grad:
            attrs.update(style="dashed", color=style.NO_GRAD_EDGE_COLOUR)
        label = []
        if note:
            label.append(note.replace("ᵀ", "transposed"))
        norm = nodes[src].grad_norm
        if grad_norms and norm is not None:
            label.append(f"|g| {norm:.3g}")
        if label:
            attrs["xlabel"] = " ".join(label)   # xlabel: placed after layout, adds no rank
        if backward:
            g.edge(dst, src, **attrs)
        else:
            g.edge(src, dst, **attrs)
    return g


def _backward_nodes(graph):
    """The nodes a gradient reaches: every op, and the leaves an edge carries one to."""
    keep = {n.id for n in graph.nodes.values() if n.kind in ("op", "module")}
    for src, _, carries_grad, _ in graph.edges():
        if carries_grad:
            keep.add(src)
    return keep

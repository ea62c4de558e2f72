"""Make a walked graph readable: fewer boxes, each saying what it does.

The recorded graph is faithful but noisy: a `0.125` constant gets a box of its
own, `reshape` and `permute` come in pairs, every `x @ W.T` transposes `W` first.
These passes rewrite a `Graph` into one a person can read, without losing what
happened: constants fold into their op's label, chains of data movement merge
into one box, a transpose or slice of a parameter becomes a note on its edge,
and chosen modules collapse into single boxes. Node ids never change (a merged
box keeps the id of its last op), so the same computation gives the same DOT text.
"""
import copy
import fnmatch
import math

import numpy as np

from .style import MOVEMENT_OPS
from .walk import Graph, Node, scope_path

_SYMBOL = {"add": "+", "sub": "−", "mul": "×", "div": "÷", "pow": "^",
           "maximum": "max", "minimum": "min"}


def copy_graph(graph):
    nodes = {}
    for nid, n in graph.nodes.items():
        c = copy.copy(n)
        c.inputs, c.grad_inputs = list(n.inputs), list(n.grad_inputs)
        c.members, c.notes, c.steps = list(n.members), dict(n.notes), list(n.steps)
        nodes[nid] = c
    return Graph(nodes, list(graph.outputs))


def simplify(graph, collapse=(), readable=True):
    """A new Graph (the input left alone): chosen modules collapsed, then, when
    `readable`, constants folded, movement chains merged and parameter views
    turned into edge notes; finally every leaf placed in its module."""
    g = copy_graph(graph)
    describe(g)
    if collapse:
        collapse_modules(g, collapse)
    if readable:
        fold_constants(g)
        merge_movement(g)
        fold_parameter_views(g)
        fold_unflatten(g)
    place_leaves(g)
    return g


# ------------------------------------------------------------------ op details
def _format_index(index):
    parts = index if isinstance(index, tuple) else (index,)
    out = []
    for p in parts:
        if isinstance(p, slice):
            text = "" if p.start is None else str(p.start)
            text += ":" + ("" if p.stop is None else str(p.stop))
            if p.step not in (None, 1):
                text += f":{p.step}"
            out.append(text)
        elif p is Ellipsis:
            out.append("...")
        elif p is None:
            out.append("None")
        elif hasattr(p, "shape") and getattr(p, "ndim", 0) > 0:
            out.append(f"<{'×'.join(map(str, p.shape))} ids>")
        else:
            out.append(str(int(p)) if isinstance(p, (int, np.integer)) else str(p))
    return "[" + ", ".join(out) + "]"


def _detail(node):
    """A short note on the arguments that matter for reading the op."""
    d, name = node.fn.__dict__, node.name
    if name == "permute":
        axes = tuple(d["axes"])
        nd = len(axes)
        if nd >= 2 and axes == tuple(range(nd - 2)) + (nd - 1, nd - 2):
            return "transpose"
        return f"axes {axes}"
    if name == "getitem":
        return _format_index(d["index"])
    if name in ("softmax", "log_softmax", "concat", "stack") and d.get("axis") is not None:
        return f"axis {d['axis']}"
    if name in ("sum", "mean", "max", "min", "var") and d.get("axis") is not None:
        axis = d["axis"]
        return f"axis {axis[0] if isinstance(axis, tuple) and len(axis) == 1 else axis}"
    if name == "masked_fill" and isinstance(d.get("value"), (int, float)):
        return f"with {d['value']:g}"
    if name == "dropout" and d.get("mask") is not None:
        top = float(d["mask"].max())
        return f"p={1.0 - 1.0 / top:.2g}" if top > 0 else "p=1"
    if name == "gelu":
        return "tanh" if d.get("approximate") == "tanh" else "erf"
    return None


def describe(graph):
    for n in graph.ops():
        if n.fn is not None and n.detail is None:
            try:
                n.detail = _detail(n)
            except (KeyError, TypeError, ValueError):
                n.detail = None
            n.steps = [(n.name, n.detail)]


# ------------------------------------------------------------------ constants
def fold_constants(graph):
    """`x * 0.125`: the 0.125 becomes part of the mul's label instead of a box."""
    for n in graph.ops():
        keep = [k for k, i in enumerate(n.inputs) if graph.nodes[i].kind != "constant"]
        if len(keep) == len(n.inputs):
            continue
        consts = [graph.nodes[n.inputs[k]].name for k in range(len(n.inputs)) if k not in keep]
        sym = _SYMBOL.get(n.name)
        first_is_const = 0 not in keep
        if sym and len(n.inputs) == 2 and len(consts) == 1:
            text = f"{consts[0]} {sym} x" if first_is_const else f"x {sym} {consts[0]}"
        else:
            text = "with " + ", ".join(consts)
        n.detail = text if not n.detail else f"{n.detail}, {text}"
        _keep_inputs(n, keep)
    users = graph.consumers()
    for nid in [i for i, n in graph.nodes.items() if n.kind == "constant" and not users[i]
                and not n.is_output]:
        del graph.nodes[nid]


def _keep_inputs(node, keep):
    node.notes = {new: node.notes[old] for new, old in enumerate(keep) if old in node.notes}
    node.inputs = [node.inputs[k] for k in keep]
    node.grad_inputs = [node.grad_inputs[k] for k in keep]


# ------------------------------------------------------------------ data movement
def merge_movement(graph):
    """reshape -> permute -> ... : one box per chain of pure data movement.

    A movement op read only by other movement ops (in the same module) is merged
    into each of them: `reshape -> permute` followed by `[0]`, `[1]`, `[2]` becomes
    three boxes, one per head split of Q, K and V.
    """
    users = graph.consumers()
    for n in list(graph.nodes.values()):
        if not _is_movement(n) or n.is_output or not users[n.id]:
            continue
        nexts = [graph.nodes[u] for u in users[n.id]]
        if not all(_is_movement(m) and m.inputs == [n.id] and m.scope == n.scope for m in nexts):
            continue
        for m in nexts:
            m.inputs, m.grad_inputs, m.notes = list(n.inputs), list(n.grad_inputs), dict(n.notes)
            m.members = n.members + m.members
            m.name = _chain(n.name, m.name)
            m.steps = n.steps + m.steps
            m.detail = None
        for i in n.inputs:
            users[i] = [u for u in users[i] if u != n.id] + [m.id for m in nexts]
        del graph.nodes[n.id]
        del users[n.id]


def _chain(first, second):
    """'reshape' + 'reshape → permute' -> 'reshape → permute' (repeats said once)."""
    parts = []
    for p in first.split(" → ") + second.split(" → "):
        if not parts or parts[-1] != p:
            parts.append(p)
    return " → ".join(parts)


def _is_movement(node):
    return node.kind == "op" and all(p in MOVEMENT_OPS for p in node.name.split(" → "))


def fold_parameter_views(graph):
    """Views that are bookkeeping, not steps, become notes on an edge.

    `x @ W.T` transposes W and `W[0:32]` slices it: the 'ᵀ' or '[0:32]' goes on the
    edge from W. A reshape that flattens the batch axes just before a matmul (the
    2-D matmul of a Linear) becomes a note on that matmul's input edge too.
    """
    users = graph.consumers()
    for n in list(graph.nodes.values()):
        if not _is_movement(n) or n.is_output or len(n.inputs) != 1 or len(users[n.id]) != 1:
            continue
        src, user = graph.nodes[n.inputs[0]], graph.nodes[users[n.id][0]]
        if src.kind in ("param", "input"):
            note = _view_note(n)
        elif n.name == "reshape" and user.name == "matmul" and _flattens_batch(src.shape, n.shape):
            note = "flatten " + "(" + ", ".join(map(str, n.shape)) + ")"
        else:
            continue
        for k, i in enumerate(user.inputs):
            if i == n.id:
                user.inputs[k] = src.id
                user.grad_inputs[k] = n.grad_inputs[0]
                user.notes[k] = note
        users[src.id] = [u for u in users[src.id] if u != n.id] + [user.id]
        del graph.nodes[n.id]


def _flattens_batch(before, after):
    return len(after) == 2 and len(before) > 2 and before[-1] == after[-1]


def fold_unflatten(graph):
    """The reshape back to (batch, length, features) after a 2-D matmul (+ bias) is
    drawn as the last step of the op before it: 'add → reshape'."""
    users = graph.consumers()
    for n in list(graph.nodes.values()):
        if n.kind != "op" or n.name != "reshape" or len(n.inputs) != 1:
            continue
        src = graph.nodes[n.inputs[0]]
        if src.kind != "op" or _is_movement(src) or src.is_output or users[src.id] != [n.id] \
                or src.scope != n.scope or not _flattens_batch(n.shape, src.shape):
            continue
        src.name = f"{src.name} → reshape"
        src.shape, src.members, src.is_output = n.shape, src.members + n.members, n.is_output
        for u in users[n.id]:
            user = graph.nodes[u]
            user.inputs = [src.id if i == n.id else i for i in user.inputs]
        users[src.id] = users.pop(n.id)
        graph.outputs = [src.id if o == n.id else o for o in graph.outputs]
        del graph.nodes[n.id]


def _view_note(node):
    """'ᵀ' for a transpose, '[0:32]' for a slice, 'reshape (10, 32)' for a reshape."""
    parts = []
    for op, detail in node.steps:
        if op == "permute" and detail == "transpose":
            parts.append("ᵀ")
        elif op == "getitem" and detail:
            parts.append(detail)
        else:
            parts.append(op)
    if node.steps and node.steps[-1][0] == "reshape":
        parts.append("(" + ", ".join(map(str, node.shape)) + ")")
    return " ".join(parts)


# ------------------------------------------------------------------ modules as boxes
def _matches(pattern, path, cls):
    if callable(pattern):
        return bool(pattern(path, cls))
    return pattern == cls or fnmatch.fnmatchcase(path, pattern)


def collapse_modules(graph, patterns):
    """Replace everything a matching module did by one box (outermost match wins).

    A pattern is a module path (`'encoder.layers.0'`), a glob over paths
    (`'encoder.layers.*'`), a class name (`'LayerNorm'`) or a function of
    (path, class name). Parameters used only inside a box disappear into it.
    """
    if isinstance(patterns, str) or callable(patterns):
        patterns = [patterns]
    group_of = {}
    for n in graph.ops():
        for depth in range(1, len(n.scope) + 1):
            prefix = n.scope[:depth]
            path, cls = scope_path(prefix), prefix[-1][1]
            if any(_matches(p, path, cls) for p in patterns):
                group_of[n.id] = prefix
                break
    if not group_of:
        return
    users = graph.consumers()
    boxes, members, hidden = {}, {}, {}     # by scope prefix
    for nid, prefix in group_of.items():
        members.setdefault(prefix, []).append(nid)
    new_nodes = {}
    count = 0
    for nid, n in graph.nodes.items():
        prefix = group_of.get(nid)
        if prefix is None:
            new_nodes[nid] = n
            continue
        inside = members[prefix]
        if nid != inside[-1]:
            continue                      # the box goes where its last op was
        box = Node(f"module{count}", "module", scope_path(prefix) or prefix[-1][1],
                   n.shape, n.dtype, scope=prefix[:-1])
        count += 1
        box.detail = prefix[-1][1]
        inside_set = set(inside)
        leaving = [m for m in inside if any(u not in inside_set for u in users[m])
                   or graph.nodes[m].is_output]
        if leaving:
            last = graph.nodes[leaving[-1]]
            box.shape, box.dtype = last.shape, last.dtype
        box.is_output = any(graph.nodes[m].is_output for m in inside)
        hidden[prefix] = []
        for m in inside:
            for i, gflag in zip(graph.nodes[m].inputs, graph.nodes[m].grad_inputs):
                if i in inside_set:
                    continue
                src = graph.nodes[i]
                if src.kind in ("param", "constant") and all(u in inside_set for u in users[i]):
                    if i not in hidden[prefix]:
                        hidden[prefix].append(i)
                    continue
                if i in box.inputs:
                    k = box.inputs.index(i)
                    box.grad_inputs[k] = box.grad_inputs[k] or gflag
                else:
                    box.inputs.append(i)
                    box.grad_inputs.append(gflag)
        box.members = list(inside)
        boxes[prefix] = box
        new_nodes[box.id] = box
    for prefix, box in boxes.items():
        params = [p for p in hidden[prefix] if graph.nodes[p].kind == "param"]
        for leaf in hidden[prefix]:
            new_nodes.pop(leaf, None)
        if params:
            n_values = sum(math.prod(graph.nodes[p].shape) for p in params)
            box.detail += f" · {n_values:,} parameters"
    # Inputs that came from inside a box now come from the box; two views of the
    # box's output read by one op become a single edge.
    for n in new_nodes.values():
        keep, seen_boxes = [], set()
        for k, i in enumerate(n.inputs):
            if i in group_of:
                box_id = boxes[group_of[i]].id
                n.inputs[k] = box_id
                if box_id in seen_boxes:
                    continue
                seen_boxes.add(box_id)
            keep.append(k)
        if len(keep) != len(n.inputs):
            _keep_inputs(n, keep)
    graph.nodes = new_nodes
    graph.outputs = [boxes[group_of[o]].id if o in group_of else o for o in graph.outputs]


# ------------------------------------------------------------------ where leaves go
def place_leaves(graph):
    """A parameter sits in the cluster of the module that owns it ('...self_attn' for
    '...self_attn.in_proj_weight'), or the nearest enclosing cluster that was drawn;
    a constant sits with the op that reads it; inputs stay outside every module."""
    scopes = {}
    for n in graph.nodes.values():
        for depth in range(1, len(n.scope) + 1):
            scopes.setdefault(scope_path(n.scope[:depth]), n.scope[:depth])
    users = graph.consumers()
    for n in graph.nodes.values():
        if n.kind == "param" and "." in n.name:
            path = n.name.rsplit(".", 1)[0]
            while path and path not in scopes:
                path = path.rsplit(".", 1)[0] if "." in path else ""
            n.scope = scopes.get(path, ())
        elif n.kind == "param":
            n.scope = scopes.get("", ())
        elif n.kind == "constant" and users[n.id]:
            n.scope = graph.nodes[users[n.id][0]].scope

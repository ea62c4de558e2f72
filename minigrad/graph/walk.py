"""Walk the recorded graph behind some tensors: which ops ran, on what, in which module.

Nothing is computed here. The forward pass already left everything behind:
each non-leaf tensor knows the Function that made it (`tensor._ctx`), and each
Function knows its inputs (`fn.inputs`) and the module scope it ran in
(`fn.scope`). Walking back from the outputs through `fn.inputs` finds the whole
computation; this module turns it into plain `Node` records that the drawing
code (and tests) can read without touching the engine.

The graph must still be alive when it is walked: `backward()` frees it, unless
it was called with `retain_graph=True`.
"""
from dataclasses import dataclass, field

import numpy as np

from ..autograd import record_grad_norms  # noqa: F401  (was defined here)
from ..autograd import topological_order
from ..errors import AutogradError
from ..tensor import Tensor


@dataclass
class Node:
    """One box of the picture: an op (with the tensor it produced) or a leaf tensor.

    `kind` is 'op', 'param' (a learned Parameter), 'input' (any other leaf: data,
    masks) or 'constant' (a Python number lifted to a tensor, e.g. the 0.125 of a
    scale). `inputs` lists the ids of the nodes this op reads, in argument order;
    `grad_inputs[i]` says whether a gradient flows back along input i.
    """

    id: str
    kind: str
    name: str
    shape: tuple
    dtype: str
    scope: tuple = ()
    inputs: list = field(default_factory=list)
    grad_inputs: list = field(default_factory=list)
    fn: object = None
    grad_norm: float = None
    is_output: bool = False
    role: str = None          # what the op means in its block ('split heads', 'softmax', ...)
    detail: str = None        # a short note on the op's arguments ('axes (0, 2, 1, 3)')
    members: list = field(default_factory=list)   # ids of the ops merged into this node
    notes: dict = field(default_factory=dict)     # input position -> note on that edge ('ᵀ')
    steps: list = field(default_factory=list)     # (op name, detail) of each merged op

    @property
    def path(self):
        """The dotted module path ('encoder.layers.0.self_attn'); '' at the top."""
        return scope_path(self.scope)


@dataclass
class Graph:
    """The walked graph: nodes in topological order (every input before its users)."""

    nodes: dict
    outputs: list

    def ops(self):
        return [n for n in self.nodes.values() if n.kind == "op"]

    def consumers(self):
        """id -> ids of the nodes that read it, in topological order."""
        users = {i: [] for i in self.nodes}
        for n in self.nodes.values():
            for i in n.inputs:
                if n.id not in users[i]:
                    users[i].append(n.id)
        return users

    def edges(self):
        """(source id, target id, carries gradient, note) for every input of every node."""
        for n in self.nodes.values():
            for k, (i, g) in enumerate(zip(n.inputs, n.grad_inputs)):
                yield i, n.id, g, n.notes.get(k)


def scope_path(scope):
    """Join the non-empty segments of a recorded scope into a dotted path."""
    return ".".join(seg for seg, _ in scope if seg)


def _base_array(a):
    """The array that owns `a`'s memory (views, broadcasts and slices lead back to it)."""
    while getattr(a, "base", None) is not None:
        a = a.base
    return a


def _is_param(t):
    """A Parameter (`minigrad.nn.Parameter`), told by class name: the core never imports nn."""
    return any(c.__name__ == "Parameter" for c in type(t).__mro__)


def walk(outputs, params=None, module=None, names=None, grad_norms=False):
    """Find every op and leaf behind `outputs` (a Tensor or a sequence of them).

    params:  {path: Parameter}, e.g. `dict(model.named_parameters())`, to name parameters.
    module:  or a Module, whose `named_parameters()` name them.
    names:   {name: Tensor} for inputs ('x', 'memory', 'mask'); a view of a named
             tensor (a broadcast mask, say) takes the same name.
    grad_norms: read the gradient norm of every op output (recorded by backward under
             `record_grad_norms()`) and of every parameter's `.grad`.
    """
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    param_names = {}
    if module is not None:
        for path, p in module.named_parameters():
            param_names.setdefault(id(p), path)
    for path, p in (params or {}).items():
        param_names.setdefault(id(p), path)
    input_names, base_names, named_tensors = {}, {}, {}
    for name, t in (names or {}).items():
        named_tensors[name] = t
        input_names.setdefault(id(t), name)
        base_names.setdefault(id(_base_array(t.array)), name)   # its views, by memory

    nodes, out_info = {}, {}
    fn_ids, leaf_ids = {}, {}
    counters = {"op": 0, "param": 0, "input": 0, "constant": 0}

    def new_id(kind):
        n = counters[kind]
        counters[kind] += 1
        return f"{kind}{n}"

    def leaf_node(t):
        """The id of the node for leaf `t`, and a note for the edge out of it: a view
        of a named input (x reshaped, a mask broadcast) is drawn as that input."""
        key = id(t)
        note = None
        if key not in leaf_ids and key not in param_names and not _is_param(t) \
                and key not in input_names and id(_base_array(t.array)) in base_names:
            name = base_names[id(_base_array(t.array))]
            named = named_tensors[name]
            if tuple(t.shape) != tuple(named.shape):
                flat = t.ndim == 2 and named.ndim > 2 and t.shape[-1] == named.shape[-1]
                note = ("flatten " if flat else "as ") + str(tuple(int(s) for s in t.shape))
            t, key = named, id(named)
        if key in leaf_ids:
            return leaf_ids[key], note
        if key in param_names or _is_param(t):
            kind, name = "param", param_names.get(key, "parameter")
        elif t.name is not None and t.numel() == 1 and not t.requires_grad:
            kind, name = "constant", t.name
        else:
            kind = "input"
            name = input_names.get(key) or ("mask" if t.dtype == np.bool_ else "input")
        node = Node(new_id(kind), kind, name, tuple(t.shape), str(t.dtype))
        if grad_norms and t.grad is not None:
            node.grad_norm = _norm(t.grad.array)
        nodes[node.id] = node
        leaf_ids[key] = node.id
        return node.id, note

    # The engine's topological order, inputs visited in argument order, so that the
    # ids are the same on every run.
    for t in outputs:
        if t._ctx is not None:
            out_info.setdefault(t._ctx, t)
    order = topological_order([t._ctx for t in outputs if t._ctx is not None],
                              argument_order=True, caller="graph")
    for fn in order:               # (fn.edges: each input's creator when fn ran; an
        for t, ctx in zip(fn.inputs, fn.edges):      # in-place op may have replaced it since)
            if ctx is not None:
                out_info.setdefault(ctx, t)
    for fn in order:
        inputs = fn.inputs
        ids, notes = [], {}
        for k, (t, ctx) in enumerate(zip(inputs, fn.edges)):
            if ctx is not None:
                ids.append(fn_ids[ctx])
                continue
            nid, note = leaf_node(t)
            ids.append(nid)
            if note:
                notes[k] = note
        out = out_info[fn]
        node = Node(new_id("op"), "op", fn.name, tuple(out.shape), str(out.dtype),
                    scope=tuple(fn.__dict__.get("scope", ())), inputs=ids,
                    grad_inputs=list(fn.needs_input_grad), fn=fn, notes=notes)
        node.members = [node.id]
        if grad_norms:
            node.grad_norm = fn.__dict__.get("grad_norm")
        nodes[node.id] = node
        fn_ids[fn] = node.id

    roots = []
    for t in outputs:
        nid = fn_ids[t._ctx] if t._ctx is not None else leaf_node(t)[0]
        nodes[nid].is_output = True
        roots.append(nid)
    return Graph(nodes, roots)


def _norm(a):
    """The 2-norm of an array, summed in float64 (on whichever device holds it)."""
    return float((a.astype("float64") ** 2).sum() ** 0.5)

"""Name what each op means in an attention block, so the picture reads like the paper.

An op is called `matmul` whether it multiplies queries by keys or weights by
values. The role says which. The ops themselves say what to look for, in one
shared definition: `minigrad.ops.attention.ATTENTION_STEPS` lists the steps of
the reference attention (scores, scale, mask, softmax, dropout, weighted sum) with
the op each records, and `ScaledDotProductAttention.name` is the fused kernel's
op. A chain of ops that matches the steps in order (optional steps may be absent)
is an attention; one fused op is the whole chain in one. Around it, the
data-movement boxes that feed it are the split into heads, the one after is the
merge of heads, and what feeds the splits and reads the merge are the projections.
Anything that does not match keeps its plain op name.
"""
from ..ops.attention import ATTENTION_STEPS, OPTIONAL_STEPS, ScaledDotProductAttention
from ..ops.linear import Linear
from ..ops.linalg import MatMul
from .simplify import _is_movement


def label_attention(graph):
    """Set `node.role` on every op of every attention found in `graph` (step by step
    under `use_fused(False)`, or one fused attention op); returns how many."""
    users = graph.consumers()
    nodes = graph.nodes
    found = 0
    last_role, last_ops = ATTENTION_STEPS[-1]
    for end in [n for n in graph.ops() if op_name(n) in last_ops]:
        steps = _match_steps(end, nodes)
        if steps is None:
            continue
        found += 1
        for role, node in steps:
            _set(node, role)
            if role == "mask":               # the mask itself: an unnamed input, no gradient
                for i, g in zip(node.inputs, node.grad_inputs):
                    if not g and nodes[i].kind == "input" and nodes[i].name == "input":
                        nodes[i].name = "mask"
        scores = steps[0][1]
        _label_around(end, (nodes[scores.inputs[0]], nodes[scores.inputs[1]],
                            nodes[end.inputs[1]]), nodes, users)
    # a fused attention op reads Q, K and V separately, packed as one (3, ...) tensor
    # (self-attention), or as Q and one packed (2, ...) tensor of K and V
    packings = {3: ("Q", "K", "V"), 2: ("Q", "K, V"), 1: ("Q, K, V",)}
    for fused in [n for n in graph.ops() if op_name(n) == ScaledDotProductAttention.name]:
        if len(fused.inputs) not in packings:
            continue
        found += 1
        _set(fused, "scaled dot-product attention")
        _label_around(fused, [nodes[i] for i in fused.inputs], nodes, users,
                      packings[len(fused.inputs)])
    return found


def _match_steps(end, nodes):
    """[(role, node)] of the attention ending in `end` (its weighted sum), following the
    data input backwards through ATTENTION_STEPS; None when the chain does not match.
    The weighted sum must read the weights as its first input (weights @ V)."""
    matched, node = [], end
    for k, (role, ops) in enumerate(reversed(ATTENTION_STEPS)):
        repeat = role == "mask"                  # a bool mask and a float one: two ops
        hits = 0
        while node is not None and op_name(node) in ops and (hits == 0 or repeat):
            matched.append((role, node))
            hits += 1
            prev = node
            node = _data_input(node, nodes)
            if k == 0 and (not prev.inputs or node is None or node.id != prev.inputs[0]):
                return None
        if hits == 0 and role not in OPTIONAL_STEPS:
            return None
    matched.reverse()
    scale = [n for r, n in matched if r == "scale by 1/√d_k"]
    if scale and len(scale[0].inputs) != 1:      # a scale is x * constant, one tensor input
        return None
    return matched
def _label_around(attention, qkv, nodes, users, names=("Q", "K", "V")):
    """Around the attention core: the splits into heads of Q, K and V, the projections
    that made them, the merge of heads and the output projection after it."""
    serves = {}              # projection -> which of Q, K, V it makes (packed: several)
    for which, node in zip(names, qkv):
        if _is_movement(node):
            transposed = any(op == "permute" and detail == "transpose"
                             for op, detail in node.steps[1:])
            _set(node, f"split {which} into heads" + (", transpose" if transposed else ""))
            node = nodes[node.inputs[0]] if node.inputs else None
        proj = _projection(node, nodes)
        if proj is not None:
            serves.setdefault(proj.id, []).append(which)
    for proj, letters in serves.items():
        plural = "s" if len(", ".join(letters).split(", ")) > 1 else ""
        _set(nodes[proj], f"{', '.join(letters)} projection{plural}")
    for merge in [nodes[u] for u in users[attention.id] if _is_movement(nodes[u])]:
        _set(merge, "merge heads")
        for u in users[merge.id]:
            out = nodes[u]
            if out.kind == "module" or op_name(out) in _PROJECTIONS:
                _set(out, "output projection")
                adds = [nodes[a] for a in users[out.id] if op_name(nodes[a]) == "add"]
                if op_name(out) == "matmul" and len(users[out.id]) == 1 and adds:
                    _set(adds[0], "+ bias")


_PROJECTIONS = (MatMul.name, Linear.name)   # x W^T as a plain matmul, or the fused linear op


def _projection(node, nodes):
    """The matmul (or collapsed Linear) that made `node`; marks its bias add on the way."""
    if node is None:
        return None
    if node.kind == "module":
        return node
    if node.kind != "op":
        return None
    if op_name(node) == "add":
        src = _data_input(node, nodes)
        has_param = any(nodes[i].kind == "param" for i in node.inputs)
        if src is not None and op_name(src) == "matmul" and has_param:
            _set(node, "+ bias")
            return src
        return None
    return node if op_name(node) in _PROJECTIONS else None


def op_name(node):
    """The first op of a node ('add' for 'add → reshape'); '' for leaves and modules."""
    return node.name.split(" → ")[0] if node.kind == "op" else ""


def _set(node, role):
    if node is not None and node.role is None:
        node.role = role


def _data_input(node, nodes):
    """The input that carries the computation (a gradient flows there), not a mask."""
    for i, g in zip(node.inputs, node.grad_inputs):
        if g and nodes[i].kind in ("op", "module"):
            return nodes[i]
    return None


def label_biases(graph):
    """`x @ W.T + b`: the add that reads a matmul and a 1-D parameter is the bias."""
    nodes = graph.nodes
    for n in graph.ops():
        if op_name(n) == "add" and n.role is None and len(n.inputs) == 2:
            a, b = (nodes[i] for i in n.inputs)
            if op_name(a) == "matmul" and b.kind == "param" and len(b.shape) == 1:
                n.role = "+ bias"


def label_residuals(graph):
    """`x + f(x)`: an add whose one input is computed from the other is a residual
    (skip) connection. Returns how many were found."""
    nodes = graph.nodes
    position = {nid: k for k, nid in enumerate(nodes)}
    found = 0
    for n in graph.ops():
        if op_name(n) != "add" or n.role is not None or len(n.inputs) != 2:
            continue
        a, b = (nodes[i] for i in n.inputs)
        if any(x.kind in ("param", "constant") or x.shape != n.shape for x in (a, b)):
            continue
        early, late = (a, b) if position[a.id] < position[b.id] else (b, a)
        if _reaches(late, early.id, nodes, position):
            n.role = "residual add"
            found += 1
    return found


def _reaches(start, target, nodes, position):
    """Whether `target` is an ancestor of `start` (inputs come first in `position`)."""
    limit = position[target]
    stack, seen = [start.id], set()
    while stack:
        nid = stack.pop()
        for i in nodes[nid].inputs:
            if i == target:
                return True
            if i not in seen and position[i] > limit:
                seen.add(i)
                stack.append(i)
    return False

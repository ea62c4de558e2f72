"""How each kind of node looks: op families and their colours, leaf shapes.

Colour says what kind of work an op does, so the eye finds the matmuls (where
the time goes) and the fused kernels at a glance; the rest is plumbing.
"""
from ..ops.dispatch import FUSED_OP_NAMES

# Op name -> family. Ops not listed fall back on the module that defines them.
OP_FAMILY = {
    "matmul": "matmul", "linear": "matmul",
    "sum": "reduction", "mean": "reduction", "var": "reduction", "max": "reduction",
    "min": "reduction", "sum_to": "reduction", "argmax": "reduction", "argmin": "reduction",
    "reshape": "shape", "permute": "shape", "broadcast_to": "shape", "concat": "shape",
    "stack": "shape", "getitem": "shape", "index_backward": "shape", "to_device": "shape",
    "embedding": "shape",
    **{name: "fused" for name in FUSED_OP_NAMES - {"linear"}},   # one kernel for a formula
    "dropout": "elementwise",
}

_MODULE_FAMILY = {
    "linalg": "matmul", "linear": "matmul", "elementwise": "elementwise", "special": "elementwise",
    "reduce": "reduction", "shape": "shape", "index": "shape", "softmax": "fused", "layer_norm": "fused", "attention": "fused",
    "cross_entropy": "fused", "activation": "fused", "dropout": "elementwise",
    "embedding": "shape",
}

FAMILY_COLOUR = {
    "matmul": "#bcd7f5",        # blue: the heavy lifting
    "elementwise": "#cdebc5",   # green: one value in, one value out
    "reduction": "#fbd9a8",     # orange: many values to one
    "shape": "#e3e3e3",         # grey: data moved, nothing computed
    "fused": "#e0cdf0",         # violet: one kernel for a whole formula
    "other": "#ffffff",
}

FAMILY_TITLE = {
    "matmul": "matmul", "elementwise": "elementwise", "reduction": "reduction",
    "shape": "shape / movement", "fused": "fused kernel",
}

PARAM_COLOUR = "#fff1a8"        # yellow: what training changes
INPUT_COLOUR = "#ffffff"
MODULE_COLOUR = "#d9dcf7"       # a collapsed module
CLUSTER_FILLS = ("#fafafa", "#f0f0f4")   # alternating with depth, so nesting shows
EDGE_COLOUR = "#555555"
NO_GRAD_EDGE_COLOUR = "#999999"


def op_family(name, fn=None):
    """The family of an op: by name, else by the ops module its Function lives in."""
    if name in OP_FAMILY:
        return OP_FAMILY[name]
    module = type(fn).__module__.rsplit(".", 1)[-1] if fn is not None else ""
    return _MODULE_FAMILY.get(module, "other")


MOVEMENT_OPS = frozenset({"reshape", "permute", "broadcast_to", "getitem"})

"""Graph pictures, checked on the DOT text (no Graphviz `dot` program needed).

The DOT text is read back with a small line parser (`Dot`): the graphviz package
writes one statement per line, so clusters, nodes and edges come back exactly.
"""
import html
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import minigrad as mg
import minigrad.graph as mgg
from minigrad import nn
from minigrad.graph import style
from minigrad.graph.__main__ import main as cli_main

pytest.importorskip("graphviz")


# ------------------------------------------------------------------ reading DOT back
_NODE = re.compile(r"^\s*(\w+) \[label=<(.*)> (.*)\]$")
_EDGE = re.compile(r"^\s*(\w+) -> (\w+)(?: \[(.*)\])?$")
_CLUSTER = re.compile(r"^\s*subgraph (cluster_\d+) \{$")
_CLUSTER_LABEL = re.compile(r"label=<(.*)> labeljust")


class Dot:
    """Clusters (with parents), nodes (with their cluster) and edges of DOT text."""

    def __init__(self, text):
        self.source = text
        self.nodes, self.edges, self.clusters, self.node_cluster = {}, [], {}, {}
        stack = [None]
        for line in text.splitlines():
            if m := _CLUSTER.match(line):
                self.clusters[m.group(1)] = {"label": None, "parent": stack[-1], "nodes": []}
                stack.append(m.group(1))
            elif line.strip() == "}":
                stack.pop()
            elif m := _NODE.match(line):
                self.nodes[m.group(1)] = (m.group(2), m.group(3))
                self.node_cluster[m.group(1)] = stack[-1]
                if stack[-1] is not None:
                    self.clusters[stack[-1]]["nodes"].append(m.group(1))
            elif m := _EDGE.match(line):
                self.edges.append((m.group(1), m.group(2), m.group(3) or ""))
            elif stack[-1] is not None and (m := _CLUSTER_LABEL.search(line)):
                self.clusters[stack[-1]]["label"] = m.group(1)

    def title(self, nid):
        """The bold first line of a node's label, unescaped."""
        label = re.sub(r"^<i>.*?</i><br/>", "", self.nodes[nid][0])
        return html.unescape(re.search(r"<b>(.*?)</b>", label).group(1))

    def text(self, nid):
        return html.unescape(re.sub(r"<[^>]+>", " ", self.nodes[nid][0]))

    def cluster_path(self, name):
        label = self.clusters[name]["label"]
        path = re.search(r"<b>(.*?)</b>", label)
        cls = re.search(r"<i>(.*?)</i>", label)
        return (html.unescape(path.group(1)) if path else ""), html.unescape(cls.group(1))

    def cluster_by_path(self, path):
        found = [c for c in self.clusters if self.cluster_path(c)[0] == path]
        assert len(found) == 1, f"{len(found)} clusters for {path!r}"
        return found[0]

    def inside(self, cluster):
        """Every node of a cluster, nested clusters included."""
        out = list(self.clusters[cluster]["nodes"])
        for c, info in self.clusters.items():
            if info["parent"] == cluster:
                out += self.inside(c)
        return out

    def ops(self, among=None):
        return [n for n in (among or self.nodes) if n.startswith(("op", "module"))]

    def has_edge(self, a, b):
        return any(s == a and t == b for s, t, _ in self.edges)

    def by_title(self, title, among=None):
        ids = [n for n in (among or self.nodes) if self.title(n) == title]
        assert len(ids) == 1, f"{len(ids)} nodes titled {title!r}: {ids}"
        return ids[0]


# ------------------------------------------------------------------ small modules of our own
class Affine(nn.Module):
    """x W^T + b written out, so the test does not depend on nn.Linear's internals."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = nn.Parameter(mg.randn(n_out, n_in) * 0.1)
        self.bias = nn.Parameter(mg.zeros(n_out))

    def forward(self, x):
        return x @ self.weight.T + self.bias


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Affine(4, 6)
        self.second = Affine(6, 3)

    def forward(self, x):
        return self.second(self.first(x).tanh()).sum()


def two_layer_dot(**kwargs):
    mg.manual_seed(0)
    model = TwoLayer()
    x = mg.randn(5, 4)
    return Dot(mgg.to_dot(model(x), module=model, names={"x": x}, **kwargs)), model


# ------------------------------------------------------------------ walking and labels
def test_walk_finds_ops_leaves_and_scopes():
    model = TwoLayer()
    x = mg.randn(5, 4)
    g = mgg.walk(model(x), module=model, names={"x": x})
    kinds = sorted(n.kind for n in g.nodes.values())
    assert kinds.count("param") == 4 and kinds.count("input") == 1
    ops = {n.name for n in g.ops()}
    assert {"matmul", "add", "tanh", "sum", "permute"} <= ops
    matmuls = [n for n in g.ops() if n.name == "matmul"]
    assert [n.path for n in matmuls] == ["first", "second"]
    assert matmuls[0].scope == (("", "TwoLayer"), ("first", "Affine"))
    order = list(g.nodes)
    for n in g.nodes.values():          # topological: every input before its user
        assert all(order.index(i) < order.index(n.id) for i in n.inputs)
    assert g.nodes[g.outputs[0]].name == "sum" and g.nodes[g.outputs[0]].is_output


def test_op_labels_carry_op_shape_and_dtype():
    dot, _ = two_layer_dot()
    tanh = dot.by_title("tanh")
    assert "(5, 6) float32" in dot.text(tanh)
    assert "() float32" in dot.text(dot.by_title("sum"))


def test_parameter_labels_carry_module_paths_and_shapes():
    dot, _ = two_layer_dot()
    w = dot.by_title("first.weight")
    assert w.startswith("param") and "(6, 4) float32" in dot.text(w)
    assert "(3,) float32" in dot.text(dot.by_title("second.bias"))
    # a parameter sits in the cluster of the module that owns it
    assert dot.cluster_path(dot.node_cluster[w]) == ("first", "Affine")
    # params= names them too, without the module
    model = TwoLayer()
    y = model(mg.randn(5, 4))
    text = mgg.to_dot(y, params=dict(model.named_parameters()))
    assert "second.weight" in text


def test_inputs_and_constants_are_drawn_differently_from_parameters():
    w = nn.Parameter(mg.randn(3))
    x = mg.randn(3)
    g = mgg.make_dot((w * x * 0.5).sum(), names={"x": x}, simplified=False)
    dot = Dot(g.source)
    param, inp = dot.by_title("parameter"), dot.by_title("x")
    const = dot.by_title("0.5")
    assert dot.nodes[param][1] != dot.nodes[inp][1] != dot.nodes[const][1]
    assert "ellipse" in dot.nodes[inp][1] and "plaintext" in dot.nodes[const][1]
    assert style.PARAM_COLOUR in dot.nodes[param][1]
    # simplified (the default), the constant folds into its op's label
    folded = Dot(mgg.to_dot((w * x * 0.5).sum()))
    assert not any(n.startswith("constant") for n in folded.nodes)
    assert any("mul" in folded.text(n) and "x × 0.5" in folded.text(n) for n in folded.nodes)


def test_colours_follow_op_families():
    x = nn.Parameter(mg.randn(2, 3, 4))
    y = (x.reshape(6, 4) @ mg.randn(4, 5)).exp().sum(axis=0)
    y = mg.softmax(y, axis=-1)
    dot = Dot(mgg.to_dot(y, simplified=False))
    want = {"matmul": "matmul", "exp": "elementwise", "sum": "reduction",
            "reshape": "shape", "softmax": "fused"}
    for op, family in want.items():
        assert f'fillcolor="{style.FAMILY_COLOUR[family]}"' in dot.nodes[dot.by_title(op)][1]


def test_nested_clusters_from_recorded_scopes():
    w = nn.Parameter(mg.randn(3, 3))
    with mg.scope("", "Model"):
        with mg.scope("block", "Block"):
            h = (mg.randn(2, 3) @ w).relu()
            with mg.scope("inner", "Inner"):
                h = (h * h).tanh()
        out = h.mean()
    dot = Dot(mgg.to_dot(out))
    block, inner = dot.cluster_by_path("block"), dot.cluster_by_path("block.inner")
    assert dot.cluster_path(block) == ("block", "Block")
    assert dot.cluster_path(inner) == ("block.inner", "Inner")
    assert dot.clusters[inner]["parent"] == block
    assert dot.cluster_path(dot.clusters[block]["parent"]) == ("", "Model")
    assert [dot.title(n) for n in dot.clusters[inner]["nodes"]] == ["mul", "tanh"]
    assert dot.node_cluster[dot.by_title("relu")] == block


def test_single_op_modules_join_their_parent_with_their_name():
    layer = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5))
    y = layer(mg.randn(2, 4))
    dot = Dot(mgg.to_dot(y, module=layer))
    drop = dot.by_title("dropout")
    assert "1 · Dropout" in dot.text(drop) and "p=0.5" in dot.text(drop)
    assert dot.cluster_path(dot.node_cluster[drop]) == ("", "Sequential")


def test_node_ids_are_stable_and_labels_escaped():
    first, _ = two_layer_dot()
    second, _ = two_layer_dot()
    assert first.source == second.source      # new objects, same picture
    assert all(re.fullmatch(r"(op|param|input|constant|module)\d+", n) for n in first.nodes)

    weird_name, weird_class = '<"odd"> & name', 'Weird<"Q"> & co'
    Weird = type(weird_class, (nn.Module,), {
        "__init__": lambda self: (nn.Module.__init__(self),
                                  setattr(self, "inner", Affine(3, 3)))[0],
        "forward": lambda self, x: self.inner(x) * 2.0})

    class Top(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleDict({weird_name: Weird()})

        def forward(self, x):
            return self.blocks[weird_name](x).sum()

    model = Top()
    text = mgg.to_dot(model(mg.randn(2, 3)), module=model)
    dot = Dot(text)
    assert weird_name not in text and weird_class not in text
    assert html.escape(weird_name, quote=True) in text
    path = f"blocks.{weird_name}"
    assert dot.cluster_path(dot.cluster_by_path(path)) == (path, weird_class)
    assert dot.by_title(f"{path}.inner.weight").startswith("param")


def test_freed_graph_says_how_to_keep_it():
    model = TwoLayer()
    y = model(mg.randn(5, 4))
    y.backward()
    with pytest.raises(mg.AutogradError, match="retain_graph=True"):
        mgg.make_dot(y)


# ------------------------------------------------------------------ options
def test_backward_graph_reverses_the_gradient_path():
    model = TwoLayer()
    x = mg.randn(5, 4)
    dot = Dot(mgg.to_dot(model(x), module=model, names={"x": x}, backward=True))
    assert "x" not in {dot.title(n) for n in dot.nodes}      # no gradient goes to x
    tanh, total = dot.by_title("tanh backward"), dot.by_title("sum backward")
    grad_w = dot.by_title("first.weight.grad")
    second_bias = dot.by_title("+ bias", [t for s, t, _ in dot.edges if s == total])
    first_bias = dot.by_title("+ bias", [t for s, t, _ in dot.edges if s == tanh])
    assert dot.cluster_path(dot.node_cluster[second_bias])[0] == "second"
    assert dot.cluster_path(dot.node_cluster[first_bias])[0] == "first"
    assert not any(s == grad_w for s, _, _ in dot.edges)        # .grad is where it ends
    assert any(t == grad_w for _, t, _ in dot.edges)


def test_gradient_norms_on_edges():
    w = nn.Parameter(mg.ones(4, 3))
    y = (w * 3.0).sum()
    with mgg.record_grad_norms():
        y.backward(retain_graph=True)
    dot = Dot(mgg.to_dot(y, grad_norms=True))
    mul, total = dot.by_title("mul"), dot.by_title("sum")
    (attrs,) = [a for s, t, a in dot.edges if (s, t) == (mul, total)]
    assert f"|g| {np.sqrt(12):.3g}" in attrs                 # d sum / d(w*3) = ones(4, 3)
    (w_attrs,) = [a for s, t, a in dot.edges if t == mul]
    assert f"|g| {np.sqrt(12) * 3:.3g}" in w_attrs            # w.grad = 3 everywhere


def test_collapse_modules_into_boxes():
    for pattern in ("first", "fir*", lambda path, cls: path == "first"):
        dot, _ = two_layer_dot(collapse=[pattern])
        box = dot.by_title("first")
        assert box.startswith("module")
        text = dot.text(box)
        assert "Affine" in text and "30 parameters" in text and "(5, 6) float32" in text
        assert "first.weight" not in {dot.title(n) for n in dot.nodes}   # hidden in the box
        assert dot.has_edge(dot.by_title("x"), box)
        assert dot.has_edge(box, dot.by_title("tanh"))
    dot, _ = two_layer_dot(collapse="Affine")           # by class: both layers
    assert {dot.title(n) for n in dot.nodes if n.startswith("module")} == {"first", "second"}


def test_rankdir_and_bad_rankdir():
    dot, _ = two_layer_dot(rankdir="LR")
    assert "rankdir=LR" in dot.source
    assert "rankdir=TB" in two_layer_dot()[0].source
    with pytest.raises(mg.MinigradError, match="rankdir"):
        two_layer_dot(rankdir="sideways")


# ------------------------------------------------------------------ the attention block
ATTENTION_PATH = ["Q, K, V projections", "+ bias", "split Q into heads", "scores Q·Kᵀ",
                  "scale by 1/√d_k", "mask", "softmax", "attention dropout", "weighted sum of V",
                  "merge heads", "output projection", "+ bias"]


def _chain_connected(dot, ids):
    for a, b in zip(ids, ids[1:]):
        assert dot.has_edge(a, b), f"no edge {dot.title(a)} -> {dot.title(b)}"


def test_attention_cluster_holds_exactly_the_steps_of_attention_in_order():
    dot = Dot(mgg.render_block("attention", d_model=16, nhead=2).source)
    (root,) = [c for c, info in dot.clusters.items() if info["parent"] is None]
    assert dot.cluster_path(root) == ("", "MultiheadAttention")
    ops = dot.ops(dot.inside(root))
    assert sorted(dot.title(n) for n in ops) == sorted(
        ATTENTION_PATH + ["split K into heads, transpose", "split V into heads"])
    proj = dot.by_title("Q, K, V projections")
    biases = [n for n in ops if dot.title(n) == "+ bias"]
    in_bias = next(n for n in biases if dot.has_edge(proj, n))
    out_proj = dot.by_title("output projection")
    out_bias = next(n for n in biases if dot.has_edge(out_proj, n))
    path = [proj, in_bias] + [dot.by_title(t) for t in ATTENTION_PATH[2:-2]] + [out_proj, out_bias]
    _chain_connected(dot, path)
    scores, weighted = dot.by_title("scores Q·Kᵀ"), dot.by_title("weighted sum of V")
    _chain_connected(dot, [in_bias, dot.by_title("split K into heads, transpose"), scores])
    _chain_connected(dot, [in_bias, dot.by_title("split V into heads"), weighted])
    # shapes say what happened: heads split, scores T x T, heads merged
    assert "(2, 2, 5, 8)" in dot.text(dot.by_title("split Q into heads"))
    assert "(2, 2, 8, 5)" in dot.text(dot.by_title("split K into heads, transpose"))
    assert "(2, 2, 5, 5)" in dot.text(dot.by_title("softmax"))
    assert "(2, 5, 16)" in dot.text(dot.by_title("merge heads"))
    assert "x × 0.3536" in dot.text(dot.by_title("scale by 1/√d_k"))   # 1/sqrt(8)
    # parameters and the input
    assert "(48, 16)" in dot.text(dot.by_title("in_proj_weight"))
    assert "(16, 16)" in dot.text(dot.by_title("out_proj.weight"))
    assert dot.node_cluster[dot.by_title("x")] is None


def test_fused_attention_is_one_labelled_op():
    attn = nn.MultiheadAttention(16, 2, batch_first=True)
    x = mg.randn(2, 5, 16)
    out, _ = attn(x, x, x, need_weights=False)        # fused kernels: the default
    dot = Dot(mgg.to_dot([out], module=attn, names={"x": x}))
    titles = sorted(dot.title(n) for n in dot.ops())
    assert titles == sorted(["Q, K, V projections", "split Q, K, V into heads",
                             "scaled dot-product attention", "merge heads", "output projection"])
    core = dot.by_title("scaled dot-product attention")
    assert "attention" in dot.text(core) and style.FAMILY_COLOUR["fused"] in dot.nodes[core][1]


def test_cross_attention_separates_the_query_projection():
    dot = Dot(mgg.render_block("decoder_layer", d_model=16, nhead=2).source)
    cross = dot.inside(dot.cluster_by_path("multihead_attn"))
    titles = sorted(dot.title(n) for n in dot.ops(cross))
    assert "Q projection" in titles and "K, V projections" in titles
    for step in ATTENTION_PATH[2:-2]:
        assert (step in titles) == (step != "mask")    # no memory mask was given
    memory = dot.by_title("memory")
    assert dot.has_edge(memory, dot.by_title("K, V projections", cross))
    self_attn = dot.inside(dot.cluster_by_path("self_attn"))
    assert "Q, K, V projections" in {dot.title(n) for n in self_attn}
    # T = 4 target queries against S = 5 memory keys
    assert "(2, 2, 4, 5)" in dot.text(dot.by_title("scores Q·Kᵀ", cross))


def test_ffn_block_shows_linear_activation_dropout_linear_residual_and_norm():
    dot = Dot(mgg.render_block("ffn", d_model=16, nhead=2).source)
    ff = dot.ops(dot.inside(dot.cluster_by_path("feed_forward")))
    assert sorted(dot.title(n) for n in ff) == sorted(["linear", "relu", "dropout", "linear"])
    relu, drop = dot.by_title("relu"), dot.by_title("dropout", ff)
    _chain_connected(dot, [relu, drop])
    residuals = [n for n in dot.nodes if dot.title(n) == "residual add"]
    assert len(residuals) == 2
    norm2 = dot.by_title("layer_norm")
    assert dot.cluster_path(dot.node_cluster[norm2]) == ("norm2", "LayerNorm")
    assert any(dot.has_edge(r, norm2) for r in residuals)
    assert dot.by_title("self_attn").startswith("module")       # the other sublayer, boxed


def test_encoder_layer_block_boxes_layer_norms_and_keeps_attention_steps():
    dot = Dot(mgg.render_block("encoder_layer", d_model=16, nhead=2).source)
    norms = [n for n in dot.nodes if n.startswith("module")]
    assert sorted(dot.title(n) for n in norms) == ["norm1", "norm2"]
    assert all("LayerNorm · 32 parameters" in dot.text(n) for n in norms)
    assert not any(n.startswith("constant") for n in dot.nodes)    # eps went into the box
    attn = dot.inside(dot.cluster_by_path("self_attn"))
    assert {"scores Q·Kᵀ", "softmax", "merge heads"} <= {dot.title(n) for n in attn}
    assert sum(dot.title(n) == "residual add" for n in dot.nodes) == 2


# ------------------------------------------------------------------ a whole Transformer
def test_transformer_graph_has_one_cluster_per_layer_and_sub_block():
    from minigrad import models
    model = models.Transformer(16, 2, num_encoder_layers=2, num_decoder_layers=2,
                               dim_feedforward=32, batch_first=True)
    out = model(mg.randn(2, 5, 16), mg.randn(2, 4, 16))
    dot = Dot(mgg.to_dot(out, module=model))
    paths = [dot.cluster_path(c)[0] for c in dot.clusters]
    assert len(paths) == len(set(paths))
    expected = {"", "encoder", "decoder", "encoder.norm", "decoder.norm"}
    for i in range(2):
        enc, dec = f"encoder.layers.{i}", f"decoder.layers.{i}"
        expected |= {enc, dec}
        expected |= {f"{enc}.{s}" for s in ("self_attn", "self_attn.out_proj", "feed_forward",
                                             "feed_forward.linear1", "feed_forward.linear2",
                                             "norm1", "norm2")}
        expected |= {f"{dec}.{s}" for s in ("self_attn", "self_attn.out_proj", "multihead_attn",
                                            "multihead_attn.out_proj", "feed_forward",
                                            "feed_forward.linear1", "feed_forward.linear2",
                                            "norm1", "norm2", "norm3")}
    assert set(paths) == expected        # Dropout modules ran one op each: no frame
    for path in expected - {""}:
        parent = dot.clusters[dot.cluster_by_path(path)]["parent"]
        parent_path = dot.cluster_path(parent)[0]
        assert path.startswith(parent_path), (path, parent_path)
    layer = dot.cluster_by_path("encoder.layers.1")
    assert dot.cluster_path(layer) == ("encoder.layers.1", "EncoderLayer")
    assert dot.cluster_path(dot.clusters[layer]["parent"]) == ("encoder", "Encoder")
    w = dot.by_title("decoder.layers.0.multihead_attn.in_proj_weight")
    assert "(48, 16)" in dot.text(w)


def test_transformer_block_boxes_the_sub_blocks():
    dot = Dot(mgg.render_block("transformer", d_model=16, nhead=2, num_layers=1).source)
    boxes = {dot.title(n) for n in dot.nodes if n.startswith("module")}
    assert {"encoder.layers.0.self_attn", "decoder.layers.0.multihead_attn",
            "decoder.layers.0.feed_forward", "decoder.norm"} <= boxes
    assert dot.cluster_path(dot.cluster_by_path("decoder.layers.0")) == \
        ("decoder.layers.0", "DecoderLayer")


# ------------------------------------------------------------------ files and the command line
def test_dot_format_needs_no_graphviz_program(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "")
    out = mgg.render_block("ffn", d_model=8, nhead=2, path=tmp_path / "ffn.dot")
    assert out == str(tmp_path / "ffn.dot")
    assert (tmp_path / "ffn.dot").read_text().startswith("digraph")


def test_missing_dot_keeps_the_dot_file_and_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", "")
    picture = two_layer_dot()[0].source
    with pytest.raises(mgg.GraphvizNotFoundError) as err:
        mgg.render(picture, tmp_path / "model.svg")
    message = str(err.value)
    for hint in ("apt-get install graphviz", "brew install graphviz", "conda install graphviz"):
        assert hint in message
    assert (tmp_path / "model.dot").read_text() == picture
    assert not (tmp_path / "model.svg").exists()


def test_command_line_without_dot_program(tmp_path):
    env = dict(os.environ, PATH="")
    done = subprocess.run([sys.executable, "-m", "minigrad.graph", "attention", "-o",
                           str(tmp_path / "attention.svg"), "--d-model", "8", "--nhead", "2"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1
    assert "apt-get install graphviz" in done.stderr
    text = (tmp_path / "attention.dot").read_text()
    assert "scores Q·Kᵀ" in html.unescape(text)


def test_command_line_options(tmp_path, capsys):
    out = tmp_path / "enc.dot"
    assert cli_main(["encoder_layer", "-o", str(out), "--d-model", "8", "--nhead", "2",
                     "--backward", "--rankdir", "LR", "--collapse"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    dot = Dot(out.read_text())
    assert "rankdir=LR" in dot.source
    assert any(dot.title(n) == "softmax backward" for n in dot.nodes)
    assert not any(n.startswith("module") for n in dot.nodes)     # --collapse alone: none
    assert "d_model=8, nhead=2" in html.unescape(dot.source)
    assert cli_main(["attention", "--format", "dot", "-o", str(tmp_path / "a.dot")]) == 0
    with pytest.raises(SystemExit):
        cli_main(["not_a_block"])

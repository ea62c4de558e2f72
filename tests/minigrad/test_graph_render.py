"""Graph pictures rendered by the real Graphviz `dot` program (CI installs it).

Checks that SVG, PNG and PDF come out, that the SVG is well-formed XML, that
awkward module names survive layout, and that the attention picture stays small
enough to read on one screen.
"""
import shutil
import xml.etree.ElementTree as ET

import pytest

import minigrad as mg
import minigrad.graph as mgg
from minigrad import nn

pytest.importorskip("graphviz")
if shutil.which("dot") is None:
    pytest.skip("Graphviz `dot` is not installed (apt-get install graphviz)",
                allow_module_level=True)

SVG = "{http://www.w3.org/2000/svg}"


def _svg_nodes(path):
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    return root, [g for g in root.iter(f"{SVG}g") if g.get("class") == "node"]


@pytest.mark.parametrize("fmt, magic", [("svg", b"<?xml"), ("png", b"\x89PNG"), ("pdf", b"%PDF")])
def test_formats_render(tmp_path, fmt, magic):
    path = mgg.render_block("ffn", d_model=8, nhead=2, path=tmp_path / f"ffn.{fmt}")
    data = (tmp_path / f"ffn.{fmt}").read_bytes()
    assert path == str(tmp_path / f"ffn.{fmt}") and data.startswith(magic)
    assert not (tmp_path / "ffn.dot").exists()          # kept only when asked for
    if fmt == "svg":
        _svg_nodes(path)


def test_format_argument_and_kept_dot_file(tmp_path):
    path = mgg.render_block("attention", d_model=8, nhead=2, path=tmp_path / "a", format="png",
                            keep_dot=True)
    assert path.endswith("a.png") and (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "a.dot").read_text().startswith("digraph")


def test_escaped_names_survive_layout(tmp_path):
    weird = '<"odd"> & name'

    class Top(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleDict({weird: nn.Linear(3, 3)})

        def forward(self, x):
            return self.blocks[weird](x).tanh()

    model = Top()
    picture = mgg.make_dot(model(mg.randn(2, 3)), module=model)
    root, _ = _svg_nodes(mgg.render(picture, tmp_path / "weird.svg"))
    texts = {t.text for t in root.iter(f"{SVG}text")}
    assert f"blocks.{weird}" in texts and f"blocks.{weird}.weight" in texts


def test_attention_picture_fits_one_screen_and_reads_top_to_bottom(tmp_path):
    root, nodes = _svg_nodes(mgg.render_block("attention", path=tmp_path / "attention.svg"))
    assert len(nodes) == 19        # x, 4 parameters, 14 ops
    width, height = (float(root.get(k).rstrip("pt")) for k in ("width", "height"))
    assert width < 1100 and height < 900, (width, height)   # points; 1 pt = 1.33 px
    # top to bottom: each step of attention sits lower than the one before
    y = {}
    for g in nodes:
        texts = [t.text for t in g.iter(f"{SVG}text")]
        ys = [float(t.get("y")) for t in g.iter(f"{SVG}text")]
        y[texts[0]] = min(ys)
    steps = ["x", "Q, K, V projections", "split Q into heads", "scores Q·Kᵀ",
             "scale by 1/√d_k", "mask", "softmax", "attention dropout", "weighted sum of V",
             "merge heads", "output projection"]
    heights = [y[s] for s in steps]
    assert heights == sorted(heights)


def test_backward_and_grad_norms_render(tmp_path):
    path = mgg.render_block("encoder_layer", d_model=8, nhead=2, backward=True, grad_norms=True,
                            path=tmp_path / "enc_backward.svg")
    root, nodes = _svg_nodes(path)
    texts = [t.text or "" for t in root.iter(f"{SVG}text")]
    assert any(t.startswith("|g| ") for t in texts)
    assert any(t.endswith(".grad") for t in texts)

"""Ready-made pictures of the Transformer's blocks, one call each.

    render_block("attention", path="attention.svg")
    render_block("ffn", d_model=64, path="ffn.png")

Each builds a small instance of the real module (`minigrad.nn` / `minigrad.models`),
runs it once on a small random batch in training mode (so dropout shows), and draws
what was recorded. The attention pictures run with fused kernels off
(`use_fused(False)`), so attention appears step by step: projections, split into
heads, scores, scale, mask, softmax, dropout, weighted sum, merge, output projection.

The pictures in docs/ are made by this module:

    python -m minigrad.graph attention -o docs/attention.svg
    python -m minigrad.graph ffn -o docs/ffn.svg
"""
import minigrad as mg
from minigrad.autograd import use_fused
from minigrad.errors import MinigradError

from .dot import make_dot
from .render import render
from .walk import record_grad_norms

BLOCKS = ("attention", "ffn", "encoder_layer", "decoder_layer", "transformer")

TITLES = {
    "attention": "Multi-head self-attention with a causal mask",
    "ffn": "Feed-forward sublayer of an encoder layer",
    "encoder_layer": "Encoder layer",
    "decoder_layer": "Decoder layer",
    "transformer": "Encoder-decoder Transformer",
}


def build_block(name, d_model=32, nhead=4, dim_feedforward=None, num_layers=2, batch=2,
                src_len=5, tgt_len=4, dropout=0.1, activation="relu", seed=0):
    """Make the module for block `name`, run it, and return what to draw:
    (outputs, module, names of inputs, default collapse, fused kernels on?)."""
    if name not in BLOCKS:
        raise MinigradError(f"render_block: unknown block {name!r}; choose one of "
                            f"{', '.join(BLOCKS)}")
    from minigrad import models, nn      # the layers above the core, only when asked for
    dim_feedforward = dim_feedforward or 4 * d_model
    layer_args = dict(dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
                      batch_first=True)
    mg.manual_seed(seed)
    src = mg.randn(batch, src_len, d_model)
    tgt = mg.randn(batch, tgt_len, d_model)

    if name == "attention":
        module = nn.MultiheadAttention(d_model, nhead, dropout=dropout, batch_first=True)
        with use_fused(False):
            out, _ = module(src, src, src, need_weights=False, is_causal=True)
        return out, module, {"x": src}, (), False
    if name == "ffn":
        # The whole layer runs, so the sublayer is seen in place: the self-attention
        # sublayer is two boxes; the feed-forward, its residual add and layer norm
        # are drawn in full.
        module = models.EncoderLayer(d_model, nhead, **layer_args)
        out = module(src)
        return out, module, {"x": src}, ("self_attn", "norm1"), True
    if name == "encoder_layer":
        module = models.EncoderLayer(d_model, nhead, **layer_args)
        with use_fused(False):
            out = module(src)
        return out, module, {"x": src}, ("LayerNorm",), False
    if name == "decoder_layer":
        module = models.DecoderLayer(d_model, nhead, **layer_args)
        with use_fused(False):
            out = module(tgt, src, tgt_is_causal=True,
                         tgt_mask=models.generate_square_subsequent_mask(tgt_len, dtype=mg.bool_))
        return out, module, {"target": tgt, "memory": src}, ("LayerNorm",), False
    module = models.Transformer(d_model, nhead, num_encoder_layers=num_layers,
                                num_decoder_layers=num_layers, **layer_args)
    mask = models.generate_square_subsequent_mask(tgt_len, dtype=mg.bool_)
    out = module(src, tgt, tgt_mask=mask)
    return (out, module, {"source": src, "target": tgt},
            ("MultiheadAttention", "FeedForward", "LayerNorm"), True)


def render_block(name, d_model=32, nhead=4, path=None, format=None, backward=False,
                 grad_norms=False, collapse=None, rankdir="TB", legend=True, title=None,
                 dim_feedforward=None, num_layers=2, activation="relu", dropout=0.1, seed=0,
                 keep_dot=False):
    """Picture of one Transformer block: a `graphviz.Digraph`, or the file written to `path`.

    name:      'attention', 'ffn', 'encoder_layer', 'decoder_layer' or 'transformer'.
    d_model, nhead, dim_feedforward (4 * d_model by default), num_layers (transformer),
    activation, dropout: the block's size and settings.
    backward:  draw the backward graph (each op's gradient step, output to parameters).
    grad_norms: run backward with a random output gradient and write gradient norms
               on the edges.
    collapse:  modules to draw as single boxes (defaults suit each block; () for none).
    format:    'svg', 'png', 'pdf' or 'dot' (DOT text needs no Graphviz install); by
               default the suffix of `path` says, else SVG.
    seed:      weights and inputs come from `minigrad.manual_seed(seed)`, so the same
               arguments give the same picture (and the global generator is reseeded).
    """
    out, module, names, default_collapse, fused = build_block(
        name, d_model=d_model, nhead=nhead, dim_feedforward=dim_feedforward,
        num_layers=num_layers, dropout=dropout, activation=activation, seed=seed)
    if grad_norms:
        with record_grad_norms():
            out.backward(mg.randn(*out.shape), retain_graph=True)
    picture = make_dot(out, module=module, names=names, backward=backward, grad_norms=grad_norms,
                       collapse=default_collapse if collapse is None else collapse,
                       rankdir=rankdir, legend=legend,
                       title=title if title is not None else
                       _title(name, d_model, nhead, dim_feedforward, fused, backward))
    if path is None:
        return picture
    return render(picture, path, format=format, keep_dot=keep_dot)


def _title(name, d_model, nhead, dim_feedforward, fused, backward):
    """Two lines: what the block is, then its size and how it was recorded."""
    size = f"d_model={d_model}, nhead={nhead}"
    if name != "attention":
        size += f", dim_feedforward={dim_feedforward or 4 * d_model}"
    how = "fused kernels" if fused else "use_fused(False): every step recorded"
    head = TITLES[name] + (" · backward graph" if backward else "")
    return f"{head}\n{size} · training mode · {how}"

"""The attention picture of examples/shakespeare.py: one head of the GPT on a line of
generated text (drawn by support.plots.plot_attention_heads; the loss curve is
support.plots.plot_loss_curve)."""
import minigrad as mg
from support import plots
from support.cli import ExampleError


def token_label(tokenizer, i):
    """A token as a tick label: space and newline as visible signs, other unprintable
    characters (a byte piece of BPE) escaped."""
    text = tokenizer.decode([i]).replace(" ", "\u2423").replace("\n", "\u23ce")
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text) or "?"


def check_attention_choice(n_layer, n_head, layer, head):
    """--attention-layer and --attention-head name a layer and head of the model (checked
    before any work; negative layers count from the last)."""
    if not (-n_layer <= layer < n_layer and 0 <= head < n_head):
        raise ExampleError(f"--attention-layer {layer} --attention-head {head}: the model has "
                           f"layers 0..{n_layer - 1} (or -{n_layer}..-1) and heads "
                           f"0..{n_head - 1}")


def draw_attention(model, tokenizer, text, path, layer=-1, head=0):
    """Heat map of one head's attention on the first non-empty line of `text` (at most 48
    tokens), read by GPT.forward(..., return_attention=True). Returns the path or None."""
    line = next((s for s in text.split("\n") if s.strip()), "")
    ids = tokenizer.encode(line)[:48]
    if len(ids) < 2:
        return None
    check_attention_choice(model.config.n_layer, model.config.n_head, layer, head)
    layer = layer % model.config.n_layer
    model.eval()
    with mg.no_grad():
        _, attentions = model(ids[None], return_attention=True)
    model.train()
    weights = attentions[f"transformer.h.{layer}.attn"].numpy()[0, head]      # (T, T)
    labels = [token_label(tokenizer, i) for i in ids]
    return plots.plot_attention_heads(
        weights[None], labels, labels, path, f"GPT: attention of layer {layer} on a generated "
        "line", heads=[head], xlabel="attended token (key)", ylabel="reading token (query)")

"""GPT-2 in Hugging Face's format: `GPT.from_pretrained(folder)`, `GPT.save_pretrained(folder)`.

Hugging Face's GPT2LMHeadModel and minigrad's GPT share their module names
(transformer.wte, transformer.h.0.ln_1, ...) except in two places:

- the attention: HF's `attn.c_attn` (Q, K and V packed) and `attn.c_proj` are
  minigrad's `attn.in_proj_weight` / `in_proj_bias` and `attn.out_proj`;
- the layout: GPT-2's linear layers are `Conv1D` modules whose weight is stored
  (in_features, out_features), the transpose of nn.Linear's (out, in). Every 2-D
  weight inside a block is therefore transposed on the way in and out.

The LM head is tied to the token embedding on both sides, so the file holds no
`lm_head.weight` (one is accepted and ignored when the config ties it). Old GPT-2
files also carry `attn.bias` / `attn.masked_bias`, the causal mask as a buffer,
not a weight: they are skipped. Keys may or may not start with "transformer."
(files saved from GPT2Model, such as the original `gpt2` on the Hub, do not).
"""
import os

from minigrad.errors import MinigradError, ShapeError
from minigrad.io import CheckpointError

from .hf import read_hf_folder, write_hf_folder

_PREFIX = "transformer."
_RENAMES = (("attn.c_attn.weight", "attn.in_proj_weight"), ("attn.c_attn.bias", "attn.in_proj_bias"),
            ("attn.c_proj.", "attn.out_proj."))
_MASK_BUFFERS = (".attn.bias", ".attn.masked_bias")
# HF settings this GPT has no switch for, with the value it implements
_FIXED = {"add_cross_attention": False, "scale_attn_weights": True,
          "scale_attn_by_inverse_layer_idx": False, "tie_word_embeddings": True}


def _is_conv1d(name, ndim):
    """Block weights are Conv1D (in, out) in GPT-2's files."""
    return ndim == 2 and name.startswith(_PREFIX + "h.")


def hf_to_minigrad_name(name):
    """'h.0.attn.c_attn.weight' or 'transformer.h.0.attn.c_attn.weight' ->
    'transformer.h.0.attn.in_proj_weight'."""
    if not name.startswith(_PREFIX):
        name = _PREFIX + name
    for hf, ours in _RENAMES:
        name = name.replace(hf, ours)
    return name


def minigrad_to_hf_name(name):
    for hf, ours in _RENAMES:
        name = name.replace(ours, hf)
    return name


def config_from_hf(hf, config_cls, dropout=None):
    """A GPTConfig from a GPT-2 config.json dict; raises CheckpointError for another
    model type or a GPT-2 variant this model does not implement."""
    if hf.get("model_type", "gpt2") != "gpt2":
        raise CheckpointError(f"GPT.from_pretrained: config.json has model_type="
                              f"{hf.get('model_type')!r}, expected 'gpt2'")
    for key, value in _FIXED.items():
        if hf.get(key, value) != value:
            raise CheckpointError(f"GPT.from_pretrained: config.json sets {key}="
                                  f"{hf[key]!r}; minigrad's GPT implements only {key}={value!r}")
    missing = [k for k in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head") if k not in hf]
    if missing:
        raise CheckpointError(f"GPT.from_pretrained: config.json lacks {missing}")
    try:
        return config_cls(
            vocab_size=hf["vocab_size"], n_positions=hf["n_positions"], n_embd=hf["n_embd"],
            n_layer=hf["n_layer"], n_head=hf["n_head"], n_inner=hf.get("n_inner"),
            # one dropout for all three of GPT-2's; the residual one stands for them
            dropout=float(hf.get("resid_pdrop", 0.1) if dropout is None else dropout),
            bias=True, layer_norm_epsilon=hf.get("layer_norm_epsilon", 1e-5),
            activation_function=hf.get("activation_function", "gelu_new"))
    except MinigradError as e:
        raise CheckpointError(f"GPT.from_pretrained: config.json does not fit: {e}") from None


def config_to_hf(config):
    """The config.json dict of GPT2LMHeadModel for a GPTConfig."""
    if not config.bias:
        raise MinigradError("GPT.save_pretrained: GPT-2's format has biases in every linear "
                            "layer and layer norm; this model was built with bias=False")
    eos = 50256 if config.vocab_size > 50256 else None     # GPT-2's <|endoftext|>
    return dict(_FIXED, model_type="gpt2", architectures=["GPT2LMHeadModel"],
                vocab_size=config.vocab_size, n_positions=config.n_positions,
                n_embd=config.n_embd, n_layer=config.n_layer, n_head=config.n_head,
                n_inner=config.n_inner, activation_function=config.activation_function,
                resid_pdrop=config.dropout, embd_pdrop=config.dropout,
                attn_pdrop=config.dropout, layer_norm_epsilon=config.layer_norm_epsilon,
                initializer_range=0.02, reorder_and_upcast_attn=False, use_cache=True,
                bos_token_id=eos, eos_token_id=eos, dtype="float32")


def load_gpt2(cls, folder, dropout=None):
    """A `cls` (GPT) with the weights of a Hugging Face GPT-2 folder.

    Every tensor of the file must fit a parameter and every parameter must get
    one: names and shapes are checked by load_state_dict(strict=True).
    """
    from .gpt import GPTConfig
    hf_config, tensors = read_hf_folder(folder)
    model = cls(config_from_hf(hf_config, GPTConfig, dropout))
    dtype = model.transformer["wte"].weight.dtype
    state = {}
    for hf_name, array in tensors.items():
        if hf_name.endswith(_MASK_BUFFERS) or hf_name == "lm_head.weight":
            continue
        name = hf_to_minigrad_name(hf_name)
        array = array.T if _is_conv1d(name, array.ndim) else array
        state[name] = array.astype(dtype)
    if "transformer.wte.weight" in state:     # the tied head: one parameter, two names
        state["lm_head.weight"] = state["transformer.wte.weight"]
    try:
        model.load_state_dict(state, strict=True)
    except ShapeError as e:
        raise CheckpointError(f"GPT.from_pretrained: the weights in {os.fspath(folder)!r} do not fit "
                              f"the model its config.json describes: {e}") from None
    return model


def save_gpt2(model, folder):
    """Write config.json and model.safetensors as GPT2LMHeadModel.save_pretrained does."""
    config = config_to_hf(model.config)
    tensors = {}
    for name, p in model.state_dict().items():
        if name == "lm_head.weight":          # tied to transformer.wte.weight
            continue
        array = p.numpy()
        tensors[minigrad_to_hf_name(name)] = array.T.copy() if _is_conv1d(name, array.ndim) \
            else array
    write_hf_folder(folder, config, tensors)

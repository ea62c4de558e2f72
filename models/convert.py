"""Move weights between torch.nn.Transformer and minigrad's Transformer.

The parameter names are PyTorch's except that each layer's feed-forward network
is its own module here (`feed_forward.linear1` for PyTorch's `linear1`), so the
conversion is a renaming plus a copy to NumPy. Works for a bare nn.Transformer's
state dict and for models that contain one (e.g. PyTorch's translation tutorial
Seq2SeqTransformer: `transformer.`, `src_tok_emb.`, `generator.`).

torch is never imported here: torch tensors are read through
`.detach().cpu().numpy()`, and `to_torch(..., tensors=True)` imports it only when called.
"""
import re

import numpy as np

# PyTorch layer sublayer -> minigrad path inside the layer
_FEED_FORWARD = re.compile(r"(^|\.)(layers\.\d+\.)(linear1|linear2)\.")
_FEED_FORWARD_BACK = re.compile(r"(^|\.)(layers\.\d+\.)feed_forward\.(linear1|linear2)\.")


def _to_numpy(value):
    if hasattr(value, "detach"):                 # a torch tensor
        value = value.detach().cpu().numpy()
    elif hasattr(value, "numpy"):                # a minigrad tensor
        value = value.numpy()
    return np.array(value, copy=True)


def torch_name_to_minigrad(name):
    return _FEED_FORWARD.sub(r"\1\2feed_forward.\3.", name)


def minigrad_name_to_torch(name):
    return _FEED_FORWARD_BACK.sub(r"\1\2\3.", name)


def from_torch(torch_state_dict):
    """A torch.nn.Transformer state dict -> {minigrad name: numpy array}, ready for
    `Transformer.load_state_dict`."""
    return {torch_name_to_minigrad(k): _to_numpy(v) for k, v in torch_state_dict.items()}


def to_torch(state_dict, tensors=False):
    """A minigrad state dict -> {PyTorch name: numpy array} (torch tensors with
    tensors=True), ready for `torch.nn.Transformer.load_state_dict`."""
    out = {minigrad_name_to_torch(k): _to_numpy(v) for k, v in state_dict.items()}
    if tensors:
        import torch
        out = {k: torch.from_numpy(v) for k, v in out.items()}
    return out

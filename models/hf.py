"""Reading and writing Hugging Face model folders: config.json + safetensors weights.

A Hugging Face model folder (what `save_pretrained` writes and the Hub serves)
holds `config.json` (the hyper-parameters) and the weights, either in one
`model.safetensors` or sharded as `model-00001-of-0000N.safetensors` files listed
by `model.safetensors.index.json`. Older folders hold a `pytorch_model.bin`, a
Python pickle: loading a pickle can run arbitrary code, so such a folder is
refused with an error that says how to convert it. These helpers know nothing of
any architecture; each model maps the tensor names itself (models/gpt_hf.py for
GPT-2).
"""
import json
import os

import minigrad.io as mio
from minigrad.io import CheckpointError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
_OTHER_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".h5", ".msgpack")


def read_json(path, who="read_hf_folder", error=CheckpointError):
    """The JSON object in the file `path` (a dict); `error` (a MinigradError subclass)
    names `who` read it, the file, and what is wrong (unreadable, not JSON, not an object)."""
    try:
        with open(path, encoding="utf-8") as f:
            content = json.load(f)
    except (OSError, ValueError) as e:            # (UnicodeDecodeError is a ValueError)
        raise error(f"{who}: cannot read {os.fspath(path)!r}: {e}") from None
    if not isinstance(content, dict):
        raise error(f"{who}: {os.fspath(path)!r} must hold a JSON object, got "
                    f"{type(content).__name__}")
    return content


def write_json(path, content):
    """Write `content` (a JSON-able dict) to `path` atomically (minigrad.io), indented."""
    text = json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
    mio.atomic_write(os.fspath(path), write)


def read_hf_folder(folder, who="read_hf_folder"):
    """(config dict, {name: numpy array}) from a Hugging Face folder.

    Reads `config.json` and `model.safetensors` (or the shards named by
    `model.safetensors.index.json`). Raises CheckpointError naming `who` and the
    folder when it is missing, has no config.json, has only pickle weights (never
    unpickled), or has no weights at all; safetensors files are validated by
    minigrad.io.load.
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise CheckpointError(f"{who}: no such folder: {folder!r}")
    config_path = os.path.join(folder, CONFIG_NAME)
    if not os.path.isfile(config_path):
        raise CheckpointError(f"{who}: {folder!r} has no {CONFIG_NAME} (found: "
                              f"{sorted(os.listdir(folder))})")
    config = read_json(config_path, who)
    # minigrad's models are float32: bfloat16 weights (many Hugging Face checkpoints) come
    # back as float32, exactly, as they did before minigrad had bfloat16
    return config, {name: t.array.astype("float32") if str(t.dtype) == "bfloat16" else t.array
                    for name, t in _read_weights(folder, who).items()}


def _read_weights(folder, who):
    single = os.path.join(folder, WEIGHTS_NAME)
    if os.path.isfile(single):
        return mio.load(single)
    index = os.path.join(folder, WEIGHTS_INDEX_NAME)
    if os.path.isfile(index):
        try:
            with open(index, encoding="utf-8") as f:
                weight_map = json.load(f)["weight_map"]
        except (ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"{who}: {index!r} is not a safetensors index "
                                  f"(a JSON object with a 'weight_map'): {e!r}") from None
        tensors = {}
        for shard in sorted(set(weight_map.values())):
            if os.path.basename(shard) != shard:     # a shard must sit in the folder itself
                raise CheckpointError(f"{who}: {index!r} names a shard outside the "
                                      f"folder: {shard!r}")
            tensors.update(mio.load(os.path.join(folder, shard)))
        missing = sorted(set(weight_map) - set(tensors))
        if missing:
            raise CheckpointError(f"{who}: tensors listed in {index!r} are in no shard: "
                                  f"{missing[:10]}")
        return tensors
    pickles = sorted(n for n in os.listdir(folder) if n.endswith(_OTHER_WEIGHTS))
    if pickles:                      # (TensorFlow .h5 and Flax .msgpack: not read either)
        raise CheckpointError(
            f"{who}: {folder!r} has weights only as {pickles}, which minigrad never "
            "loads (.bin / .pt / .ckpt files are Python pickles: unpickling can run arbitrary "
            "code). Convert it once with transformers: AutoModel.from_pretrained(folder)"
            ".save_pretrained(folder, safe_serialization=True) writes model.safetensors")
    raise CheckpointError(f"{who}: {folder!r} has no {WEIGHTS_NAME} or "
                          f"{WEIGHTS_INDEX_NAME} (found: {sorted(os.listdir(folder))})")


def write_hf_folder(folder, config, tensors):
    """Write `config` (a JSON-able dict) as config.json and `tensors` ({name: array or
    Tensor}) as model.safetensors into `folder` (created if needed).

    The safetensors header carries {"format": "pt"}, which transformers checks.
    Each file is written atomically (minigrad.io), so an interrupted save never
    leaves a half-written file under its final name.
    """
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    mio.save(dict(tensors), os.path.join(folder, WEIGHTS_NAME), metadata={"format": "pt"})
    write_json(os.path.join(folder, CONFIG_NAME), config)

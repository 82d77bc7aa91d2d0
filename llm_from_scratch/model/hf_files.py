"""Load a Hugging Face Llama checkpoint folder from disk into our ``Transformer``.

A folder written by ``save_pretrained`` (or downloaded from the Hub by the reader)
holds ``config.json`` and the weights, either in one ``model.safetensors`` or in
shards listed by ``model.safetensors.index.json``. Only safetensors are read: a
``pytorch_model.bin`` is a pickle, which can run code when loaded, so it is refused.
Nothing here needs ``transformers`` or the network.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import torch
from safetensors.torch import load_file
from torch import Tensor

from llm_from_scratch.model.hf import from_hf_llama
from llm_from_scratch.model.transformer import Transformer

REQUIRED = (
    "vocab_size",
    "hidden_size",
    "intermediate_size",
    "num_hidden_layers",
    "num_attention_heads",
)
# LlamaConfig's defaults, for keys that older config.json files leave out
DEFAULTS = {
    "num_key_value_heads": None,
    "head_dim": None,
    "max_position_embeddings": 2048,
    "rms_norm_eps": 1e-6,
    "rope_theta": 10000.0,
    "rope_scaling": None,
    "rope_parameters": None,
    "tie_word_embeddings": False,
    "hidden_act": "silu",
    "attention_bias": False,
    "mlp_bias": False,
}


def read_llama_config(path: str | Path) -> SimpleNamespace:
    """``config.json`` of a Llama checkpoint as an object ``from_hf_llama`` reads."""
    file = Path(path) / "config.json"
    if not file.is_file():
        raise FileNotFoundError(f"no config.json in {path}")
    d = json.loads(file.read_text())
    model_type = d.get("model_type", "llama")
    if model_type != "llama":
        raise ValueError(
            f"{file}: model_type {model_type!r} is not supported (only 'llama')"
        )
    missing = [k for k in REQUIRED if k not in d]
    if missing:
        raise ValueError(f"{file} lacks {missing}")
    return SimpleNamespace(**{**DEFAULTS, **d})


def read_safetensors(path: str | Path) -> dict[str, Tensor]:
    """Every tensor of the checkpoint, from one file or from all shards."""
    folder = Path(path)
    single = folder / "model.safetensors"
    index = folder / "model.safetensors.index.json"
    if single.is_file():
        return load_file(single)
    if not index.is_file():
        pickles = sorted(p.name for p in folder.glob("*.bin"))
        hint = f" (found {pickles}: pickle files are not loaded)" if pickles else ""
        raise FileNotFoundError(
            f"no model.safetensors or model.safetensors.index.json in {folder}{hint}"
        )
    weight_map: dict[str, str] = json.loads(index.read_text())["weight_map"]
    state: dict[str, Tensor] = {}
    for shard in sorted(set(weight_map.values())):
        file = folder / shard
        if Path(shard).name != shard or not file.is_file():
            raise FileNotFoundError(f"{index.name} names {shard!r}, not in {folder}")
        state.update(load_file(file))
    missing = sorted(set(weight_map) - set(state))
    if missing:
        raise ValueError(f"tensors listed in {index.name} but in no shard: {missing}")
    return state


def load_hf_llama(path: str | Path, dtype: torch.dtype | None = None) -> Transformer:
    """Our ``Transformer`` holding the weights of a Llama checkpoint folder.

    ``dtype`` casts the weights (default: as stored, e.g. bfloat16 for Llama 3); the
    tensors become the model's parameters without a second copy, so an 8B model
    needs its own size in memory, not twice that.
    """
    config = read_llama_config(path)
    state = read_safetensors(path)
    if dtype is not None:
        for name in list(state):  # one tensor at a time: no second full copy
            state[name] = state[name].to(dtype)
    return from_hf_llama(config, state, assign=True)

"""Stage caching: train an alignment stage once, then load it from the cache.

A stage's cache folder is named by a hash of everything that determines its
result: its name, its config (``asdict``, as sorted JSON), the fingerprint of
its data and the weights it starts from (``weights_hash``), the config's
``revision`` if it has one (bumped when the training arithmetic changes), plus
an optional ``salt``. A changed upstream stage therefore changes every key after it and
retrains what follows; an unchanged one is loaded (``run_stage``).
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from torch import nn

from llm_from_scratch.align.recipe import AlignData
from llm_from_scratch.train import load_model, save_checkpoint
from llm_from_scratch.utils import cache_dir


def weights_hash(model: nn.Module) -> str:
    """A fingerprint of a model's weights (names, shapes and bytes)."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


@dataclass
class Stage:
    """A trained stage: its model, training history, CPU seconds and cache path."""

    name: str
    model: nn.Module
    history: list[dict[str, float]]
    seconds: float
    path: Path
    cached: bool


def stage_dir(name: str, start: nn.Module, config: Any, data: AlignData,
              salt: str = "") -> Path:
    """Cache folder of a stage, keyed by its config, its data and its start weights
    (and ``salt``: what else changes its result, such as the reward's rule)."""
    values = asdict(config)
    for field, default in getattr(config, "added_later", {}).items():
        if values.get(field) == default:  # keys of stages cached before it existed
            del values[field]
    settings = json.dumps(values, sort_keys=True, default=str)
    parts = f"{name}|{settings}|{data.fingerprint()}|{weights_hash(start)}"
    if getattr(config, "revision", ""):  # the training code's own version
        parts += f"|revision {config.revision}"
    if salt:
        parts += f"|{salt}"
    key = hashlib.sha256(parts.encode())
    return cache_dir("align") / f"{name}-{key.hexdigest()[:16]}"


def run_stage(
    name: str,
    start: nn.Module,
    config: Any,
    data: AlignData,
    train_config: dict[str, Any],
    train_fn: Callable[[nn.Module], list[dict[str, float]]],
    salt: str = "",
) -> Stage:
    """Train a copy of ``start`` with ``train_fn``, or load it from the cache."""
    path = stage_dir(name, start, config, data, salt)
    if (path / "state.json").is_file():
        model, _ = load_model(path)
        meta = json.loads((path / "state.json").read_text())["metadata"]
        return Stage(name, model, meta["history"], meta["seconds"], path, True)
    model = copy.deepcopy(start)
    for p in model.parameters():
        p.requires_grad_(True)
    began = time.process_time()
    history = train_fn(model)
    seconds = time.process_time() - began
    model.eval()
    save_checkpoint(
        path, model, None, len(history), train_config,
        model_config=model.config.to_dict(),
        metadata={"stage": name, "history": history, "seconds": seconds},
    )
    return Stage(name, model, history, seconds, path, False)


def load_aligned(path: str | Path) -> nn.Module:
    """A cached aligned model (or any training checkpoint) by path."""
    model, _ = load_model(path)
    return model

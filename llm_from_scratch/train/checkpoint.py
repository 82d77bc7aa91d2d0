"""Checkpoints: tensors in safetensors, everything else in JSON, written atomically.

A checkpoint is a directory::

    model.safetensors      the model's state dict
    optimizer.safetensors  per-parameter optimizer tensors (moments, step)
    rng.safetensors        RNG states (uint8 tensors), so a resumed run is exact
    state.json             step, config, optimizer hyper-parameters, history, ...

Neither format can execute code on load (unlike ``pickle``/``torch.load``), so
a checkpoint from the internet is safe to open. The directory is written under
a temporary name and renamed into place; a crash mid-write leaves a stray
temporary directory, never a half checkpoint that looks complete.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

FORMAT = "llm-from-scratch/checkpoint"
VERSION = 1


@dataclass
class Checkpoint:
    """Everything needed to rebuild a model and resume its training."""

    step: int
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any] | None
    config: dict[str, Any]
    model_config: dict[str, Any] | None = None
    rng_states: dict[str, torch.Tensor] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _optimizer_tensors(state: dict[str, Any]) -> tuple[dict, dict]:
    """Split ``optimizer.state_dict()`` into flat tensors and JSON-able rest."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, per_param in state["state"].items():
        for name, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{name}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[name] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _optimizer_state(tensors: dict[str, torch.Tensor], meta: dict) -> dict[str, Any]:
    """Inverse of ``_optimizer_tensors``: a dict for ``load_state_dict``."""
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        index, _, name = key.partition(".")
        state.setdefault(int(index), {})[name] = value
    for index, values in meta["scalars"].items():
        state.setdefault(int(index), {}).update(values)
    # JSON turned tuples such as ``betas`` into lists; turn them back.
    groups = [
        {k: tuple(v) if isinstance(v, list) and k != "params" else v
         for k, v in g.items()}
        for g in meta["param_groups"]
    ]
    return {"state": state, "param_groups": groups}


def save_checkpoint(
    path: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None,
    step: int,
    config: dict[str, Any],
    generator_states: dict[str, torch.Tensor] | None = None,
    *,
    model_config: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    model_state: dict[str, torch.Tensor] | None = None,
    optimizer_state: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint directory at ``path`` atomically; return ``path``.

    ``generator_states`` maps names to ``torch.Generator.get_state()`` tensors
    (the global CPU/CUDA RNG states are added automatically). ``metadata`` must
    be JSON-serialisable (history, tokens seen, ...). ``model_state`` and
    ``optimizer_state`` replace ``unique_state(model)`` and
    ``optimizer.state_dict()`` (e.g. gathered from shards).
    """
    path = Path(path)
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    # Tied weights share storage; safetensors refuses duplicates, and
    # load_state_dict restores the tie from one copy.
    if model_state is None:
        model_state = unique_state(model)
    state = {k: v.detach().cpu().contiguous() for k, v in model_state.items()}
    save_file(state, str(tmp / "model.safetensors"))
    optimizer_meta = None
    if optimizer_state is None and optimizer is not None:
        optimizer_state = optimizer.state_dict()
    if optimizer_state is not None:
        tensors, optimizer_meta = _optimizer_tensors(optimizer_state)
        save_file(tensors, str(tmp / "optimizer.safetensors"))
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["cuda"] = torch.cuda.get_rng_state()
    for name, value in (generator_states or {}).items():
        rng[f"generator.{name}"] = value
    save_file({k: v.contiguous() for k, v in rng.items()}, str(tmp / "rng.safetensors"))
    info = {
        "format": FORMAT,
        "version": VERSION,
        "step": int(step),
        "config": config,
        "model_config": model_config,
        "optimizer": optimizer_meta,
        "metadata": metadata or {},
    }
    (tmp / "state.json").write_text(json.dumps(info, indent=1, sort_keys=True) + "\n")
    for file in tmp.iterdir():
        _fsync_file(file)
    old = path.parent / f".{path.name}.old-{os.getpid()}"
    if path.exists():
        os.replace(path, old)
    os.replace(tmp, path)
    shutil.rmtree(old, ignore_errors=True)
    return path


def unique_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict with each shared tensor kept once (first name wins)."""
    seen: set[int] = set()
    out = {}
    for name, tensor in model.state_dict().items():
        local = tensor.to_local() if hasattr(tensor, "to_local") else tensor  # DTensor
        key = local.data_ptr() if local.numel() else id(tensor)
        if key in seen:
            continue
        seen.add(key)
        out[name] = tensor
    return out


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint directory written by ``save_checkpoint`` (no code runs)."""
    path = Path(path)
    state_file = path / "state.json"
    if not state_file.is_file():
        raise FileNotFoundError(f"{path} is not a checkpoint: {state_file} is missing")
    try:
        info = json.loads(state_file.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{state_file} is not valid JSON: {e}") from None
    if not isinstance(info, dict) or info.get("format") != FORMAT:
        raise ValueError(f"{state_file} is not an llm-from-scratch checkpoint")
    if info.get("version") != VERSION:
        raise ValueError(f"{path} has checkpoint version {info.get('version')}, "
                         f"this code reads version {VERSION}")
    model_state = _load_tensors(path / "model.safetensors")
    optimizer_state = None
    if info["optimizer"] is not None:
        tensors = _load_tensors(path / "optimizer.safetensors")
        optimizer_state = _optimizer_state(tensors, info["optimizer"])
    rng = _load_tensors(path / "rng.safetensors")
    return Checkpoint(
        step=info["step"],
        model_state=model_state,
        optimizer_state=optimizer_state,
        config=info["config"],
        model_config=info["model_config"],
        rng_states=rng,
        metadata=info["metadata"],
    )


def _load_tensors(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors file; a missing, truncated or corrupt one names itself."""
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint file {path} is missing")
    try:
        return load_file(str(path))
    except Exception as e:  # SafetensorError (not an OSError) on a damaged file
        raise ValueError(f"checkpoint file {path} is truncated or corrupt "
                         f"({type(e).__name__}: {e})") from e


def remove_temporaries(out_dir: str | Path) -> list[Path]:
    """Clean up after a save killed midway; return the folders removed.

    A ``.step_N.tmp-PID`` folder is an unfinished write: deleted. A
    ``.step_N.old-PID`` folder is a complete checkpoint moved aside to be
    replaced: put back when ``step_N`` is missing, else deleted. Only call it
    when no other process is saving into ``out_dir``.
    """
    root = Path(out_dir) / "checkpoints"
    removed = sorted(root.glob(".step_*.tmp-*"))
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    for path in sorted(root.glob(".step_*.old-*")):
        target = root / path.name[1:].rsplit(".old-", 1)[0]
        if target.exists():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
        else:
            os.replace(path, target)
    return removed


def restore_model(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load a (deduplicated) state dict, restoring tied weights from one copy."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = unique_state(model).keys()
    really_missing = [k for k in missing if k in tied]
    if really_missing or unexpected:
        raise ValueError(
            f"checkpoint does not fit the model: missing {really_missing}, "
            f"unexpected {unexpected}"
        )


def restore_rng(checkpoint: Checkpoint) -> dict[str, torch.Tensor]:
    """Restore the global RNGs; return the named generator states."""
    torch.set_rng_state(checkpoint.rng_states["torch"])
    if "cuda" in checkpoint.rng_states and torch.cuda.is_available():
        torch.cuda.set_rng_state(checkpoint.rng_states["cuda"])
    prefix = "generator."
    return {
        k[len(prefix):]: v
        for k, v in checkpoint.rng_states.items()
        if k.startswith(prefix)
    }


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The newest complete ``step_*`` checkpoint under ``out_dir``, if any."""
    root = Path(out_dir) / "checkpoints"
    if not root.is_dir():
        return None
    done = [p for p in root.glob("step_*") if (p / "state.json").is_file()]
    return max(done, key=lambda p: int(p.name.split("_")[1]), default=None)


def prune_checkpoints(out_dir: str | Path, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints."""
    root = Path(out_dir) / "checkpoints"
    done = sorted(root.glob("step_*"), key=lambda p: int(p.name.split("_")[1]))
    for old in done[:-keep] if keep else done:
        shutil.rmtree(old, ignore_errors=True)

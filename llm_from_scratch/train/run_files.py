"""What a run keeps in ``out_dir``: checkpoints it resumes from, and its metrics.

A checkpoint holds whole tensors whatever the parallelism (sharded DTensors are
gathered on save and cut again on resume), so it resumes on any number of
processes. ``metrics.jsonl`` is streamed step by step and cut back to the
checkpoint's records on resume; ``metrics.csv`` is rewritten at each checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from llm_from_scratch.train import checkpoint as ckpt
from llm_from_scratch.train.config import TrainConfig

# Fields that may differ when resuming: they do not change the loss curve.
RESUMABLE_CHANGES = {  # (deterministic may change the last bits: not listed)
    "out_dir", "resume", "progress", "device", "compile", "log_every",
    "checkpoint_every", "keep_checkpoints", "eval_every", "sample_every",
    "activation_checkpointing",
}


def checkpoint_to_resume(config: TrainConfig) -> ckpt.Checkpoint | None:
    """The newest checkpoint of ``out_dir`` when resuming (None: start afresh),
    refused if the config changed in a way that changes the run."""
    path = ckpt.latest_checkpoint(config.out_dir) if config.resume else None
    if path is None:
        return None
    state = ckpt.load_checkpoint(path)
    old = TrainConfig.from_dict(state.config)
    changed = [f.name for f in fields(TrainConfig)
               if f.name not in RESUMABLE_CHANGES
               and getattr(old, f.name) != getattr(config, f.name)]
    if changed:
        raise ValueError(f"cannot resume {path}: the config changed in {changed}")
    return state


def shard_like(state: dict[str, Any], optimizer: torch.optim.Optimizer,
                ) -> dict[str, Any]:
    """A saved (full) optimizer state, each moment cut like its parameter when
    that parameter is a sharded DTensor (FSDP); unchanged otherwise."""
    from torch.distributed.tensor import DTensor, distribute_tensor

    params = [p for group in optimizer.param_groups for p in group["params"]]
    per_param = {}
    for index, values in state["state"].items():
        # (a state that does not fit the parameters is refused by load_state_dict)
        p = params[int(index)] if int(index) < len(params) else None
        if isinstance(p, DTensor):
            values = {k: distribute_tensor(v.to(p.device), p.device_mesh, p.placements)
                      if isinstance(v, torch.Tensor) and v.shape == p.shape else v
                      for k, v in values.items()}
        per_param[index] = values
    return {**state, "state": per_param}


def full_states(model: nn.Module, optimizer: torch.optim.Optimizer,
                 ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Model and optimizer states with sharded DTensors gathered into whole
    tensors (a collective: every rank calls it), so a checkpoint has the same
    format whatever the parallelism and resumes on any number of processes."""
    from torch.distributed.tensor import DTensor

    def full(t: Any) -> Any:
        return t.full_tensor() if isinstance(t, DTensor) else t

    model_state = {k: full(v) for k, v in ckpt.unique_state(model).items()}
    opt = optimizer.state_dict()
    opt_state = {i: {k: full(v) for k, v in values.items()}
                 for i, values in opt["state"].items()}
    return model_state, {**opt, "state": opt_state}


def save_run(config: TrainConfig, model: nn.Module, optimizer: torch.optim.Optimizer,
             step: int, history: list[dict[str, Any]], vocab_size: int,
             states: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None,
             ) -> Path:
    """Checkpoint ``step`` into ``out_dir/checkpoints``, prune old ones, and
    rewrite metrics.csv."""
    out = Path(config.out_dir)  # type: ignore[arg-type]
    mc = getattr(model, "config", None)
    model_state, optimizer_state = states or (None, None)
    path = ckpt.save_checkpoint(
        out / "checkpoints" / f"step_{step:06d}", model, optimizer, step,
        config.to_dict(), model_config=mc.to_dict() if hasattr(mc, "to_dict") else None,
        metadata={"history": history, "vocab_size": vocab_size},
        model_state=model_state, optimizer_state=optimizer_state,
    )
    ckpt.prune_checkpoints(out, config.keep_checkpoints)
    write_csv(out, history)
    return path


def start_metrics(out: Path, history: list[dict[str, Any]]) -> None:
    """Rewrite metrics.jsonl to the records a run starts from.

    A fresh run starts it empty; a resumed run keeps the checkpoint's records
    only, dropping what the killed run streamed after its last checkpoint
    (the resumed run produces those steps again).
    """
    (out / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in history))


def append_metrics(out: Path, record: dict[str, Any]) -> None:
    """Append one step's record as it is produced, so a live run can be watched
    (``tail -f``) and a killed run leaves every step it finished."""
    with open(out / "metrics.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")


def write_csv(out: Path, history: list[dict[str, Any]]) -> None:
    """metrics.csv, a spreadsheet summary rewritten whole at each checkpoint
    (its columns are known only once an evaluation has happened)."""
    keys = list(dict.fromkeys(k for r in history for k in r if k != "sample"))
    rows = [",".join(keys)] + [
        ",".join("" if r.get(k) is None else str(r.get(k)) for k in keys)
        for r in history
    ]
    (out / "metrics.csv").write_text("\n".join(rows) + "\n")

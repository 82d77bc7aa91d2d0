"""The speedrun's settings and its state file.

``SpeedrunConfig`` is what a run trains on, for how long and at which size;
``SpeedrunState`` is ``OUT/speedrun.json``: those settings and each finished
stage, rewritten atomically, so a rerun knows what to skip.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STAGES = ("curate", "tokenizer", "shards", "pretrain", "sft", "dpo", "rl", "eval",
          "chat")
# What each stage reads: the outputs of these stages (the chapter's Exercise 2).
STAGE_INPUTS: dict[str, tuple[str, ...]] = {
    "curate": (), "tokenizer": ("curate",), "shards": ("curate", "tokenizer"),
    "pretrain": ("shards",), "sft": ("pretrain",), "dpo": ("sft",), "rl": ("dpo",),
    "eval": ("pretrain", "rl"), "chat": ("rl",),
}


EVAL_TASKS = ("cloze", "quotes", "parity")
CHAT_PROMPTS = (
    "What is two plus two?",
    "Tell me about the sea.",
    "Who was Hamlet?",
    "Is 7 an odd number?",
)
STATE_FILE = "speedrun.json"


@dataclass(frozen=True)
class SpeedrunConfig:
    """What a speedrun trains on, for how long, and at which size.

    ``inputs`` empty means the book's offline corpus. ``budget_minutes`` is the
    wall-clock target for the whole run; ``reserve_fraction`` of it (at least
    ``reserve_seconds``) is kept for the stages after pretraining.
    """

    inputs: tuple[str, ...] = ()
    budget_minutes: float = 30.0
    full: bool = False
    vocab_size: int = 2048
    toxicity: bool = True
    reserve_seconds: float = 90.0
    reserve_fraction: float = 0.05
    eval_limit: int | None = None
    train_set: tuple[str, ...] = ()  # extra ``train --set KEY=VALUE`` overrides
    checkpoint_every: int = 200

    def __post_init__(self) -> None:
        if not self.budget_minutes > 0:
            raise ValueError(f"budget_minutes must be > 0, got {self.budget_minutes}")
        if self.vocab_size < 260:
            raise ValueError(f"vocab_size must be >= 260 (256 bytes + the chat "
                             f"tokens), got {self.vocab_size}")
        if not 0 <= self.reserve_fraction < 1:
            raise ValueError(f"reserve_fraction must be in [0, 1), got "
                             f"{self.reserve_fraction}")
        if self.eval_limit is not None and self.eval_limit < 1:
            raise ValueError(f"eval_limit must be >= 1, got {self.eval_limit}")
        for path in self.inputs:
            if not Path(path).exists():
                raise FileNotFoundError(f"--inputs {path} does not exist")

    def settings(self) -> dict[str, Any]:
        """What must match for a rerun to resume (plain JSON)."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in asdict(self).items()}

    @property
    def budget_seconds(self) -> float:
        return 60.0 * self.budget_minutes

    def model_overrides(self) -> list[str]:
        """``train --set`` for the run's size: the CPU defaults, or --full (GPU)."""
        size = (["d_model=512", "n_layers=8", "n_heads=8", "batch_size=32",
                 "seq_len=512", "lr=1e-3", "dtype=bfloat16", "eval_batches=20"]
                if self.full else [])
        return [*size, f"checkpoint_every={self.checkpoint_every}",
                "eval_every=500", *self.train_set]


@dataclass
class SpeedrunState:
    """``OUT/speedrun.json``: the settings and each finished stage."""

    settings: dict[str, Any]
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0  # wall-clock of all attempts so far (a resume adds to it)

    @classmethod
    def load(cls, path: Path) -> SpeedrunState | None:
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        return cls(data["settings"], data.get("stages", {}), data.get("seconds", 0.0))

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1) + "\n")
        os.replace(tmp, path)

"""The training run's settings: one validated dataclass, JSON/YAML, CLI overrides.

Every field is plain data, so a config round-trips through JSON into a
checkpoint and back. ``__post_init__`` checks every value and names the field
and its allowed range: a typo in a config file fails at once, not after an
hour of training.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

DTYPES = ("float32", "bfloat16")
PARALLEL = ("ddp", "fsdp")
OPTIMIZERS = ("adamw", "muon")
# Fields added after the book's runs were cached: to_dict leaves them out at
# these values, so run keys (hashes of to_dict) and old files stay unchanged.
OPTIONAL_DEFAULTS: dict[str, Any] = {
    "optimizer": "adamw", "moe_experts": 0, "moe_top_k": 2,
    "moe_capacity_factor": None, "moe_aux_weight": 0.01, "mup_base_width": None,
    "activation_checkpointing": False, "budget_seconds": None,
}


@dataclass(frozen=True)
class TrainConfig:
    """Model size, data, optimisation and bookkeeping of one run."""

    # model (the vocabulary size comes from the data's tokenizer). The defaults
    # are sized for a 2-core CPU by measurement (benchmarks/bench_train_vs_nanogpt.py:
    # the lowest bits per byte after 90 s); BOOK_CONFIG sets its own.
    d_model: int = 128
    n_layers: int = 3
    n_heads: int = 4
    n_kv_heads: int | None = None
    ffn_hidden: int | None = None
    rope_theta: float = 10000.0
    tie_embeddings: bool = True
    fast: bool = True  # PyTorch's fused attention; False: the from-scratch oracle
    # mixture of experts (0 = dense) and muP (None = standard parametrisation)
    moe_experts: int = 0
    moe_top_k: int = 2
    moe_capacity_factor: float | None = None
    moe_aux_weight: float = 0.01
    mup_base_width: int | None = None
    # data: "book" = the data chapter's shards; "bytes" = Shakespeare as raw
    # bytes (no tokenizer); "manifests" = the two shard manifests below
    data: str = "book"
    train_manifest: str | None = None
    val_manifest: str | None = None
    bytes_per_token: float | None = None
    # optimisation ("muon": Muon for hidden matrices, AdamW for the rest)
    optimizer: str = "adamw"
    batch_size: int = 16
    seq_len: int = 64
    grad_accum: int = 1
    steps: int = 600
    # a wall-clock budget: the run's length is fitted to it after timing its
    # first steps (train/time_budget.py), and ``steps`` only sets the schedule
    # of those calibration steps
    budget_seconds: float | None = None
    lr: float = 3e-3
    warmup_frac: float = 0.02
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    clip: float = 1.0
    # evaluation and bookkeeping
    eval_every: int = 100
    eval_batches: int = 8
    sample_every: int = 0
    sample_tokens: int = 48
    checkpoint_every: int = 0
    keep_checkpoints: int = 2
    log_every: int = 10
    seed: int = 1337
    dtype: str = "float32"
    compile: bool = False
    # keep only each block's input and recompute the block in the backward
    # (train/memory.py): far less activation memory for about one more forward
    # of compute, the same gradients
    activation_checkpointing: bool = False
    # under torchrun: "ddp" keeps a whole model per process, "fsdp" shards it
    parallel: str = "ddp"
    deterministic: bool = False
    device: str = "auto"
    out_dir: str | None = None
    resume: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_type(f.name, getattr(self, f.name), f.type)
        _at_least(self, 1, "d_model", "n_layers", "n_heads", "batch_size", "seq_len")
        _at_least(self, 1, "grad_accum", "steps", "eval_batches", "sample_tokens")
        _at_least(self, 1, "log_every", "keep_checkpoints")
        _at_least(self, 0, "eval_every", "sample_every", "checkpoint_every", "seed")
        if self.d_model % self.n_heads:
            _fail("d_model", self.d_model, f"a multiple of n_heads={self.n_heads}")
        if (self.d_model // self.n_heads) % 2:
            _fail("n_heads", self.n_heads, "a divisor of d_model with an even quotient")
        if self.n_kv_heads is not None and (
            self.n_kv_heads < 1 or self.n_heads % self.n_kv_heads
        ):
            _fail("n_kv_heads", self.n_kv_heads, f"a divisor of n_heads={self.n_heads}")
        if self.ffn_hidden is not None and self.ffn_hidden < 1:
            _fail("ffn_hidden", self.ffn_hidden, ">= 1 or null")
        _in_range(self, "lr", 0.0, 1.0, low_open=True)
        _in_range(self, "warmup_frac", 0.0, 0.5)
        _in_range(self, "min_lr_ratio", 0.0, 1.0)
        _in_range(self, "weight_decay", 0.0, 1.0)
        _in_range(self, "beta1", 0.0, 1.0, high_open=True)
        _in_range(self, "beta2", 0.0, 1.0, high_open=True)
        _in_range(self, "eps", 0.0, 1e-2, low_open=True)
        _in_range(self, "clip", 0.0, math.inf, low_open=True)
        _in_range(self, "rope_theta", 1.0, math.inf)
        if self.bytes_per_token is not None:
            _in_range(self, "bytes_per_token", 0.0, math.inf, low_open=True)
        if self.dtype not in DTYPES:
            _fail("dtype", self.dtype, f"one of {DTYPES}")
        if self.optimizer not in OPTIMIZERS:
            _fail("optimizer", self.optimizer, f"one of {OPTIMIZERS}")
        _at_least(self, 0, "moe_experts")
        _at_least(self, 1, "moe_top_k")
        if self.moe_experts and self.moe_top_k > self.moe_experts:
            _fail("moe_top_k", self.moe_top_k, f"<= moe_experts={self.moe_experts}")
        if self.moe_capacity_factor is not None:
            _in_range(self, "moe_capacity_factor", 0.0, math.inf, low_open=True)
        _in_range(self, "moe_aux_weight", 0.0, math.inf)
        if self.mup_base_width is not None:
            _at_least(self, 1, "mup_base_width")
        if self.parallel not in PARALLEL:
            _fail("parallel", self.parallel, f"one of {PARALLEL}")
        if self.device != "auto" and self.device.split(":")[0] not in (
            "cpu", "cuda", "mps"
        ):
            _fail("device", self.device, "'auto', 'cpu', 'cuda[:N]' or 'mps'")
        if self.data not in ("book", "bytes", "manifests"):
            _fail("data", self.data, "'book', 'bytes' or 'manifests'")
        if self.data == "manifests" and not (self.train_manifest and self.val_manifest):
            _fail("train_manifest", self.train_manifest,
                  "a path (with val_manifest) when data='manifests'")
        if self.budget_seconds is not None:
            _in_range(self, "budget_seconds", 0.0, math.inf, low_open=True)
            if self.resume:
                _fail("resume", self.resume, "false with budget_seconds (a resumed "
                      "run replays its saved steps: resume without the budget)")
        if self.resume and not self.out_dir:
            _fail("resume", self.resume, "false unless out_dir is set")

    @property
    def warmup_steps(self) -> int:
        """Warmup length in optimizer steps (at least 1 when warmup_frac > 0)."""
        if self.warmup_frac == 0:
            return 0
        return max(1, round(self.warmup_frac * self.steps))

    @property
    def tokens_per_step(self) -> int:
        """Tokens per optimizer step on one process."""
        return self.batch_size * self.seq_len * self.grad_accum

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for name, default in OPTIONAL_DEFAULTS.items():
            if d[name] == default:
                del d[name]
        return d

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a dict, rejecting unknown keys (typos) by name."""
        if not isinstance(values, dict):
            raise TypeError(f"a config must be a mapping, got {type(values).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown config field(s) {unknown}; known: {sorted(known)}"
            )
        return cls(**values)

    def with_overrides(self, overrides: list[str]) -> TrainConfig:
        """Apply ``key=value`` strings (from ``--set``), parsed by field type."""
        types = {f.name: f.type for f in fields(self)}
        changes: dict[str, Any] = {}
        for item in overrides:
            key, sep, text = item.partition("=")
            key = key.strip()
            if not sep or not key:
                raise ValueError(f"override {item!r} must look like key=value")
            if key not in types:
                raise ValueError(f"unknown config field {key!r} in override {item!r}")
            changes[key] = parse_value(key, text.strip(), str(types[key]))
        return replace(self, **changes)


def load_config(path: str | Path) -> TrainConfig:
    """Read a config from ``.json`` or ``.yaml``/``.yml`` (safe loader: data only)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    text = path.read_text()
    if path.suffix == ".json":
        values = json.loads(text)
    elif path.suffix in (".yaml", ".yml"):
        import yaml

        values = yaml.safe_load(text)
    else:
        raise ValueError(f"config {path} must end in .json, .yaml or .yml")
    return TrainConfig.from_dict(values or {})


def parse_value(key: str, text: str, type_name: str) -> Any:
    """Turn the text of an override into the field's type."""
    optional = "None" in type_name
    if optional and text.lower() in ("none", "null"):
        return None
    base = type_name.replace("| None", "").strip()
    try:
        if base == "bool":
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if base == "int":
            return int(text)
        if base == "float":
            return float(text)
    except ValueError:
        raise ValueError(f"{key}={text!r} is not a valid {base}") from None
    return text


def _fail(name: str, value: Any, allowed: str) -> None:
    raise ValueError(f"TrainConfig.{name}={value!r} is invalid: must be {allowed}")


def _check_type(name: str, value: Any, type_name: Any) -> None:
    type_name = str(type_name)
    if value is None:
        if "None" not in type_name:
            _fail(name, value, f"a {type_name}, not null")
        return
    base = type_name.replace("| None", "").strip()
    expected = {"int": int, "float": (int, float), "bool": bool, "str": str}[base]
    bad_bool = isinstance(value, bool) and base != "bool"
    if bad_bool or not isinstance(value, expected):
        _fail(name, value, f"of type {base}")


def _at_least(config: TrainConfig, low: int, *names: str) -> None:
    for name in names:
        if getattr(config, name) < low:
            _fail(name, getattr(config, name), f">= {low}")


def _in_range(
    config: TrainConfig,
    name: str,
    low: float,
    high: float,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    value = getattr(config, name)
    ok_low = value > low if low_open else value >= low
    ok_high = value < high if high_open else value <= high
    if not (ok_low and ok_high and not math.isnan(value)):
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        _fail(name, value, f"in {left}{low}, {high}{right}")

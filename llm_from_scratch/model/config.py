"""One small dataclass describes the whole model: every other module reads it.

The defaults follow Llama: no biases, RMSNorm before each sub-layer, SwiGLU with a
hidden size of about 8/3 of the model width, rotary positions with theta = 10000.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

ROPE_SCALING_KINDS = ("linear", "ntk", "llama3")
NORM_PLACEMENTS = ("pre", "post")
# Fields added after checkpoints existed: to_dict omits them at these values.
OPTIONAL_DEFAULTS: dict[str, Any] = {
    "moe_experts": 0, "moe_top_k": 2, "moe_capacity_factor": None,
    "mup_base_width": None,
}


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def default_ffn_hidden(d_model: int, multiple_of: int = 64) -> int:
    """8/3 * d_model rounded up to a multiple of 64: SwiGLU's three matrices then
    cost about as much as a 4 * d_model ReLU MLP's two (Shazeer, 2020)."""
    return multiple_of * math.ceil(8 * d_model / 3 / multiple_of)


@dataclass(frozen=True)
class RopeScaling:
    """How to stretch rotary positions beyond the length the model was trained on.

    * ``linear`` (position interpolation): divide every position by ``factor``.
    * ``ntk`` (NTK-aware): keep positions, raise theta to
      ``theta * factor ** (d / (d - 2))`` so low frequencies stretch most.
      For both, the position cache becomes ``factor`` times ``max_seq_len``.
    * ``llama3`` (Llama 3.1 / 3.2): per frequency band. Pairs whose wavelength is
      under ``original_max_seq_len / high_freq_factor`` tokens keep their frequency,
      those over ``original_max_seq_len / low_freq_factor`` are divided by
      ``factor``, and the band between is blended smoothly. The checkpoint's
      ``max_seq_len`` already is the extended length, so the cache is not stretched.
    """

    kind: str
    factor: float
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    original_max_seq_len: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in ROPE_SCALING_KINDS:
            raise ValueError(
                f"rope_scaling.kind must be one of {ROPE_SCALING_KINDS}, "
                f"got {self.kind!r}"
            )
        if not isinstance(self.factor, (int, float)) or not self.factor >= 1.0:
            raise ValueError(f"rope_scaling.factor must be >= 1, got {self.factor!r}")
        if self.kind != "llama3":
            if self.original_max_seq_len is not None or (
                self.low_freq_factor,
                self.high_freq_factor,
            ) != (1.0, 4.0):
                raise ValueError(
                    "rope_scaling.low_freq_factor, high_freq_factor and "
                    "original_max_seq_len apply only to kind='llama3'"
                )
            return
        _positive_int("rope_scaling.original_max_seq_len", self.original_max_seq_len)
        low, high = self.low_freq_factor, self.high_freq_factor
        if not all(isinstance(v, (int, float)) for v in (low, high)) or not (
            0 < low < high
        ):
            raise ValueError(
                "rope_scaling needs 0 < low_freq_factor < high_freq_factor, "
                f"got {low!r} and {high!r}"
            )

    @property
    def cache_factor(self) -> float:
        """How many times ``max_seq_len`` the rotary cache must cover."""
        return 1.0 if self.kind == "llama3" else float(self.factor)


@dataclass(frozen=True)
class ModelConfig:
    """Shapes and options of the decoder-only transformer.

    ``n_kv_heads`` < ``n_heads`` is grouped-query attention (1 = multi-query);
    ``max_seq_len`` is the longest context the rotary cache covers (times a linear
    or NTK ``rope_scaling`` factor); ``fast`` switches attention to PyTorch's fused
    ``scaled_dot_product_attention`` (``fast="flash"``: the book's FlashAttention-2
    of ``flash.py``, SDPA where a mask is given); ``norm_placement="post"`` exists
    only for the pre- versus post-norm experiment. ``n_layers=0`` is the
    zero-layer transformer (embedding, final norm, output: a bigram model), the
    cheapest draft for speculative decoding.
    """

    vocab_size: int
    d_model: int
    n_layers: int
    n_heads: int
    n_kv_heads: int | None = None
    max_seq_len: int = 256
    ffn_hidden: int | None = None
    rope_theta: float = 10000.0
    rope_scaling: RopeScaling | None = None
    norm_eps: float = 1e-5
    tie_embeddings: bool = False
    fast: bool | str = False  # False, True or "flash"
    norm_placement: str = "pre"
    # mixture of experts (model/moe.py): 0 = the dense SwiGLU feed-forward
    moe_experts: int = 0
    moe_top_k: int = 2
    moe_capacity_factor: float | None = None  # None = dropless
    # muP (model/mup.py): None = standard parametrisation
    mup_base_width: int | None = None

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "n_heads", "max_seq_len"):
            _positive_int(name, getattr(self, name))
        if isinstance(self.n_layers, bool) or not isinstance(self.n_layers, int) or (
            self.n_layers < 0
        ):
            raise ValueError(f"n_layers must be an int >= 0, got {self.n_layers!r}")
        if self.n_kv_heads is None:
            object.__setattr__(self, "n_kv_heads", self.n_heads)
        _positive_int("n_kv_heads", self.n_kv_heads)
        if self.ffn_hidden is None:
            object.__setattr__(self, "ffn_hidden", default_ffn_hidden(self.d_model))
        _positive_int("ffn_hidden", self.ffn_hidden)
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model ({self.d_model}) must be divisible by n_heads "
                f"({self.n_heads})"
            )
        if self.head_dim % 2:
            raise ValueError(
                f"head_dim = d_model / n_heads = {self.head_dim} must be even for RoPE"
            )
        if self.n_heads % self.n_kv_heads:
            raise ValueError(
                f"n_heads ({self.n_heads}) must be divisible by n_kv_heads "
                f"({self.n_kv_heads})"
            )
        if not isinstance(self.rope_theta, (int, float)) or not self.rope_theta > 1:
            raise ValueError(
                f"rope_theta must be a number > 1, got {self.rope_theta!r}"
            )
        if isinstance(self.rope_scaling, dict):
            object.__setattr__(self, "rope_scaling", RopeScaling(**self.rope_scaling))
        if self.rope_scaling is not None and not isinstance(
            self.rope_scaling, RopeScaling
        ):
            raise ValueError(
                "rope_scaling must be None, a RopeScaling or a dict of its fields, "
                f"got {self.rope_scaling!r}"
            )
        if not isinstance(self.norm_eps, (int, float)) or not 0 < self.norm_eps < 1:
            raise ValueError(f"norm_eps must be in (0, 1), got {self.norm_eps!r}")
        if not isinstance(self.tie_embeddings, bool):
            raise ValueError(
                f"tie_embeddings must be a bool, got {self.tie_embeddings!r}"
            )
        if not isinstance(self.fast, bool) and self.fast != "flash":
            raise ValueError(f"fast must be a bool or 'flash', got {self.fast!r}")
        if self.norm_placement not in NORM_PLACEMENTS:
            raise ValueError(
                f"norm_placement must be one of {NORM_PLACEMENTS}, "
                f"got {self.norm_placement!r}"
            )
        self._check_moe_mup()

    def _check_moe_mup(self) -> None:
        if isinstance(self.moe_experts, bool) or not isinstance(
            self.moe_experts, int
        ) or self.moe_experts < 0:
            raise ValueError(
                f"moe_experts must be an int >= 0, got {self.moe_experts!r}"
            )
        _positive_int("moe_top_k", self.moe_top_k)
        if self.moe_experts and self.moe_top_k > self.moe_experts:
            raise ValueError(
                f"moe_top_k ({self.moe_top_k}) must be <= moe_experts "
                f"({self.moe_experts})"
            )
        factor = self.moe_capacity_factor
        if factor is not None and (
            not isinstance(factor, (int, float)) or not factor > 0
        ):
            raise ValueError(
                f"moe_capacity_factor must be > 0 or None, got {factor!r}"
            )
        if self.mup_base_width is not None:
            _positive_int("mup_base_width", self.mup_base_width)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @property
    def max_positions(self) -> int:
        """Positions the rotary cache covers: max_seq_len, times the factor of
        linear or NTK scaling (a llama3-scaled checkpoint states its full length)."""
        factor = self.rope_scaling.cache_factor if self.rope_scaling else 1.0
        return int(self.max_seq_len * factor)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe values, for checkpoints. The MoE and muP fields are
        left out at their defaults, so older files and hashes stay unchanged."""
        d = asdict(self)
        for name, default in OPTIONAL_DEFAULTS.items():
            if d[name] == default:
                del d[name]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error, not ignored."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown ModelConfig fields: {unknown}")
        return cls(**d)

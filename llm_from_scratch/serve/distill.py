"""A speculative draft distilled from its target.

Speculative decoding pays when the draft agrees with the target often (the
acceptance rate alpha) and costs little (c, a draft step over a target step).
A draft trained on the data learns the data; verification checks agreement with
the *target*. Distillation trains the draft on the target's own next-token
distributions instead (DistillSpec, Zhou et al., 2024), minimising per token

    KL(p_target || q_draft) = sum_v p(v) (log p(v) - log q(v)),

whose expectation bounds the rejections: a proposal drawn from q is rejected
with probability TV(p, q) <= sqrt(KL / 2) (Pinsker).

The default draft is the zero-layer transformer (``n_layers=0``: embedding,
final norm, output), a bigram model costing a few percent of a target step on
a CPU, where a model this small pays mostly per-layer overhead.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from llm_from_scratch.model import ModelConfig, Transformer
from llm_from_scratch.train.schedule import lr_at


@dataclass(frozen=True)
class DistillConfig:
    """The draft's shape and its distillation run (AdamW, warmup then cosine)."""

    d_model: int = 64
    n_layers: int = 0
    n_heads: int = 2
    steps: int = 300
    batch_size: int = 16
    seq_len: int = 128
    lr: float = 1e-2
    warmup: int = 10
    weight_decay: float = 0.0
    temperature: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "seq_len"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature!r}")


def distill_loss(
    draft_logits: Tensor, target_logits: Tensor, temperature: float = 1.0
) -> Tensor:
    """Mean over tokens of KL(softmax(target / T) || softmax(draft / T)), in nats.

    Both logits (..., V) of the same shape; every leading position is one token.
    Zero exactly when the two distributions agree.
    """
    # region checks
    if draft_logits.shape != target_logits.shape:
        raise ValueError(
            f"draft_logits {tuple(draft_logits.shape)} and target_logits "
            f"{tuple(target_logits.shape)} must have the same shape (..., V)"
        )
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    # endregion
    V = draft_logits.shape[-1]
    log_q = F.log_softmax(draft_logits.reshape(-1, V).float() / temperature, dim=-1)
    log_p = F.log_softmax(target_logits.reshape(-1, V).float() / temperature, dim=-1)
    return (log_p.exp() * (log_p - log_q)).sum(-1).mean()


def draft_shape(target: Transformer, config: DistillConfig) -> ModelConfig:
    """The draft's ModelConfig: the target's vocabulary and context, the draft's
    width and depth, untied output (a bigram table needs not be symmetric)."""
    t = target.config
    return ModelConfig(
        vocab_size=t.vocab_size, d_model=config.d_model, n_layers=config.n_layers,
        n_heads=config.n_heads, max_seq_len=t.max_seq_len, rope_theta=t.rope_theta,
        tie_embeddings=False, fast=True,
    )


def distill_draft(
    target: Transformer, tokens: Any, config: DistillConfig | None = None
) -> tuple[Transformer, list[float]]:
    """Train a new draft on ``target``'s next-token distributions over random
    windows of ``tokens`` (a ``TokenShards``); return it (eval mode) and the
    per-step losses (KL in nats per token)."""
    config = config or DistillConfig()
    if config.seq_len > target.config.max_seq_len:
        raise ValueError(
            f"seq_len {config.seq_len} exceeds the target's "
            f"{target.config.max_seq_len} positions"
        )
    torch.manual_seed(config.seed)
    draft = Transformer(draft_shape(target, config))
    decay = [p for p in draft.parameters() if p.dim() >= 2]
    other = [p for p in draft.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay},
         {"params": other, "weight_decay": 0.0}], lr=config.lr, betas=(0.9, 0.95),
    )
    g = torch.Generator().manual_seed(config.seed)
    target.eval()
    losses = []
    for step in range(config.steps):
        lr = lr_at(step, max_lr=config.lr, total_steps=config.steps,
                   warmup_steps=config.warmup)
        for group in opt.param_groups:
            group["lr"] = lr
        x, _ = tokens.sample_batch(config.batch_size, config.seq_len, g)
        with torch.no_grad():
            teacher = target(x)
        loss = distill_loss(draft(x), teacher, config.temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    draft.eval()
    return draft, losses


def distilled_draft(config: DistillConfig | None = None) -> tuple[Transformer, Any]:
    """The book model's distilled draft and the target it was distilled from:
    from the cache (keyed by the config, the target's weights and the data), or
    distilled now from ``book_model()`` on the book's training shards."""
    from llm_from_scratch.align.stage_cache import weights_hash
    from llm_from_scratch.data import TokenShards, book_shards
    from llm_from_scratch.train import book_model, load_checkpoint, save_checkpoint
    from llm_from_scratch.train.checkpoint import restore_model
    from llm_from_scratch.utils import cache_dir, cache_lock

    config = config or DistillConfig()
    target, _ = book_model()
    shards = book_shards()
    h = hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode())
    h.update(weights_hash(target).encode())
    h.update(shards.train.read_bytes())
    path = cache_dir("drafts") / f"distilled-{h.hexdigest()[:16]}"
    with cache_lock(path.parent, f".{path.name}.lock"):
        if not (path / "state.json").is_file():
            draft, losses = distill_draft(target, TokenShards(shards.train), config)
            save_checkpoint(
                path, draft, None, config.steps, asdict(config),
                model_config=draft.config.to_dict(), metadata={"losses": losses},
            )
    state = load_checkpoint(path)
    draft = Transformer(ModelConfig.from_dict(state.model_config))
    restore_model(draft, state.model_state)
    return draft.eval(), target

"""The reward model: the language model with its vocabulary head swapped for a
scalar, read at the last token of the reply.

It starts from the SFT model, which already "understands" the conversations;
only the head is new. Trained on preference pairs with the Bradley-Terry loss,
its score is only meaningful up to a constant: ``r_w - r_l`` is what it learns.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from llm_from_scratch.align.chat import ChatExample, ChatTokenizer, Message, encode_chat
from llm_from_scratch.align.data import PreferencePair
from llm_from_scratch.align.losses import bradley_terry_loss
from llm_from_scratch.align.training import (
    check_positive,
    make_optimizer,
    optimizer_step,
)


class RewardModel(nn.Module):
    """Scores whole conversations: ids ``[B, T]`` plus lengths ``[B]`` -> ``[B]``.

    ``backbone`` is a copy of a language model whose last layer is ``output``
    (``[d_model -> vocab]``); it is replaced by a zero-initialised
    ``[d_model -> 1]`` projection, so every reply starts with reward 0.
    """

    def __init__(self, language_model: nn.Module) -> None:
        super().__init__()
        self.backbone = copy.deepcopy(language_model)
        d_model = self.backbone.output.in_features
        self.backbone.output = nn.Linear(d_model, 1)
        nn.init.zeros_(self.backbone.output.weight)
        nn.init.zeros_(self.backbone.output.bias)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # region checks
        if bool((lengths < 1).any()) or bool((lengths > ids.shape[1]).any()):
            raise ValueError(f"lengths must be in [1, {ids.shape[1]}], got {lengths}")
        # endregion
        values = self.backbone(ids).squeeze(-1)  # [B, T]
        return values.gather(1, (lengths - 1)[:, None]).squeeze(1)


def pad_ids(
    sequences: Sequence[Sequence[int]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists into ``[B, T]``; also return their lengths."""
    lengths = torch.tensor([len(s) for s in sequences])
    if len(sequences) == 0 or bool((lengths == 0).any()):
        raise ValueError("pad_ids needs non-empty sequences")
    ids = torch.full((len(sequences), int(lengths.max())), pad_id, dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(list(seq))
    return ids, lengths


def pair_examples(
    tok: ChatTokenizer, pair: PreferencePair, max_tokens: int
) -> tuple[ChatExample, ChatExample]:
    """The chosen and the rejected conversation of a pair, encoded."""
    return tuple(  # type: ignore[return-value]
        encode_chat(
            tok, [*pair.prompt, Message("assistant", reply)], max_tokens=max_tokens
        )
        for reply in (pair.chosen, pair.rejected)
    )


@torch.no_grad()
def score(
    rm: RewardModel,
    sequences: Sequence[Sequence[int]],
    pad_id: int,
    batch_size: int = 64,
) -> torch.Tensor:
    """Reward of each id sequence (a prompt plus a reply), in batches."""
    rm.eval()
    out = [
        rm(*pad_ids(sequences[i : i + batch_size], pad_id))
        for i in range(0, len(sequences), batch_size)
    ]
    return torch.cat(out)


@dataclass(frozen=True)
class RewardConfig:
    steps: int = 100
    batch_size: int = 16
    lr: float = 3e-4
    warmup_steps: int = 5
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    max_tokens: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        check_positive(self, "steps", "batch_size", "lr", "grad_clip", "max_tokens")
        if not 0 <= self.warmup_steps <= self.steps:
            raise ValueError(f"RewardConfig.warmup_steps must be in [0, {self.steps}]")


def train_reward_model(
    rm: RewardModel,
    tok: ChatTokenizer,
    pairs: Sequence[PreferencePair],
    config: RewardConfig,
    pad_id: int,
) -> list[dict[str, float]]:
    """Fit ``rm`` to prefer each pair's chosen reply; return the per-step history."""
    if not pairs:
        raise ValueError("train_reward_model needs at least one pair")
    encoded = [pair_examples(tok, p, config.max_tokens) for p in pairs]
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = make_optimizer(rm, config.lr, config.weight_decay)
    history = []
    for step in range(config.steps):
        start = time.perf_counter()
        rm.train()
        pick = torch.randint(len(pairs), (config.batch_size,), generator=generator)
        chosen = [encoded[int(i)][0].ids for i in pick]
        rejected = [encoded[int(i)][1].ids for i in pick]
        rewards = rm(*pad_ids(chosen + rejected, pad_id))
        loss, accuracy = bradley_terry_loss(*rewards.split(len(pick)))
        lr, norm = optimizer_step(
            optimizer, rm, loss, step, lr=config.lr, total_steps=config.steps,
            warmup_steps=config.warmup_steps, grad_clip=config.grad_clip,
        )
        history.append({
            "step": step, "loss": loss.item(), "accuracy": accuracy.item(), "lr": lr,
            "grad_norm": norm, "seconds": time.perf_counter() - start,
        })
    rm.eval()
    return history


def reward_accuracy(
    rm: RewardModel,
    tok: ChatTokenizer,
    pairs: Sequence[PreferencePair],
    pad_id: int,
    max_tokens: int = 128,
) -> tuple[float, torch.Tensor, torch.Tensor]:
    """Held-out accuracy and the chosen / rejected score of every pair."""
    encoded = [pair_examples(tok, p, max_tokens) for p in pairs]
    chosen = score(rm, [c.ids for c, _ in encoded], pad_id)
    rejected = score(rm, [r.ids for _, r in encoded], pad_id)
    return float((chosen > rejected).float().mean()), chosen, rejected

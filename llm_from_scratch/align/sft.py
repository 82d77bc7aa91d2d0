"""Supervised fine-tuning: next-token prediction on the assistant's turns only.

The loop is pretraining's; two things differ. Batches are whole conversations
(right-padded, which is exact under a causal mask), and the loss is averaged over
the assistant tokens alone, so the model learns to *answer*, not to write the
user's side of the dialogue.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from llm_from_scratch.align.batching import IGNORE, pad_batch
from llm_from_scratch.align.chat import ChatExample
from llm_from_scratch.align.losses import token_logprobs
from llm_from_scratch.align.steps import sft_microbatch_train_step
from llm_from_scratch.align.training import (
    apply_update,
    check_positive,
    make_optimizer,
    micro_batches,
)


@dataclass(frozen=True)
class SFTConfig:
    """Steps, batch size and optimiser settings of supervised fine-tuning."""

    steps: int = 150
    batch_size: int = 16
    lr: float = 1e-3
    warmup_steps: int = 10
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0
    gradient_accumulation_steps: int = 1
    # fields added after cached stages existed: their cache keys omit them at these
    added_later: ClassVar[dict[str, object]] = {"gradient_accumulation_steps": 1}

    def __post_init__(self) -> None:
        check_positive(self, "steps", "batch_size", "lr", "grad_clip",
                       "gradient_accumulation_steps")
        if not 0 <= self.warmup_steps <= self.steps:
            raise ValueError(f"SFTConfig.warmup_steps must be in [0, {self.steps}]")


def sft_train(
    model: nn.Module,
    examples: Sequence[ChatExample],
    config: SFTConfig,
    pad_id: int,
) -> list[dict[str, float]]:
    """Fine-tune ``model`` in place on ``examples``; return the per-step history.

    The loss is the mean ``-log p`` over the batch's assistant tokens. Its
    gradient is accumulated by ``sft_microbatch_train_step`` over
    ``config.gradient_accumulation_steps`` equal micro-batches, each normalised
    by the whole batch's tokens per sequence, so any split gives the update of
    the whole batch (up to rounding).
    """
    # region checks
    if not examples:
        raise ValueError("sft_train needs at least one example")
    unlearnable = [i for i, e in enumerate(examples) if not any(e.mask[1:])]
    if unlearnable:
        raise ValueError(f"examples {unlearnable[:5]} have no assistant token to learn")
    # endregion
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = make_optimizer(model, config.lr, config.weight_decay)
    model.train()
    order, cursor, history = torch.randperm(len(examples), generator=generator), 0, []
    for step in range(config.steps):
        start = time.perf_counter()
        if cursor + config.batch_size > len(order):  # a new epoch, freshly shuffled
            order, cursor = torch.randperm(len(examples), generator=generator), 0
        batch = [examples[int(i)] for i in order[cursor : cursor + config.batch_size]]
        cursor += config.batch_size
        inputs, targets = pad_batch(batch, pad_id)
        mask = targets != IGNORE
        constant = mask.sum().item() / len(inputs)  # sum / (B * this) = token mean
        optimizer.zero_grad(set_to_none=True)
        loss = torch.zeros(())
        for r in micro_batches(len(inputs), config.gradient_accumulation_steps,
                               "SFTConfig"):
            logp = token_logprobs(model(inputs[r]), targets[r])
            step_loss, _ = sft_microbatch_train_step(
                logp, mask[r], config.gradient_accumulation_steps, constant
            )
            loss += step_loss
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {loss.item()} at step {step}")
        lr, norm = apply_update(
            optimizer, model, step, lr=config.lr, total_steps=config.steps,
            warmup_steps=config.warmup_steps, grad_clip=config.grad_clip,
        )
        history.append({
            "step": step, "loss": loss.item(), "lr": lr, "grad_norm": norm,
            "tokens": inputs.numel(), "seconds": time.perf_counter() - start,
        })
    model.eval()
    return history

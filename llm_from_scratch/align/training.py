"""What every alignment stage shares: encoding a dataset, one optimizer step.

The update is the Training chapter's: its AdamW (decay on matrices only), its
warmup-then-cosine schedule and its gradient clipping; only the loss changes
from stage to stage.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from llm_from_scratch.align.chat import ChatExample, ChatTokenizer, Message, encode_chat
from llm_from_scratch.train import AdamW, clip_grad_norm, lr_at, param_groups


@dataclass(frozen=True)
class Encoded:
    """A dataset's examples, plus what did not fit (reported, never hidden)."""

    examples: list[ChatExample]
    truncated: int
    too_long: list[int]  # conversations whose last exchange alone is too long


def encode_dataset(
    tok: ChatTokenizer, conversations: Sequence[Sequence[Message]], max_tokens: int
) -> Encoded:
    """Encode conversations; over-long ones lose old exchanges or, if even the last
    exchange is too long, are left out and listed in ``too_long``."""
    examples, too_long, truncated = [], [], 0
    for i, conv in enumerate(conversations):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                example = encode_chat(tok, conv, max_tokens=max_tokens, truncate=True)
                examples.append(example)
            except ValueError as e:
                if "max_tokens" not in str(e):
                    raise ValueError(f"conversation {i}: {e}") from None
                too_long.append(i)
        truncated += bool(caught)
    if too_long or truncated:
        warnings.warn(
            f"{truncated} conversation(s) truncated to {max_tokens} tokens; "
            f"{len(too_long)} left out as too long even after truncation",
            stacklevel=2,
        )
    return Encoded(examples, truncated, too_long)


def make_optimizer(model: nn.Module, lr: float, weight_decay: float) -> AdamW:
    """The Training chapter's AdamW over the trainable parameters."""
    return AdamW(param_groups(model, weight_decay), lr=lr, betas=(0.9, 0.95))


def optimizer_step(
    optimizer: torch.optim.Optimizer,
    model: nn.Module,
    loss: torch.Tensor,
    step: int,
    *,
    lr: float,
    total_steps: int,
    warmup_steps: int,
    grad_clip: float,
) -> tuple[float, float]:
    """Backward, clip, set the scheduled learning rate, step; return (lr, grad norm)."""
    if not torch.isfinite(loss):
        raise FloatingPointError(f"loss is {loss.item()} at step {step}")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    return apply_update(optimizer, model, step, lr=lr, total_steps=total_steps,
                        warmup_steps=warmup_steps, grad_clip=grad_clip)


def apply_update(
    optimizer: torch.optim.Optimizer,
    model: nn.Module,
    step: int,
    *,
    lr: float,
    total_steps: int,
    warmup_steps: int,
    grad_clip: float,
) -> tuple[float, float]:
    """The update after the gradients are in ``.grad`` (accumulated by
    micro-batch steps, say): clip, set the scheduled rate, step; (lr, norm)."""
    params = [p for p in model.parameters() if p.requires_grad]
    norm = clip_grad_norm(params, grad_clip)
    current = lr_at(step, max_lr=lr, total_steps=total_steps, warmup_steps=warmup_steps)
    for group in optimizer.param_groups:
        group["lr"] = current
    optimizer.step()
    return current, float(norm)


def micro_batches(batch_size: int, accumulation_steps: int, owner: str) -> list[slice]:
    """Rows of each of ``accumulation_steps`` equal micro-batches of a batch."""
    if accumulation_steps < 1 or batch_size % accumulation_steps:
        raise ValueError(
            f"{owner}.gradient_accumulation_steps must be >= 1 and divide the "
            f"batch of {batch_size}, got {accumulation_steps}"
        )
    size = batch_size // accumulation_steps
    return [slice(i, i + size) for i in range(0, batch_size, size)]


def check_positive(config: object, *names: str) -> None:
    """Config validation: each named field must be > 0."""
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            name = f"{type(config).__name__}.{name}"
            raise ValueError(f"{name} must be > 0, got {value!r}")

"""Reinforcement learning from a reward: GRPO, PPO's clipped update without a critic.

One iteration: for a few prompts, sample a *group* of replies each; score them;
a reply's advantage is how much better it scored than its group's mean (in group
standard deviations). The policy then takes clipped policy-gradient steps on
those replies, with a KL penalty that keeps it near the reference model (Shao et
al., 2024). The group mean plays the part of PPO's learned value function, which
saves a second network and its training.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from llm_from_scratch.align.batching import IGNORE, pad_batch
from llm_from_scratch.align.chat import ChatExample
from llm_from_scratch.align.losses import (
    group_advantages,
    kl_estimate,
    masked_mean,
    token_logprobs,
)
from llm_from_scratch.align.pg import (
    LENGTH_NORMALIZATIONS,
    LOSS_TYPES,
    group_normalize,
)
from llm_from_scratch.align.steps import grpo_microbatch_train_step
from llm_from_scratch.align.training import (
    apply_update,
    check_positive,
    make_optimizer,
    micro_batches,
)

# reward_fn(prompt ids, completions) -> one reward per completion
RewardFn = Callable[[Sequence[int], list[list[int]]], Sequence[float]]


@dataclass(frozen=True)
class GRPOConfig:
    """One GRPO run. The last four fields choose among the standard variants
    (``pg.py``): the per-token loss (``loss_type``), how tokens of replies of
    different lengths are weighed (``length_normalization``, with
    ``normalize_constant`` for Dr. GRPO's ``"constant"``), and whether a
    group's advantages are divided by its std. The defaults are the book's
    recipe: PPO's clipped ratio, one token-level mean, std-normalised."""

    iterations: int = 40
    prompts_per_iteration: int = 8
    group_size: int = 8
    max_new_tokens: int = 8
    temperature: float = 1.0
    lr: float = 1e-4
    kl_coef: float = 0.05
    clip: float = 0.2
    epochs: int = 2
    warmup_steps: int = 0
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    seed: int = 0
    loss_type: str = "grpo_clip"
    length_normalization: str = "token"
    normalize_constant: float | None = None
    normalize_by_std: bool = True
    gradient_accumulation_steps: int = 1
    # fields added after cached stages existed: their cache keys omit them at these
    added_later: ClassVar[dict[str, object]] = {
        "loss_type": "grpo_clip", "length_normalization": "token",
        "normalize_constant": None, "normalize_by_std": True,
        "gradient_accumulation_steps": 1,
    }
    # part of every cache key: bumped when grpo_train's arithmetic changes
    # (2: the KL penalty is reduced with the policy loss, per micro-batch step)
    revision: ClassVar[str] = "2"

    def __post_init__(self) -> None:
        check_positive(
            self, "iterations", "prompts_per_iteration", "max_new_tokens",
            "temperature", "lr", "clip", "epochs", "grad_clip",
            "gradient_accumulation_steps",
        )
        if self.group_size < 2:
            raise ValueError(
                "GRPOConfig.group_size must be >= 2 (advantages are relative)"
            )
        if self.kl_coef < 0:
            raise ValueError(f"GRPOConfig.kl_coef must be >= 0, got {self.kl_coef}")
        if self.loss_type not in LOSS_TYPES:
            raise ValueError(
                f"GRPOConfig.loss_type must be one of {LOSS_TYPES}, "
                f"got {self.loss_type!r}"
            )
        if self.length_normalization not in LENGTH_NORMALIZATIONS:
            raise ValueError(
                f"GRPOConfig.length_normalization must be one of "
                f"{LENGTH_NORMALIZATIONS}, got {self.length_normalization!r}"
            )
        constant = self.normalize_constant
        if self.length_normalization == "constant" and not (
            constant is not None and constant > 0
        ):
            raise ValueError(
                "GRPOConfig.normalize_constant must be > 0 with length_normalization "
                f"'constant' (e.g. max_new_tokens), got {constant!r}"
            )


@torch.no_grad()
def sample_groups(
    policy: nn.Module, prompts: Sequence[Sequence[int]], n: int, max_new_tokens: int,
    temperature: float, stop_id: int, generator: torch.Generator,
) -> list[list[list[int]]]:
    """``n`` sampled completions per prompt, each cut after its stop token.

    Prompts of equal length share one batched ``generate`` call (the model has
    no padding mask, so unequal ones cannot).
    """
    by_length: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        by_length.setdefault(len(p), []).append(i)
    groups: list[list[list[int]]] = [[] for _ in prompts]
    for length, members in sorted(by_length.items()):
        idx = torch.tensor([list(prompts[i]) for i in members for _ in range(n)])
        out = policy.generate(
            idx, max_new_tokens, temperature=temperature, stop_tokens=[stop_id],
            generator=generator,
        )[:, length:].tolist()
        for k, i in enumerate(members):
            for row in out[k * n : (k + 1) * n]:
                end = row.index(stop_id) + 1 if stop_id in row else len(row)
                groups[i].append(row[:end])
    return groups


def sample_group(
    policy: nn.Module, prompt: Sequence[int], n: int, max_new_tokens: int,
    temperature: float, stop_id: int, generator: torch.Generator,
) -> list[list[int]]:
    """``n`` sampled completions of one prompt, each cut after its stop token."""
    return sample_groups(
        policy, [prompt], n, max_new_tokens, temperature, stop_id, generator
    )[0]


def rollout_batch(
    prompts: Sequence[Sequence[int]], groups: Sequence[list[list[int]]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets of every prompt + completion; targets only on completions."""
    examples = [
        ChatExample([*p, *c], [0] * len(p) + [1] * len(c))
        for p, group in zip(prompts, groups)
        for c in group
    ]
    return pad_batch(examples, pad_id)


def grpo_train(
    policy: nn.Module,
    ref: nn.Module,
    prompts: Sequence[Sequence[int]],
    reward_fn: RewardFn,
    config: GRPOConfig,
    stop_id: int,
    pad_id: int,
) -> list[dict[str, float]]:
    """Train ``policy`` in place; log reward, KL to the reference, clip rate, length.

    Each epoch over an iteration's rollouts is one update, its gradient
    accumulated by ``grpo_microbatch_train_step`` over
    ``config.gradient_accumulation_steps`` equal micro-batches of the replies;
    any split gives the update of the whole batch (up to rounding).
    """
    if not prompts:
        raise ValueError("grpo_train needs at least one prompt")
    if any(p.requires_grad for p in ref.parameters()):
        raise ValueError("the reference model must be frozen (use frozen_copy)")
    c = config
    generator = torch.Generator().manual_seed(c.seed)
    optimizer = make_optimizer(policy, c.lr, c.weight_decay)
    total = c.iterations * c.epochs
    history = []
    for it in range(c.iterations):
        start = time.perf_counter()
        policy.eval()
        pick = torch.randint(
            len(prompts), (c.prompts_per_iteration,), generator=generator
        )
        batch_prompts = [prompts[int(i)] for i in pick]
        groups = sample_groups(policy, batch_prompts, c.group_size, c.max_new_tokens,
                               c.temperature, stop_id, generator)
        rewards = torch.tensor(
            [list(map(float, reward_fn(p, g))) for p, g in zip(batch_prompts, groups)]
        )
        if c.normalize_by_std:
            advantages = group_advantages(rewards).flatten()
        else:  # Dr. GRPO: only subtract the group's mean
            advantages = group_normalize(rewards.flatten(), c.group_size,
                                         normalize_by_std=False)
        inputs, targets = rollout_batch(batch_prompts, groups, pad_id)
        mask = targets != IGNORE
        sample_seconds = time.perf_counter() - start
        with torch.no_grad():
            old_logp = token_logprobs(policy(inputs), targets)
            ref_logp = token_logprobs(ref(inputs), targets)
        rows = micro_batches(len(inputs), c.gradient_accumulation_steps, "GRPOConfig")
        reduction, constant = c.length_normalization, c.normalize_constant
        if reduction == "token":  # the batch's token mean, split over micro-batches
            reduction, constant = "constant", mask.sum().item() / len(inputs)
        policy.train()
        for epoch in range(c.epochs):
            optimizer.zero_grad(set_to_none=True)
            loss, logp = torch.zeros(()), torch.empty_like(old_logp)
            for r in rows:
                logp_r = token_logprobs(policy(inputs[r]), targets[r])
                step_loss, _ = grpo_microbatch_train_step(
                    logp_r, mask[r], len(rows), c.loss_type,
                    raw_rewards=rewards.flatten()[r, None],
                    advantages=advantages[r, None], old_log_probs=old_logp[r],
                    cliprange=c.clip, length_normalization=reduction,
                    normalize_constant=constant, ref_log_probs=ref_logp[r],
                    kl_coef=c.kl_coef,
                )
                loss, logp[r] = loss + step_loss, logp_r.detach()
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss is {loss.item()} at iteration {it}")
            apply_update(
                optimizer, policy, it * c.epochs + epoch, lr=c.lr, total_steps=total,
                warmup_steps=c.warmup_steps, grad_clip=c.grad_clip,
            )
        ratio = torch.exp(logp - old_logp)  # the last epoch's, as logged
        clip_rate = masked_mean(((ratio - 1).abs() > c.clip).float(), mask,
                                empty="raise")
        kl = masked_mean(kl_estimate(logp, ref_logp), mask, empty="raise")
        history.append({
            "iteration": it, "reward": rewards.mean().item(), "kl": kl.item(),
            "clip_rate": clip_rate.item(), "loss": loss.item(),
            "length": mask.sum(1).float().mean().item(),
            "sample_seconds": sample_seconds, "seconds": time.perf_counter() - start,
        })
    policy.eval()
    return history

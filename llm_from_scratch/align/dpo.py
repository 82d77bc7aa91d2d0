"""Direct Preference Optimization: preference learning without a reward model.

The KL-regularised RL objective has a closed-form optimum,
``pi*(y|x) ∝ pi_ref(y|x) exp(r(x, y) / beta)``. Solving it for ``r`` and putting
that into the Bradley-Terry loss leaves a loss on the policy alone: the reward of
a reply is ``beta * log(pi(y|x) / pi_ref(y|x))``, and the partition function
cancels between the chosen and the rejected reply (Rafailov et al., 2023).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from llm_from_scratch.align.batching import pad_batch
from llm_from_scratch.align.chat import ChatExample, ChatTokenizer
from llm_from_scratch.align.data import PreferencePair
from llm_from_scratch.align.losses import DPOOutput, dpo_loss, sequence_logprob
from llm_from_scratch.align.reward import pair_examples
from llm_from_scratch.align.training import (
    check_positive,
    make_optimizer,
    optimizer_step,
)


@dataclass(frozen=True)
class DPOConfig:
    beta: float = 0.1
    steps: int = 60
    batch_size: int = 16
    lr: float = 2e-4
    warmup_steps: int = 5
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    max_tokens: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        check_positive(
            self, "beta", "steps", "batch_size", "lr", "grad_clip", "max_tokens"
        )
        if not 0 <= self.warmup_steps <= self.steps:
            raise ValueError(f"DPOConfig.warmup_steps must be in [0, {self.steps}]")


def frozen_copy(model: nn.Module) -> nn.Module:
    """The reference policy: a copy that no optimizer step can move."""
    ref = copy.deepcopy(model).eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    return ref


def pair_logprobs(
    model: nn.Module, chosen: Sequence[ChatExample], rejected: Sequence[ChatExample],
    pad_id: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``log pi(reply | prompt)`` of chosen and rejected replies, one forward pass."""
    inputs, targets = pad_batch([*chosen, *rejected], pad_id)
    return sequence_logprob(model(inputs), targets).split(len(chosen))


def dpo_batch(
    policy: nn.Module, ref: nn.Module, chosen: Sequence[ChatExample],
    rejected: Sequence[ChatExample], beta: float, pad_id: int,
) -> DPOOutput:
    """The DPO loss of a batch (the reference is evaluated without gradients)."""
    with torch.no_grad():
        ref_w, ref_l = pair_logprobs(ref, chosen, rejected, pad_id)
    pi_w, pi_l = pair_logprobs(policy, chosen, rejected, pad_id)
    return dpo_loss(pi_w, pi_l, ref_w, ref_l, beta)


def dpo_train(
    policy: nn.Module,
    ref: nn.Module,
    tok: ChatTokenizer,
    pairs: Sequence[PreferencePair],
    config: DPOConfig,
    pad_id: int,
) -> list[dict[str, float]]:
    """Train ``policy`` in place; log loss, implicit rewards, margin and accuracy."""
    if not pairs:
        raise ValueError("dpo_train needs at least one pair")
    if any(p.requires_grad for p in ref.parameters()):
        raise ValueError("the reference model must be frozen (use frozen_copy)")
    encoded = [pair_examples(tok, p, config.max_tokens) for p in pairs]
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = make_optimizer(policy, config.lr, config.weight_decay)
    history = []
    for step in range(config.steps):
        start = time.perf_counter()
        policy.train()
        pick = torch.randint(len(pairs), (config.batch_size,), generator=generator)
        out = dpo_batch(
            policy, ref, [encoded[int(i)][0] for i in pick],
            [encoded[int(i)][1] for i in pick], config.beta, pad_id,
        )
        lr, norm = optimizer_step(
            optimizer, policy, out.loss, step, lr=config.lr, total_steps=config.steps,
            warmup_steps=config.warmup_steps, grad_clip=config.grad_clip,
        )
        history.append({
            "step": step, "loss": out.loss.item(), "accuracy": out.accuracy.item(),
            "margin": out.margin.mean().item(),
            "chosen_reward": out.chosen_reward.mean().item(),
            "rejected_reward": out.rejected_reward.mean().item(),
            "lr": lr, "grad_norm": norm, "seconds": time.perf_counter() - start,
        })
    policy.eval()
    return history

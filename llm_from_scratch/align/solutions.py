"""Solutions to the chapter's exercises (tested in ``tests/test_align_solutions.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F


def ipo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    tau: float,
) -> torch.Tensor:
    """Exercise 1, IPO (Azar et al., 2023): regress the log-ratio margin onto
    ``1 / (2 tau)`` instead of pushing it to infinity as DPO's logistic loss does
    on pairs it already ranks right, so deterministic preferences cannot drive
    the policy arbitrarily far from the reference."""
    if tau <= 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    margin = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)
    return ((margin - 1 / (2 * tau)) ** 2).mean()


def gae_advantages(
    rewards: torch.Tensor, values: torch.Tensor, gamma: float = 1.0, lam: float = 0.95
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exercise 2, PPO's generalised advantage estimation for one response.

    ``rewards`` and ``values`` are per token ``[T]``; the value after the last
    token is 0 (the episode ends). ``delta_t = r_t + gamma V_{t+1} - V_t`` and
    ``A_t = delta_t + gamma lam A_{t+1}``; returns (advantages, value targets).
    """
    if rewards.shape != values.shape or rewards.dim() != 1:
        raise ValueError("rewards and values must both have shape [T]")
    next_values = torch.cat([values[1:], values.new_zeros(1)])
    deltas = rewards + gamma * next_values - values
    advantages = torch.zeros_like(rewards)
    running = rewards.new_zeros(())
    for t in reversed(range(len(rewards))):
        running = deltas[t] + gamma * lam * running
        advantages[t] = running
    return advantages, advantages + values


def best_of_n(
    candidates: Sequence[str], score: Callable[[Sequence[str]], Sequence[float]]
) -> tuple[str, float]:
    """Exercise 3, best-of-n sampling: the simplest use of a reward model (no
    training at all) is to sample n replies and keep the best-scored one."""
    if not candidates:
        raise ValueError("best_of_n needs at least one candidate")
    scores = list(score(candidates))
    best = max(range(len(candidates)), key=scores.__getitem__)
    return candidates[best], float(scores[best])


def simpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    chosen_lengths: torch.Tensor,
    rejected_lengths: torch.Tensor,
    beta: float = 2.0,
    gamma: float = 0.5,
) -> torch.Tensor:
    """Exercise 4, SimPO (Meng et al., 2024): no reference model; the reward is
    the *length-normalised* log-probability, with a target margin ``gamma``."""
    chosen = beta * policy_chosen / chosen_lengths
    rejected = beta * policy_rejected / rejected_lengths
    return -F.logsigmoid(chosen - rejected - gamma).mean()

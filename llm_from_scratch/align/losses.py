"""Every loss of the alignment chapter, as small pure functions on tensors.

Shapes: ``B`` sequences, ``T`` positions, ``V`` vocabulary. Per-token quantities
are ``[B, T]`` and come with a 0/1 (or bool) ``mask`` of the positions that count;
targets use ``IGNORE`` (-100) for positions that do not.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from llm_from_scratch.align.batching import IGNORE


def _check_mask(name: str, x: torch.Tensor, mask: torch.Tensor) -> None:
    if mask.shape != x.shape:
        raise ValueError(
            f"{name}: mask must have the shape of x {tuple(x.shape)}, "
            f"got {tuple(mask.shape)}"
        )


def masked_mean(
    x: torch.Tensor,
    mask: torch.Tensor,
    dim: int | None = None,
    *,
    empty: str = "nan",
) -> torch.Tensor:
    """Mean of ``x`` where ``mask`` is set, over ``dim`` (None: every element).

    ``x`` is float, any shape; ``mask`` is 0/1 or bool, broadcastable to ``x``.
    The result has ``x``'s shape without ``dim`` (a 0-dim tensor for None).
    A slice with no selected position is a 0/0: by default (``empty="nan"``)
    it is NaN, torch's convention for the mean of an empty set (``torch.mean``
    of an empty tensor); ``empty="raise"`` makes it an error instead, which the
    book's training losses use so that an empty batch cannot pass silently.
    """
    # region checks
    if empty not in ("raise", "nan"):
        raise ValueError(f"empty must be 'raise' or 'nan', got {empty!r}")
    # endregion
    mask = mask.to(x.dtype)
    count = mask.sum() if dim is None else mask.sum(dim)
    if empty == "raise" and bool((count == 0).any()):
        raise ValueError("masked_mean over an empty mask (no position is selected)")
    total = (x * mask).sum() if dim is None else (x * mask).sum(dim)
    return total / count


def masked_normalize(
    x: torch.Tensor,
    mask: torch.Tensor,
    normalize_constant: float,
    dim: int | None = None,
) -> torch.Tensor:
    """Sum of ``x`` where ``mask`` is set, over ``dim``, divided by a constant.

    Dr. GRPO (Liu et al., 2025) divides by a fixed number (e.g. the longest
    allowed reply) instead of each reply's length, so a token weighs the same in
    a short reply as in a long one. ``x`` float and ``mask`` 0/1 or bool of the
    same shape; the result drops ``dim`` (0-dim for None). An empty slice gives
    0, a sum over nothing.
    """
    # region checks
    _check_mask("masked_normalize", x, mask)
    if not normalize_constant > 0:
        raise ValueError(
            f"normalize_constant must be > 0, got {normalize_constant}"
        )
    # endregion
    masked = x * mask.to(x.dtype)
    total = masked.sum() if dim is None else masked.sum(dim)
    return total / normalize_constant


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``log p(target_t)`` at every position, ``[B, T]``; 0 where target is IGNORE."""
    valid = targets != IGNORE
    logp = F.log_softmax(logits.float(), dim=-1)
    picked = logp.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return picked * valid


def sequence_logprob(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``log p(response | prompt)``: token log-probs summed over targets, ``[B]``."""
    return token_logprobs(logits, targets).sum(-1)


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the next-token distribution at every position, in nats, ``[B, T]``."""
    logp = F.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def sft_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy averaged over the learned (non-IGNORE) targets only."""
    valid = targets != IGNORE
    # region checks
    if not bool(valid.any()):
        raise ValueError("sft_loss: every target is IGNORE (nothing to learn)")
    # endregion
    return -token_logprobs(logits, targets).sum() / valid.sum()


def bradley_terry_loss(
    chosen: torch.Tensor, rejected: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reward-model loss ``-log sigmoid(r_w - r_l)`` and the pair accuracy.

    Bradley-Terry models ``P(w preferred to l) = sigmoid(r_w - r_l)``; the loss is
    its negative log-likelihood. ``logsigmoid`` stays finite for any margin.
    """
    margin = chosen - rejected
    return -F.logsigmoid(margin).mean(), (margin > 0).float().mean()


@dataclass(frozen=True)
class DPOOutput:
    """DPO loss with the implicit rewards ``beta * log(pi / pi_ref)`` it implies."""

    loss: torch.Tensor
    chosen_reward: torch.Tensor
    rejected_reward: torch.Tensor

    @property
    def margin(self) -> torch.Tensor:
        return self.chosen_reward - self.rejected_reward

    @property
    def accuracy(self) -> torch.Tensor:
        return (self.margin > 0).float().mean()


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    ref_chosen: torch.Tensor,
    ref_rejected: torch.Tensor,
    beta: float,
) -> DPOOutput:
    """Direct Preference Optimization on sequence log-probs, ``[B]`` each.

    ``-log sigmoid(beta * ((pi_w - ref_w) - (pi_l - ref_l)))``: a Bradley-Terry loss
    whose reward is the policy's log-ratio to the frozen reference.
    """
    # region checks
    if beta <= 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    # endregion
    chosen = beta * (policy_chosen - ref_chosen)
    rejected = beta * (policy_rejected - ref_rejected)
    loss = -F.logsigmoid(chosen - rejected).mean()
    return DPOOutput(loss, chosen.detach(), rejected.detach())


def kl_estimate(
    logp: torch.Tensor, ref_logp: torch.Tensor, kind: str = "k3"
) -> torch.Tensor:
    """Per-token estimate of ``KL(pi || pi_ref)`` from tokens sampled from ``pi``.

    With ``log r = ref_logp - logp``: k1 = ``-log r`` (unbiased, can be negative),
    k2 = ``(log r)^2 / 2`` (low variance, biased), k3 = ``r - 1 - log r`` (unbiased
    and always >= 0; the estimator GRPO uses).
    """
    log_ratio = ref_logp - logp
    if kind == "k1":
        return -log_ratio
    if kind == "k2":
        return 0.5 * log_ratio**2
    if kind == "k3":
        return torch.expm1(log_ratio) - log_ratio
    raise ValueError(f"kind must be 'k1', 'k2' or 'k3', got {kind!r}")


def group_advantages(rewards: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """GRPO advantages: each reward minus its group's mean, over the group's std.

    ``rewards`` is ``[groups, samples]`` (several completions of one prompt per
    row). The group mean replaces PPO's learned value baseline; a group whose
    samples all score the same gets advantage 0 and so teaches nothing.
    """
    # region checks
    if rewards.dim() != 2 or rewards.shape[1] < 2:
        raise ValueError(
            f"rewards must be [groups, samples>=2], got {tuple(rewards.shape)}"
        )
    # endregion
    mean = rewards.mean(1, keepdim=True)
    std = rewards.std(1, keepdim=True)
    return (rewards - mean) / (std + eps)

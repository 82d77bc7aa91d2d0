"""Policy-gradient losses as a toolkit: rewards in, one scalar to backprop out.

Three steps, each a small function with a fixed contract:

1. **Advantages** (``compute_group_normalized_rewards``): score every rollout,
   subtract its group's mean reward, optionally divide by the group's std.
2. **Per-token loss** (``compute_policy_gradient_loss``): ``no_baseline``
   ``-R log pi``, ``reinforce_with_baseline`` ``-A log pi``, or ``grpo_clip``,
   PPO's clipped ratio. All return the *unreduced* ``(B, T)`` loss.
3. **Reduction** (``aggregate_token_loss``): how tokens of replies of different
   lengths are weighed into one number, the choice GRPO and Dr. GRPO differ on.

Shapes: ``B`` rollouts, ``T`` response positions. Log-probs are float ``(B, T)``;
rewards and advantages are ``(B, 1)`` (one per rollout, broadcast over ``T``)
or ``(B, T)``; masks are bool or 0/1 ``(B, T)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from llm_from_scratch.align.losses import masked_mean, masked_normalize

LOSS_TYPES = ("no_baseline", "reinforce_with_baseline", "grpo_clip")
LENGTH_NORMALIZATIONS = ("sequence", "token", "constant")

# reward_fn(response, ground_truth) -> {"reward": float, ...any other scores}
TextRewardFn = Callable[[str, str], dict[str, float]]


def group_normalize(
    rewards: torch.Tensor, group_size: int, eps: float = 1e-6,
    normalize_by_std: bool = True,
) -> torch.Tensor:
    """Advantages of a flat ``(B,)`` reward vector laid out group by group.

    Rollouts ``k * group_size .. (k + 1) * group_size - 1`` answer prompt ``k``.
    Returns float32 ``(B,)``: ``r - mean(group)``, divided by ``std(group) + eps``
    (unbiased std, as ``torch.std``) when ``normalize_by_std``. Dr. GRPO drops
    the division: it up-weights groups that are nearly all right or all wrong.
    """
    # region checks
    if rewards.dim() != 1:
        raise ValueError(f"rewards must be 1-D (B,), got {tuple(rewards.shape)}")
    if group_size < 1 or rewards.numel() % group_size:
        raise ValueError(
            f"group_size must be >= 1 and divide the {rewards.numel()} rewards, "
            f"got {group_size}"
        )
    # endregion
    grouped = rewards.float().view(-1, group_size)  # (prompts, group_size)
    centred = grouped - grouped.mean(1, keepdim=True)
    if normalize_by_std:
        centred = centred / (grouped.std(1, keepdim=True) + eps)
    return centred.flatten()


def compute_group_normalized_rewards(
    reward_fn: TextRewardFn,
    rollout_responses: Sequence[str],
    repeated_ground_truths: Sequence[str],
    group_size: int,
    advantage_eps: float,
    normalize_by_std: bool,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
    """Score each response with ``reward_fn(response, truth)["reward"]``, then
    normalise within groups (``group_normalize``).

    Returns ``(advantages, raw_rewards, metadata)``: two float32 ``(B,)``
    tensors, and the raw rewards' ``mean``, ``std``, ``max`` and ``min``.
    """
    # region checks
    if len(rollout_responses) != len(repeated_ground_truths):
        raise ValueError(
            f"rollout_responses ({len(rollout_responses)}) and "
            f"repeated_ground_truths ({len(repeated_ground_truths)}) must pair up"
        )
    if not rollout_responses:
        raise ValueError("compute_group_normalized_rewards needs rollouts")
    # endregion
    raw = torch.tensor(
        [float(reward_fn(r, g)["reward"])
         for r, g in zip(rollout_responses, repeated_ground_truths)]
    )
    advantages = group_normalize(raw, group_size, advantage_eps, normalize_by_std)
    metadata = {
        "mean": raw.mean().item(),
        "std": raw.std().item() if raw.numel() > 1 else 0.0,
        "max": raw.max().item(),
        "min": raw.min().item(),
    }
    return advantages, raw, metadata


def _check_per_rollout(name: str, value: torch.Tensor, like: torch.Tensor) -> None:
    """``value`` must be ``(B, 1)`` or ``(B, T)`` against log-probs ``(B, T)``."""
    B, T = like.shape
    if value.shape not in ((B, 1), (B, T)):
        raise ValueError(
            f"{name} must have shape ({B}, 1) or ({B}, {T}) to match "
            f"policy_log_probs {tuple(like.shape)}, got {tuple(value.shape)}"
        )


def compute_naive_policy_gradient_loss(
    raw_rewards_or_advantages: torch.Tensor, policy_log_probs: torch.Tensor
) -> torch.Tensor:
    """REINFORCE per token: ``-A * log pi``, ``(B, T)``; ``A`` is ``(B, 1)`` or
    ``(B, T)`` and is a constant (no gradient flows into it)."""
    _check_per_rollout("raw_rewards_or_advantages", raw_rewards_or_advantages,
                       policy_log_probs)
    return -raw_rewards_or_advantages.detach() * policy_log_probs


def compute_grpo_clip_loss(
    advantages: torch.Tensor,
    policy_log_probs: torch.Tensor,
    old_log_probs: torch.Tensor,
    cliprange: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """PPO's clipped objective per token, ``(B, T)``, unreduced.

    ``-min(r A, clip(r, 1 - c, 1 + c) A)`` with ``r = exp(log pi - log pi_old)``.
    Any ``cliprange`` c > 0 works; from c >= 1 the lower bound ``1 - c`` is <= 0
    and never binds, so only ratio increases are capped. Metadata: ``ratio``
    ``(B, T)``; ``clipped`` ``(B, T)`` bool, True where the clipped term is the
    smaller one (there the gradient is zero); ``clip_fraction``, its mean over
    all ``B * T`` positions (``grpo_microbatch_train_step`` reports it over
    the response mask).
    """
    # region checks
    if not cliprange > 0:
        raise ValueError(f"cliprange must be > 0, got {cliprange}")
    if old_log_probs.shape != policy_log_probs.shape:
        raise ValueError(
            f"old_log_probs must have the shape of policy_log_probs "
            f"{tuple(policy_log_probs.shape)}, got {tuple(old_log_probs.shape)}"
        )
    _check_per_rollout("advantages", advantages, policy_log_probs)
    # endregion
    advantages = advantages.detach()
    ratio = torch.exp(policy_log_probs - old_log_probs)
    unclipped = ratio * advantages
    clipped = ratio.clamp(1 - cliprange, 1 + cliprange) * advantages
    loss = -torch.minimum(unclipped, clipped)
    was_clipped = (clipped < unclipped).detach()
    return loss, {
        "ratio": ratio.detach(),
        "clipped": was_clipped,
        "clip_fraction": was_clipped.float().mean(),
    }


def clipped_surrogate(
    logp: torch.Tensor,
    old_logp: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip: float = 0.2,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The GRPO stage's policy loss: ``compute_grpo_clip_loss`` reduced by one
    token-level mean over ``mask`` (``aggregate_token_loss(..., "token")``); and
    the clip rate, the share of masked tokens whose ratio left
    ``[1 - clip, 1 + clip]``. ``advantages`` is per rollout ``(B,)`` (broadcast
    over tokens) or per token ``(B, T)``; any ``clip`` > 0.
    """
    if advantages.dim() == 1:
        advantages = advantages[:, None]
    per_token, meta = compute_grpo_clip_loss(advantages, logp, old_logp, clip)
    loss = aggregate_token_loss(per_token, mask, "token")
    outside = ((meta["ratio"] - 1).abs() > clip).float()
    return loss, masked_mean(outside, mask, empty="raise")


def compute_policy_gradient_loss(
    policy_log_probs: torch.Tensor,
    loss_type: str,
    raw_rewards: torch.Tensor | None = None,
    advantages: torch.Tensor | None = None,
    old_log_probs: torch.Tensor | None = None,
    cliprange: float | None = None,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """The per-token loss ``(B, T)`` named by ``loss_type``, and its metadata.

    ``no_baseline`` needs ``raw_rewards``; ``reinforce_with_baseline`` needs
    ``advantages``; ``grpo_clip`` needs ``advantages``, ``old_log_probs`` and
    ``cliprange``.
    """
    # region checks
    if loss_type not in LOSS_TYPES:
        raise ValueError(f"loss_type must be one of {LOSS_TYPES}, got {loss_type!r}")
    if policy_log_probs.dim() != 2:
        raise ValueError(
            f"policy_log_probs must be (B, T), got {tuple(policy_log_probs.shape)}"
        )
    needs = {
        "no_baseline": {"raw_rewards": raw_rewards},
        "reinforce_with_baseline": {"advantages": advantages},
        "grpo_clip": {"advantages": advantages, "old_log_probs": old_log_probs,
                      "cliprange": cliprange},
    }[loss_type]
    missing = [k for k, v in needs.items() if v is None]
    if missing:
        raise ValueError(f"loss_type {loss_type!r} needs {', '.join(missing)}")
    # endregion
    if loss_type == "no_baseline":
        assert raw_rewards is not None
        return compute_naive_policy_gradient_loss(raw_rewards, policy_log_probs), {}
    assert advantages is not None
    if loss_type == "reinforce_with_baseline":
        return compute_naive_policy_gradient_loss(advantages, policy_log_probs), {}
    assert old_log_probs is not None and cliprange is not None
    return compute_grpo_clip_loss(
        advantages, policy_log_probs, old_log_probs, cliprange
    )


def aggregate_token_loss(
    loss: torch.Tensor,
    mask: torch.Tensor,
    length_normalization: str = "sequence",
    normalize_constant: float | None = None,
) -> torch.Tensor:
    """Reduce a per-token loss ``(B, T)`` over the ``mask`` to one 0-dim tensor.

    * ``"sequence"`` (GRPO paper): each reply's masked mean, then the mean over
      the B replies; a reply's tokens share weight 1/B, so a long reply's tokens
      count less each.
    * ``"token"``: one masked mean over every response token of the batch
      (DAPO's token-level loss); every token weighs the same.
    * ``"constant"`` (Dr. GRPO): each reply's masked *sum* divided by
      ``normalize_constant`` (e.g. the longest reply allowed), then the mean
      over the B replies: no length bias, and the weights do not depend on the
      batch's other replies.

    ``"sequence"`` and ``"constant"`` split over equal micro-batches exactly
    (the mean of the micro-batch losses is the batch loss); ``"token"`` only
    when each micro-batch holds the same number of response tokens. A reply
    (``"sequence"``) or batch (``"token"``) with no response token is an error:
    its mean is a 0/0 that would make the whole loss NaN.
    """
    # region checks
    if length_normalization not in LENGTH_NORMALIZATIONS:
        raise ValueError(
            f"length_normalization must be one of {LENGTH_NORMALIZATIONS}, "
            f"got {length_normalization!r}"
        )
    if loss.dim() != 2 or mask.shape != loss.shape:
        raise ValueError(
            f"loss must be (B, T) and mask the same shape, got loss "
            f"{tuple(loss.shape)} and mask {tuple(mask.shape)}"
        )
    counts = mask.sum(-1)
    if length_normalization == "sequence" and bool((counts == 0).any()):
        empty = (counts == 0).nonzero().flatten().tolist()
        raise ValueError(f"rows {empty[:5]} have no response token to average")
    if length_normalization == "token" and not bool(counts.any()):
        raise ValueError("the mask selects no response token")
    if length_normalization == "constant" and normalize_constant is None:
        raise ValueError("length_normalization 'constant' needs normalize_constant")
    # endregion
    if length_normalization == "sequence":
        return masked_mean(loss, mask, dim=-1).mean()
    if length_normalization == "token":
        return masked_mean(loss, mask)
    assert normalize_constant is not None
    return masked_normalize(loss, mask, normalize_constant, dim=-1).mean()

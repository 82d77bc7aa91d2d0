"""The learning-rate schedule: linear warmup, cosine decay, then a floor.

Early in training Adam's second-moment estimates are noisy and the weights are
random, so a full-size step can blow the loss up; a short linear warmup (1-2%
of the steps) avoids that. A cosine decay then anneals towards ``min_lr`` (10%
of the peak by default), which lowers the loss noise floor at the end of the
run. The schedule is a pure function of the step, so a resumed run needs to
save nothing but the step number.
"""

from __future__ import annotations

import math


def lr_at(
    step: int,
    *,
    max_lr: float,
    total_steps: int,
    warmup_steps: int,
    min_lr_ratio: float = 0.1,
) -> float:
    """Learning rate for optimizer step ``step`` (0-based).

    * ``step < warmup_steps``: ``max_lr * (step + 1) / warmup_steps``, reaching
      the peak on the last warmup step (never 0, which would waste a step);
    * then cosine from ``max_lr`` down to ``min_lr_ratio * max_lr`` at
      ``total_steps``;
    * ``step >= total_steps``: stays at the floor.
    """
    # region checks
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if not max_lr > 0:
        raise ValueError(f"max_lr must be > 0, got {max_lr}")
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if not 0 <= warmup_steps <= total_steps:
        raise ValueError(
            f"warmup_steps must be in [0, {total_steps}], got {warmup_steps}"
        )
    if not 0.0 <= min_lr_ratio <= 1.0:
        raise ValueError(f"min_lr_ratio must be in [0, 1], got {min_lr_ratio}")
    # endregion
    min_lr = min_lr_ratio * max_lr
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return min_lr + (max_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))

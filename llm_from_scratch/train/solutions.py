"""Solutions to the Training chapter's exercises (tests/test_train_solutions.py).

1. ``AdamL2``: Adam with *coupled* L2 regularisation (decay added to the
   gradient), to see why AdamW decouples it.
2. ``wsd_lr_at``: the warmup-stable-decay schedule, which needs no total step
   count in advance for most of the run.
3. ``unigram_bits_per_byte``: the bits per byte of the best context-free model,
   the baseline a trained model must beat.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch


class AdamL2(torch.optim.Optimizer):
    """Adam with L2 regularisation folded into the gradient: ``g <- g + wd * p``.

    The decay term is then divided by ``sqrt(v)`` like the rest of the
    gradient, so weights with large gradients are barely regularised. Same
    update as ``torch.optim.Adam(weight_decay=wd)``.
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps,
                                      weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> None:
        for group in self.param_groups:
            lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["m"] = torch.zeros_like(p)
                    state["v"] = torch.zeros_like(p)
                state["step"] += 1
                t = state["step"]
                g = p.grad + wd * p  # the coupling: decay goes through Adam
                state["m"].lerp_(g, 1 - beta1)
                state["v"].mul_(beta2).addcmul_(g, g, value=1 - beta2)
                denom = (state["v"].sqrt() / math.sqrt(1 - beta2**t)).add_(eps)
                p.addcdiv_(state["m"], denom, value=-lr / (1 - beta1**t))


def wsd_lr_at(step: int, *, max_lr: float, total_steps: int, warmup_steps: int,
              decay_frac: float = 0.2, min_lr_ratio: float = 0.0) -> float:
    """Warmup-stable-decay: linear warmup, a long constant plateau, then a
    linear decay over the last ``decay_frac`` of the steps.

    A run can branch off the plateau at any point and decay there, so one long
    run yields checkpoints for many training lengths.
    """
    if not 0 <= warmup_steps <= total_steps or not 0 < decay_frac <= 1:
        raise ValueError(
            "need 0 <= warmup_steps <= total_steps and 0 < decay_frac <= 1"
        )
    min_lr = min_lr_ratio * max_lr
    decay_start = total_steps - round(decay_frac * total_steps)
    if step < warmup_steps:
        return max_lr * (step + 1) / warmup_steps
    if step < decay_start:
        return max_lr
    if step >= total_steps:
        return min_lr
    progress = (step - decay_start) / max(1, total_steps - decay_start)
    return max_lr - (max_lr - min_lr) * progress


def unigram_bits_per_byte(train_ids: np.ndarray, val_ids: np.ndarray,
                          vocab_size: int, bytes_per_token: float) -> float:
    """Cross-entropy of val tokens under train's token frequencies, in bits/byte.

    Add-one (Laplace) smoothing gives unseen tokens a small probability instead
    of an infinite loss.
    """
    counts = np.bincount(np.asarray(train_ids), minlength=vocab_size) + 1.0
    log_p = np.log(counts / counts.sum())
    nats_per_token = -log_p[np.asarray(val_ids)].mean()
    return float(nats_per_token / math.log(2) / bytes_per_token)

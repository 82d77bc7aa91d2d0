"""Solutions to the Evaluation chapter's exercises."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
from torch import nn

from llm_from_scratch.eval.loglik import EncodesText, loglikelihood
from llm_from_scratch.eval.tasks import Item


def pass_at_k_by_sampling(
    n: int, c: int, k: int, draws: int = 10_000, seed: int = 0
) -> float:
    """Exercise 1 (★): pass@k by simulation: draw k of the n samples without
    replacement, ``draws`` times, and count the draws holding a correct one."""
    if not 1 <= k <= n or not 0 <= c <= n:
        raise ValueError(f"need 1 <= k <= n and 0 <= c <= n, got n={n} c={c} k={k}")
    rng = np.random.default_rng(seed)
    correct = np.arange(n) < c
    picks = np.argsort(rng.random((draws, n)), axis=1)[:, :k]
    return float(correct[picks].any(axis=1).mean())


def items_needed(
    delta: float, p: float = 0.5, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Exercise 2 (★): the smallest benchmark on which two independent models
    ``delta`` apart in accuracy (near ``p``) are told apart at ``alpha`` with
    ``power``: n = 2 p (1 - p) (z_{1-alpha/2} + z_power)^2 / delta^2."""
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), got {delta}")
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    return math.ceil(2 * p * (1 - p) * z * z / (delta * delta))


def mutual_info_pick(
    model: nn.Module, tok: EncodesText, item: Item, prefix: str = "Answer:"
) -> int:
    """Exercise 3 (★★): lm-evaluation-harness's ``acc_mutual_info``: pick the
    option maximising log p(y | x) - log p(y | prefix), which discounts options
    that are likely whatever the question (frequent words, short phrases)."""
    conts = [item.delimiter + c for c in item.choices]
    cond = loglikelihood(model, tok, [(item.context, y) for y in conts])
    base = loglikelihood(model, tok, [(prefix, y) for y in conts])
    return int(np.argmax([a.logprob - b.logprob for a, b in zip(cond, base)]))

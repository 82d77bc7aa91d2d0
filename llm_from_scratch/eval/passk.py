r"""pass@k: the chance that at least one of k sampled answers is correct.

Drawing exactly k samples per problem and checking whether any is right gives a
high-variance estimate. Chen et al. {cite}`chen2021codex` instead draw n >= k
samples, count the c correct ones, and average over problems the probability
that a random k-subset of the n contains a correct one:

$$\text{pass@}k = 1 - \frac{\binom{n-c}{k}}{\binom{n}{k}}
= 1 - \prod_{i=n-c+1}^{n} \left(1 - \frac{k}{i}\right).$$

The product form never builds the huge binomial coefficients. The estimator is
unbiased: its expectation over the n samples is exactly $1 - (1 - p)^k$ for a
problem the model solves with probability p per sample.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _check(n: int, c: int, k: int) -> None:
    for name, v in (("n", n), ("c", c), ("k", k)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"{name} must be an int, got {v!r}")
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if not 0 <= c <= n:
        raise ValueError(f"c must be in [0, n={n}], got {c}")
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, n={n}], got {k}")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k of one problem with ``c`` correct out of ``n`` samples."""
    _check(n, c, k)
    if n - c < k:
        return 1.0  # every k-subset holds a correct sample
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def mean_pass_at_k(
    n: int | Sequence[int], correct: Sequence[int], k: int
) -> tuple[float, float]:
    """pass@k averaged over problems, and its standard error over problems.

    ``n`` is the samples per problem (one int, or one per problem), ``correct``
    the number of correct ones per problem.
    """
    counts = list(correct)
    if not counts:
        raise ValueError("correct must hold at least one problem")
    ns = [n] * len(counts) if isinstance(n, (int, np.integer)) else list(n)
    if len(ns) != len(counts):
        raise ValueError(f"{len(ns)} sample counts for {len(counts)} problems")
    values = np.array([pass_at_k(int(m), int(c), k) for m, c in zip(ns, counts)])
    se = float(values.std(ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0
    return float(values.mean()), se

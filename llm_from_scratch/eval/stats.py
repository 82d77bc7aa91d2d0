r"""Error bars: how far a benchmark score could move on another draw of items.

A benchmark is a sample of items from the population of questions it stands
for, so its score is an estimate. Four tools:

* the **standard error** of a mean of per-item scores, $s/\sqrt{n}$ with the
  sample standard deviation $s$ (what lm-evaluation-harness reports as
  ``stderr``); for an accuracy $p$ it is about $\sqrt{p(1-p)/n}$;
* a **percentile bootstrap** interval {cite}`efron1994bootstrap` for statistics
  without a simple formula, such as bits per byte (a ratio of two sums);
* the **paired bootstrap** for the difference of two models scored on the same
  items: resampling items keeps each item's pair together, so the item-to-item
  variation both models share cancels;
* the **minimum detectable difference** of a benchmark of n items: the smallest
  true gap a two-sided test at level alpha finds with the given power.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np


@dataclass(frozen=True)
class Interval:
    """A point estimate and a confidence interval [low, high]."""

    estimate: float
    low: float
    high: float
    level: float = 0.95

    def __str__(self) -> str:
        return f"{self.estimate:.3f} [{self.low:.3f}, {self.high:.3f}]"


def _array(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or len(x) == 0:
        raise ValueError(f"{name} must be a non-empty 1-d sequence, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return x


def standard_error(scores: Sequence[float] | np.ndarray) -> float:
    """Standard error of the mean of per-item scores (sample std / sqrt n)."""
    x = _array(scores, "scores")
    return float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else 0.0


def bootstrap_ci(
    statistic: Callable[..., float],
    *arrays: Sequence[float] | np.ndarray,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap interval of ``statistic(*arrays)``.

    The arrays are per-item values of equal length n; each of ``n_boot``
    resamples draws n item indices with replacement (the same for every array,
    so paired values stay paired). ``statistic`` takes the resampled arrays,
    each (n_boot, n), and returns (n_boot,) values: vectorised, so the
    bootstrap is one numpy expression, not a Python loop.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if n_boot < 100:
        raise ValueError(f"n_boot must be >= 100, got {n_boot}")
    xs = [_array(a, f"array {i}") for i, a in enumerate(arrays)]
    if not xs or len({len(x) for x in xs}) != 1:
        raise ValueError("bootstrap_ci needs arrays of one common length")
    n = len(xs[0])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    values = np.asarray(statistic(*(x[idx] for x in xs)), dtype=float)
    estimate = float(statistic(*(x[None] for x in xs))[0])
    tail = (1 - level) / 2
    low, high = np.quantile(values, [tail, 1 - tail])
    return Interval(estimate, float(low), float(high), level)


def mean_ci(scores: Sequence[float] | np.ndarray, **kwargs: float) -> Interval:
    """Bootstrap interval of a mean (per-item scores)."""
    return bootstrap_ci(lambda x: x.mean(axis=-1), scores, **kwargs)


def bits_per_byte_ci(
    nats: Sequence[float] | np.ndarray, n_bytes: Sequence[float] | np.ndarray,
    **kwargs: float,
) -> Interval:
    """Bits per byte over documents, sum(nats) / (ln 2 * sum(bytes)), with a
    bootstrap interval over documents (``nats``: each document's negative
    log-likelihood; ``n_bytes``: its UTF-8 length)."""
    return bootstrap_ci(
        lambda a, b: a.sum(axis=-1) / (np.log(2) * b.sum(axis=-1)),
        nats, n_bytes, **kwargs,
    )


def paired_bootstrap(
    a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray,
    **kwargs: float,
) -> tuple[Interval, float]:
    """Interval of mean(a) - mean(b) over the same items, and the share of
    resamples in which the difference has the other sign than the estimate (a
    one-sided bootstrap p-value; 0 means no resample reversed the order)."""
    x, y = _array(a, "a"), _array(b, "b")
    if len(x) != len(y):
        raise ValueError(f"paired scores need equal lengths, got {len(x)} and "
                         f"{len(y)}")
    d = x - y
    interval = mean_ci(d, **kwargs)
    n_boot = int(kwargs.get("n_boot", 2000))
    rng = np.random.default_rng(int(kwargs.get("seed", 0)))
    means = d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(axis=1)
    sign = np.sign(interval.estimate) or 1.0
    return interval, float(np.mean(means * sign <= 0))


def minimum_detectable_difference(
    n: int, p: float = 0.5, alpha: float = 0.05, power: float = 0.8,
    paired_discordance: float | None = None,
) -> float:
    r"""Smallest true accuracy gap a two-sided z-test at ``alpha`` detects with
    probability ``power`` on ``n`` items.

    Two models scored on independent items near accuracy ``p``:
    $(z_{1-\alpha/2} + z_{\text{power}})\sqrt{2p(1-p)/n}$. On the *same* items
    (a paired test), the variance is that of the per-item difference; with the
    share ``paired_discordance`` of items the two models disagree on, it is at
    most $\sqrt{d/n}$ in place of $\sqrt{2p(1-p)/n}$.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    for name, v in (("p", p), ("alpha", alpha), ("power", power)):
        if not 0 < v < 1:
            raise ValueError(f"{name} must be in (0, 1), got {v}")
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    if paired_discordance is None:
        return float(z * np.sqrt(2 * p * (1 - p) / n))
    if not 0 < paired_discordance <= 1:
        raise ValueError("paired_discordance must be in (0, 1]")
    return float(z * np.sqrt(paired_discordance / n))

"""pass@k against exact enumeration; error bars against known distributions."""

import itertools
import math

import numpy as np
import pytest

from llm_from_scratch.eval import (
    bits_per_byte_ci,
    bootstrap_ci,
    mean_ci,
    mean_pass_at_k,
    minimum_detectable_difference,
    paired_bootstrap,
    pass_at_k,
    standard_error,
)


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_pass_at_k_is_the_share_of_k_subsets_with_a_correct_sample(n):
    for c in range(n + 1):
        samples = [1] * c + [0] * (n - c)
        for k in range(1, n + 1):
            subsets = list(itertools.combinations(samples, k))
            exact = sum(any(s) for s in subsets) / len(subsets)
            assert pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-12)


@pytest.mark.parametrize("p, n, k", [(0.1, 10, 1), (0.1, 10, 5), (0.3, 20, 10),
                                     (0.05, 200, 100)])
def test_pass_at_k_is_unbiased(p, n, k):
    """E over c ~ Binomial(n, p) equals 1 - (1 - p)^k, the chance that k fresh
    samples hold a correct one (exact sum over c, so no sampling noise)."""
    expected = sum(math.comb(n, c) * p**c * (1 - p) ** (n - c) * pass_at_k(n, c, k)
                   for c in range(n + 1))
    assert expected == pytest.approx(1 - (1 - p) ** k, rel=1e-9)


def test_pass_at_k_matches_brute_force_sampling():
    """Drawing k of the n samples at random and checking any: same mean."""
    rng = np.random.default_rng(0)
    n, k, c = 10, 3, 2
    samples = np.array([1] * c + [0] * (n - c))
    draws = [samples[rng.choice(n, k, replace=False)].any() for _ in range(20000)]
    assert np.mean(draws) == pytest.approx(pass_at_k(n, c, k), abs=0.01)


def test_pass_at_k_stable_and_validated():
    assert pass_at_k(1000, 1, 1) == pytest.approx(0.001)
    assert 0 < pass_at_k(10_000, 3, 2) < 1
    assert pass_at_k(5, 5, 1) == 1.0 and pass_at_k(5, 0, 5) == 0.0
    for bad in [(0, 0, 1), (3, 4, 1), (3, 1, 0), (3, 1, 4)]:
        with pytest.raises(ValueError):
            pass_at_k(*bad)
    with pytest.raises(TypeError):
        pass_at_k(3.0, 1, 1)
    mean, se = mean_pass_at_k(4, [0, 4], 1)
    assert mean == 0.5 and se == pytest.approx(0.5)


def test_standard_error_equals_binomial_formula():
    x = np.array([1.0] * 30 + [0.0] * 70)
    assert standard_error(x) == pytest.approx(math.sqrt(0.3 * 0.7 / 99))
    with pytest.raises(ValueError, match="non-empty"):
        standard_error([])
    with pytest.raises(ValueError, match="NaN"):
        standard_error([1.0, float("nan")])


def test_bootstrap_ci_of_a_normal_mean_covers_and_has_the_analytic_width():
    """95% percentile intervals of a normal mean: coverage near 0.95 over many
    data sets, and width near 2 * 1.96 * sigma / sqrt(n)."""
    rng = np.random.default_rng(1)
    n, sigma, reps = 100, 2.0, 300
    hits, widths = 0, []
    for r in range(reps):
        x = rng.normal(5.0, sigma, n)
        ci = mean_ci(x, n_boot=1000, seed=r)
        hits += ci.low <= 5.0 <= ci.high
        widths.append(ci.high - ci.low)
    assert abs(hits / reps - 0.95) < 0.04  # 3.2 binomial standard errors
    assert np.mean(widths) == pytest.approx(2 * 1.96 * sigma / math.sqrt(n), rel=0.05)


def test_bits_per_byte_ci():
    nats = np.full(50, math.log(2) * 100.0)
    ci = bits_per_byte_ci(nats, np.full(50, 50.0))
    assert ci.estimate == pytest.approx(2.0) and ci.low == pytest.approx(2.0)
    rng = np.random.default_rng(0)
    b = rng.integers(50, 500, 200).astype(float)
    n = b * rng.normal(1.5, 0.3, 200) * math.log(2)
    ci = bits_per_byte_ci(n, b)
    assert ci.low < ci.estimate < ci.high
    assert ci.estimate == pytest.approx(n.sum() / b.sum() / math.log(2))


def test_paired_bootstrap_is_tighter_than_unpaired():
    rng = np.random.default_rng(0)
    difficulty = rng.uniform(0, 1, 400)
    a = (rng.uniform(0, 1, 400) < difficulty).astype(float)
    b = np.where(rng.uniform(0, 1, 400) < 0.1, 1 - a, a)  # b flips 10% of a
    paired, p = paired_bootstrap(a, b, n_boot=2000)
    se_unpaired = math.sqrt(standard_error(a) ** 2 + standard_error(b) ** 2)
    assert (paired.high - paired.low) / 2 < 0.6 * 1.96 * se_unpaired
    assert paired.estimate == pytest.approx(a.mean() - b.mean())
    _, p_same = paired_bootstrap(a, a.copy())
    assert p_same == 1.0
    with pytest.raises(ValueError, match="equal lengths"):
        paired_bootstrap(a, b[:-1])


def test_bootstrap_validation():
    with pytest.raises(ValueError, match="common length"):
        bootstrap_ci(lambda x, y: x.mean(-1), [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="level"):
        mean_ci([1.0, 2.0], level=1.5)


def test_minimum_detectable_difference():
    # the textbook value: 2.80 * sqrt(2 * 0.25 / n)
    assert minimum_detectable_difference(1000) == pytest.approx(
        2.8016 * math.sqrt(0.5 / 1000), rel=1e-3)
    assert minimum_detectable_difference(400) == pytest.approx(
        minimum_detectable_difference(100) / 2)
    assert minimum_detectable_difference(100, paired_discordance=0.1) < \
        minimum_detectable_difference(100)
    with pytest.raises(ValueError, match="alpha"):
        minimum_detectable_difference(100, alpha=0)

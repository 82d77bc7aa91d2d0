"""Scaling-law fits recover the parameters that generated synthetic sweeps."""

from __future__ import annotations

import numpy as np
import pytest

from llm_from_scratch.train.scaling import (
    LossFit,
    Run,
    bootstrap,
    fit_isoflop,
    fit_loss_surface,
    fit_power_law,
    parabola_vertex,
)

TRUE = LossFit(E=1.7, A=400.0, B=1000.0, alpha=0.34, beta=0.28, huber=0.0)


def sweep(law: LossFit, budgets=(1e15, 1e16, 1e17, 1e18), sizes=7,
          noise: float = 0.0, seed: int = 0) -> list[Run]:
    """An IsoFLOP sweep around each budget's optimum, D = C / (6 N)."""
    rng = np.random.default_rng(seed)
    runs = []
    for c in budgets:
        n_opt = float(law.optimal_params(c))
        for n in n_opt * np.logspace(-1, 1, sizes):
            d = c / (6 * n)
            loss = float(law(n, d)) * float(np.exp(noise * rng.standard_normal()))
            runs.append(Run(params=n, tokens=d, flops=c, loss=loss, budget=c))
    return runs


def test_parabola_vertex_and_power_law_are_exact_on_exact_data() -> None:
    x = np.array([0.0, 1.0, 2.0, 3.0])
    assert parabola_vertex(x, 2 * (x - 1.3) ** 2 + 0.5) == pytest.approx((1.3, 0.5))
    law = fit_power_law(np.array([1.0, 10.0, 100.0]), 3 * np.array([1, 10, 100]) ** 0.4)
    assert law.coef == pytest.approx(3.0) and law.exponent == pytest.approx(0.4)
    with pytest.raises(ValueError, match="no minimum"):
        parabola_vertex(x, -(x**2))
    with pytest.raises(ValueError, match="3 distinct"):
        parabola_vertex(np.array([1.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0]))


def test_isoflop_recovers_the_optimal_exponents() -> None:
    fit = fit_isoflop(sweep(TRUE))
    a = TRUE.beta / (TRUE.alpha + TRUE.beta)  # N_opt ~ C^a, D_opt ~ C^(1-a)
    assert fit.n_law.exponent == pytest.approx(a, abs=0.02)
    assert fit.d_law.exponent == pytest.approx(1 - a, abs=0.02)
    assert np.allclose(fit.n_opt, TRUE.optimal_params(fit.budgets), rtol=0.1)


def test_parametric_fit_recovers_the_generating_law() -> None:
    fit = fit_loss_surface(sweep(TRUE))
    assert fit.E == pytest.approx(TRUE.E, rel=0.02)
    assert fit.alpha == pytest.approx(TRUE.alpha, abs=0.02)
    assert fit.beta == pytest.approx(TRUE.beta, abs=0.02)
    n, d = 3e9, 6e10  # far outside the sweep: extrapolation is the point
    assert float(fit(n, d)) == pytest.approx(float(TRUE(n, d)), rel=0.005)


def test_bootstrap_interval_covers_the_truth_under_noise() -> None:
    runs = sweep(TRUE, noise=0.004, seed=1)
    boot = bootstrap(runs, samples=40, seed=0)
    a = TRUE.beta / (TRUE.alpha + TRUE.beta)
    lo, hi = boot.interval(boot.n_exponent, level=0.95)
    assert lo < a < hi and hi - lo < 0.3
    n, d = 1e10, 1e11
    lo, hi = boot.predict(n, d, level=0.95)
    assert lo < float(TRUE(n, d)) < hi
    assert boot.failed_isoflop + len(boot.n_exponent) == 40


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="2 budgets"):
        fit_isoflop(sweep(TRUE, budgets=(1e15,)))
    with pytest.raises(ValueError, match="5 runs"):
        fit_loss_surface(sweep(TRUE)[:3])

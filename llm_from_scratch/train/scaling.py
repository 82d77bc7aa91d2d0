"""Scaling-law fits: how to spend a compute budget (Hoffmann et al., 2022).

Input: training runs, each with N parameters trained on D tokens for C FLOPs
and a final loss L, grouped by budget (an IsoFLOP sweep: several sizes per C).

* Approach 2 (IsoFLOP profiles). Per budget, fit a parabola to L against
  log10 N; its vertex is the loss-optimal size N_opt(C) (likewise for D).
  Then fit power laws N_opt = k_N C^a and D_opt = k_D C^b by least squares in
  log-log. Chinchilla found a ~ b ~ 0.5: grow parameters and tokens equally.
* Approach 3 (parametric). Fit L(N, D) = E + A / N^alpha + B / D^beta. As in
  Hoffmann et al., the fit works on log L with
  ``log L_hat = LSE(a - alpha log N, b - beta log D, e)`` (A = e^a, B = e^b,
  E = e^e), minimises the Huber loss (delta = 1e-3) of log L_hat - log L with
  L-BFGS from a grid of starting points, and keeps the best.
* Uncertainty: a bootstrap over runs, resampling within each budget so each
  resample is still an IsoFLOP sweep; a fit that fails on a resample (a
  parabola opening downwards) is counted, not hidden.

Everything here is numpy/scipy on a handful of numbers: cheap, deterministic
given the seed.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Run:
    """One training run: parameters, tokens, FLOPs, final loss, budget label."""

    params: float
    tokens: float
    flops: float
    loss: float
    budget: float


@dataclass(frozen=True)
class PowerLaw:
    """y = coef * x ** exponent."""

    coef: float
    exponent: float

    def __call__(self, x: float | np.ndarray) -> float | np.ndarray:
        return self.coef * np.asarray(x, dtype=float) ** self.exponent


@dataclass(frozen=True)
class IsoFlopFit:
    """Approach 2: per-budget optima and the power laws through them."""

    budgets: np.ndarray  # (K,) the budgets C
    n_opt: np.ndarray  # (K,) parabola vertex in N per budget
    d_opt: np.ndarray  # (K,) parabola vertex in D per budget
    loss_opt: np.ndarray  # (K,) the parabola's value at its vertex
    n_law: PowerLaw
    d_law: PowerLaw


@dataclass(frozen=True)
class LossFit:
    """Approach 3: L(N, D) = E + A / N^alpha + B / D^beta."""

    E: float
    A: float
    B: float
    alpha: float
    beta: float
    huber: float  # the objective at the optimum

    def __call__(self, n: float | np.ndarray, d: float | np.ndarray) -> np.ndarray:
        n, d = np.asarray(n, dtype=float), np.asarray(d, dtype=float)
        return self.E + self.A / n**self.alpha + self.B / d**self.beta

    def optimal_params(self, flops: float | np.ndarray) -> np.ndarray:
        """N_opt(C) minimising L at C = 6 N D: G (C / 6)^(beta / (alpha + beta))."""
        a, b = self.alpha, self.beta
        g = (a * self.A / (b * self.B)) ** (1 / (a + b))
        return g * (np.asarray(flops, dtype=float) / 6) ** (b / (a + b))


def parabola_vertex(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Vertex (x*, y*) of the least-squares parabola through (x, y).

    Raises ValueError when fewer than 3 distinct x or the parabola opens
    downwards (no minimum: the sweep does not bracket the optimum).
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(np.unique(x)) < 3:
        raise ValueError("a parabola needs at least 3 distinct sizes per budget")
    c2, c1, c0 = np.polyfit(x, y, 2)
    if not c2 > 0:
        raise ValueError("the IsoFLOP parabola has no minimum (curvature <= 0)")
    xv = -c1 / (2 * c2)
    return float(xv), float(c0 - c1 * c1 / (4 * c2))


def fit_power_law(x: np.ndarray, y: np.ndarray) -> PowerLaw:
    """Least squares of log y = log coef + exponent * log x."""
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return PowerLaw(float(np.exp(intercept)), float(slope))


def _by_budget(runs: Sequence[Run]) -> dict[float, list[Run]]:
    groups: dict[float, list[Run]] = {}
    for r in runs:
        groups.setdefault(r.budget, []).append(r)
    return dict(sorted(groups.items()))


def fit_isoflop(runs: Sequence[Run]) -> IsoFlopFit:
    """Approach 2 on runs grouped by ``budget`` (at least two budgets)."""
    groups = _by_budget(runs)
    if len(groups) < 2:
        raise ValueError(f"need runs at >= 2 budgets, got {len(groups)}")
    budgets, n_opt, d_opt, l_opt = [], [], [], []
    for budget, group in groups.items():
        loss = np.array([r.loss for r in group])
        xn, ln = parabola_vertex(np.log10([r.params for r in group]), loss)
        xd, _ = parabola_vertex(np.log10([r.tokens for r in group]), loss)
        budgets.append(budget)
        n_opt.append(10**xn)
        d_opt.append(10**xd)
        l_opt.append(ln)
    c, n, d = np.array(budgets), np.array(n_opt), np.array(d_opt)
    return IsoFlopFit(c, n, d, np.array(l_opt), fit_power_law(c, n),
                      fit_power_law(c, d))


def _huber(r: np.ndarray, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Huber loss of residuals and its derivative."""
    small = np.abs(r) <= delta
    value = np.where(small, 0.5 * r * r, delta * (np.abs(r) - 0.5 * delta))
    return value, np.where(small, r, delta * np.sign(r))


def _objective(theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray,
               log_l: np.ndarray, delta: float) -> tuple[float, np.ndarray]:
    a, b, e, alpha, beta = theta
    terms = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
    top = terms.max(axis=0)
    exp = np.exp(terms - top)
    total = exp.sum(axis=0)
    pred = top + np.log(total)  # log-sum-exp of the three terms
    value, dvalue = _huber(pred - log_l, delta)
    w = exp / total * dvalue  # d pred / d term (a softmax), times Huber'
    grad = np.array([w[0].sum(), w[1].sum(), w[2].sum(),
                     -(w[0] * log_n).sum(), -(w[1] * log_d).sum()])
    return float(value.sum()), grad


DEFAULT_GRID = {
    "a": (0.0, 5.0, 10.0), "b": (0.0, 5.0, 10.0), "e": (-1.0, 0.0, 1.0),
    "alpha": (0.25, 0.5, 1.0), "beta": (0.25, 0.5, 1.0),
}


def fit_loss_surface(
    runs: Sequence[Run],
    delta: float = 1e-3,
    grid: dict[str, Sequence[float]] | None = None,
) -> LossFit:
    """Approach 3: Huber on log L, L-BFGS from every point of ``grid``.

    Hoffmann et al. use a 1,500-point grid; the default here has 243 points
    (a few seconds), which is enough for the well-conditioned toy sweeps of
    the book; pass a finer ``grid`` for real data.
    """
    if len(runs) < 5:
        raise ValueError(f"need >= 5 runs for 5 parameters, got {len(runs)}")
    log_n = np.log([r.params for r in runs])
    log_d = np.log([r.tokens for r in runs])
    log_l = np.log([r.loss for r in runs])
    from scipy.optimize import minimize  # (imported here: scipy is slow to load)
    from threadpoolctl import threadpool_limits

    g = grid or DEFAULT_GRID
    best = None
    # 5 unknowns: BLAS threads only contend with each other (100x slower)
    with threadpool_limits(1):
        for start in itertools.product(g["a"], g["b"], g["e"], g["alpha"],
                                       g["beta"]):
            res = minimize(_objective, np.array(start),
                           args=(log_n, log_d, log_l, delta), jac=True,
                           method="L-BFGS-B")
            if best is None or res.fun < best.fun:
                best = res
    a, b, e, alpha, beta = best.x
    return LossFit(float(np.exp(e)), float(np.exp(a)), float(np.exp(b)),
                   float(alpha), float(beta), float(best.fun))


@dataclass(frozen=True)
class Bootstrap:
    """Bootstrap draws of the fits: each array has one entry per success."""

    n_exponent: np.ndarray
    d_exponent: np.ndarray
    loss_fits: list[LossFit]
    failed_isoflop: int
    failed_surface: int

    def interval(self, values: np.ndarray, level: float = 0.9) -> tuple[float, float]:
        """The central ``level`` percentile interval of ``values``."""
        lo, hi = np.percentile(values, [50 * (1 - level), 50 * (1 + level)])
        return float(lo), float(hi)

    def predict(self, n: float, d: float, level: float = 0.9) -> tuple[float, float]:
        """Interval of L(n, d) over the approach-3 draws."""
        return self.interval(np.array([f(n, d) for f in self.loss_fits]), level)


def bootstrap(runs: Sequence[Run], samples: int = 100, seed: int = 0,
              surface: bool = True,
              grid: dict[str, Sequence[float]] | None = None) -> Bootstrap:
    """Refit on ``samples`` resamples of the runs, drawn within each budget.

    The surface fit restarts only from a small grid around the full-data fit
    (plus the default corners), which keeps 100 refits to seconds.
    """
    rng = np.random.default_rng(seed)
    groups = list(_by_budget(runs).values())
    if surface and grid is None:
        full = fit_loss_surface(runs)
        grid = {"a": (np.log(full.A),), "b": (np.log(full.B),),
                "e": (np.log(full.E),), "alpha": (full.alpha, 0.5),
                "beta": (full.beta, 0.5)}
    a_n, a_d, fits, bad_iso, bad_surf = [], [], [], 0, 0
    for _ in range(samples):
        sample = [g[i] for g in groups for i in rng.integers(0, len(g), len(g))]
        try:
            iso = fit_isoflop(sample)
            a_n.append(iso.n_law.exponent)
            a_d.append(iso.d_law.exponent)
        except ValueError:
            bad_iso += 1
        if surface:
            try:
                fits.append(fit_loss_surface(sample, grid=grid))
            except ValueError:
                bad_surf += 1
    return Bootstrap(np.array(a_n), np.array(a_d), fits, bad_iso, bad_surf)


def steps_for_budget(config: Any, flops: float, vocab_size: int) -> int:
    """Optimizer steps that spend ``flops`` = flops_per_token * tokens (>= 1)."""
    from llm_from_scratch.model import flops_per_token
    from llm_from_scratch.train.build import model_config

    per_token = flops_per_token(model_config(config, vocab_size), config.seq_len)
    return max(1, round(flops / (per_token * config.tokens_per_step)))


def cached_run(config: Any, namespace: str = "scaling") -> dict[str, Any]:
    """Train ``config`` on the book's shards once; cache its result as JSON.

    The key is the config and the digests of the shard manifests, so a
    changed corpus or setting retrains. Returns params (matmul weights, the N
    of 6ND), tokens, flops (``flops_per_token`` * tokens), final validation
    loss, training seconds, and the MoE router load when there is one.
    """
    from llm_from_scratch.data import book_shards
    from llm_from_scratch.model import flops_per_token, matmul_parameters
    from llm_from_scratch.train.loop import train
    from llm_from_scratch.utils import cached_json, file_digest

    shards = book_shards()
    key = {"config": config.to_dict(),
           "data": [file_digest(shards.train), file_digest(shards.val)]}

    def compute() -> dict[str, Any]:
        result = train(config)
        mc = result.model.config
        tokens = config.steps * config.tokens_per_step
        loads = [layer.feed_forward.load.tolist() for layer in result.model.layers
                 if getattr(layer.feed_forward, "load", None) is not None]
        return {"params": matmul_parameters(mc), "tokens": tokens,
                "flops": flops_per_token(mc, config.seq_len) * tokens,
                "loss": result.evals[-1]["val_loss"], "seconds": result.seconds,
                "losses": result.losses, "load": loads}

    return cached_json(namespace, key, compute)

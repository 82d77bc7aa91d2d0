"""Fit a run to a wall-clock budget: the cosine decay ends on time, not on a step count.

A laptop reader has minutes, not a step count. With ``budget_seconds`` the loop
times ``CALIBRATION_STEPS`` whole iterations after the first one (which pays
one-time costs such as allocation and compilation), then fixes the run's
length ``N`` so that the remaining steps, and the evaluations they trigger, fit
in what is left of the budget:

    elapsed + (N - done) * t_step + (N / eval_every) * t_eval <= budget

The steps before the fit lie inside the warmup (at least ``CALIBRATION_STEPS + 1``
steps long), where the learning rate does not depend on ``N``; from then on the
schedule is the usual warmup + cosine over ``N`` steps. The fitted config
(``steps=N``, the same warmup, no budget) is what the run saves, so training
with it replays the run step for step, and resuming it continues the schedule.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from llm_from_scratch.train.config import TrainConfig
from llm_from_scratch.train.distributed import DistInfo, mean_across

CALIBRATION_STEPS = 10
EVAL_FORWARD_SHARE = 1 / 3  # a forward pass costs about a third of a training step


def calibration_config(config: TrainConfig) -> TrainConfig:
    """The schedule a budget run starts with: warmup >= ``CALIBRATION_STEPS + 1``
    steps (the config's own warmup when longer), its length still provisional."""
    warmup = max(config.warmup_steps, CALIBRATION_STEPS + 1)  # steps 0..K inside
    steps = max(config.steps, 2 * warmup)  # warmup_frac stays <= 0.5
    return replace(config, steps=steps, warmup_frac=warmup / steps)


def fitted_config(config: TrainConfig, total: int) -> TrainConfig:
    """The replayable config of a budget run: ``total`` steps, the same warmup.

    (A budget too small for twice the warmup shortens the warmup to half the run.)
    """
    warmup_frac = min(0.5, config.warmup_steps / total)
    return replace(config, steps=total, warmup_frac=warmup_frac, budget_seconds=None)


def fit_steps(
    budget_seconds: float,
    elapsed: float,
    steps_done: int,
    step_seconds: float,
    *,
    eval_every: int = 0,
    eval_batches: int = 0,
    grad_accum: int = 1,
) -> int:
    """How many steps fit: the largest ``N >= steps_done`` within the budget.

    ``step_seconds`` is the measured time of one optimizer step; an evaluation
    of ``eval_batches`` forward passes costs about ``EVAL_FORWARD_SHARE`` of a
    step per batch (a step runs ``grad_accum`` forward-backward passes).
    """
    if not budget_seconds > 0:
        raise ValueError(f"budget_seconds must be > 0, got {budget_seconds}")
    if not step_seconds > 0:
        raise ValueError(f"step_seconds must be > 0, got {step_seconds}")
    if steps_done < 0:
        raise ValueError(f"steps_done must be >= 0, got {steps_done}")
    per_step = step_seconds
    if eval_every:
        eval_seconds = eval_batches * EVAL_FORWARD_SHARE * step_seconds / grad_accum
        per_step += eval_seconds / eval_every
    left = max(0.0, budget_seconds - elapsed)
    return max(1, steps_done + int(left / per_step))


def fit_to_budget(config: TrainConfig, step_times: list[float], elapsed: float,
                   done: int, info: DistInfo, device: torch.device) -> TrainConfig:
    """The fitted config of a budget run after ``done`` calibrated steps.

    The median step time (one slow step on a busy machine does not count),
    averaged over processes, so that every rank fits the same length. At least
    one more step runs: a budget spent during calibration still ends on a last
    step that is evaluated and checkpointed, not on a step that was not.
    """
    step_seconds = mean_across(sorted(step_times)[len(step_times) // 2], info, device)
    total = fit_steps(config.budget_seconds,  # type: ignore[arg-type]
                      mean_across(elapsed, info, device), done, step_seconds,
                      eval_every=config.eval_every, eval_batches=config.eval_batches,
                      grad_accum=config.grad_accum)
    return fitted_config(config, max(total, done + 1))

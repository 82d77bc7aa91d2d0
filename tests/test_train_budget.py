"""A run fitted to a wall-clock budget: ends on time, replays from its saved config."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import llm_from_scratch.train.loop as loop
from llm_from_scratch.corpora import shakespeare
from llm_from_scratch.train import TrainConfig, train
from llm_from_scratch.train.sources import byte_shards
from llm_from_scratch.train.time_budget import (
    CALIBRATION_STEPS,
    calibration_config,
    fit_steps,
)


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def manifests(tmp_path_factory) -> tuple[Path, Path]:
    texts = [t.text[:30_000] for t in shakespeare()[:3]]
    return byte_shards(texts, tmp_path_factory.mktemp("bytes"), val_fraction=0.34)


def tiny(manifests, **changes) -> TrainConfig:
    values = dict(d_model=32, n_layers=1, n_heads=2, batch_size=4, seq_len=32,
                  steps=40, lr=1e-2, eval_every=0, progress=False, data="manifests",
                  train_manifest=str(manifests[0]), val_manifest=str(manifests[1]))
    values.update(changes)
    return TrainConfig(**values)


@pytest.fixture
def fake_clock(monkeypatch):
    """perf_counter advances 10 ms per call: step times are exact and repeatable."""
    ticks = itertools.count()
    clock = SimpleNamespace(perf_counter=lambda: next(ticks) * 0.01)
    monkeypatch.setattr(loop, "time", clock)
    return clock


def test_fit_steps_fills_what_is_left_of_the_budget() -> None:
    assert fit_steps(10.0, elapsed=1.0, steps_done=10, step_seconds=0.1) == 100
    # evaluations take their share: 8 batches x 1/3 step every 10 steps
    with_eval = fit_steps(10.0, 1.0, 10, 0.1, eval_every=10, eval_batches=8)
    assert with_eval == 10 + int(9.0 / (0.1 + 8 * 0.1 / 3 / 10))
    assert fit_steps(1.0, elapsed=5.0, steps_done=11, step_seconds=0.1) == 11
    with pytest.raises(ValueError, match="step_seconds"):
        fit_steps(1.0, 0.0, 0, 0.0)


def test_calibration_lies_inside_the_warmup() -> None:
    config = calibration_config(TrainConfig(steps=100, warmup_frac=0.02))
    assert config.warmup_steps == CALIBRATION_STEPS + 1
    longer = calibration_config(TrainConfig(steps=1000, warmup_frac=0.05))
    assert longer.warmup_steps == 50 and longer.steps == 1000


def test_budget_sets_the_length_and_the_decay_ends_on_it(manifests, fake_clock) -> None:
    short = train(tiny(manifests, budget_seconds=3.0))
    long = train(tiny(manifests, budget_seconds=6.0))
    for result in (short, long):
        assert result.config.budget_seconds is None  # the replayable config
        assert len(result.history) == result.config.steps
        # the cosine reaches its floor at step N: the last step is within 1% of it
        floor = result.config.lr * result.config.min_lr_ratio
        assert floor <= result.history[-1]["lr"] < 1.01 * floor
        assert result.config.warmup_steps == CALIBRATION_STEPS + 1
    assert long.config.steps > 1.5 * short.config.steps > CALIBRATION_STEPS


def test_the_saved_config_replays_the_run(manifests, fake_clock, monkeypatch,
                                          tmp_path) -> None:
    run = train(tiny(manifests, budget_seconds=3.0, out_dir=str(tmp_path / "a")))
    monkeypatch.undo()  # the real clock: the replay has no budget to fit
    replay = train(replace(run.config, out_dir=None))
    assert replay.losses == run.losses
    assert [r["lr"] for r in replay.history] == [r["lr"] for r in run.history]
    saved = TrainConfig.from_dict(loop.ckpt.load_checkpoint(run.checkpoint).config)
    assert saved == run.config


def test_budget_is_checked_by_name() -> None:
    with pytest.raises(ValueError, match="budget_seconds"):
        TrainConfig(budget_seconds=0.0)
    with pytest.raises(ValueError, match="resume"):
        TrainConfig(budget_seconds=5.0, resume=True, out_dir="x")


def test_a_budget_spent_during_calibration_ends_on_a_saved_step(
        manifests, fake_clock, tmp_path) -> None:
    # one step after the fit, and that last step is evaluated and checkpointed
    result = train(tiny(manifests, budget_seconds=0.01, eval_every=100,
                        out_dir=str(tmp_path / "run")))
    assert len(result.history) == result.config.steps == CALIBRATION_STEPS + 2
    assert "val_loss" in result.history[-1]
    assert result.checkpoint is not None and result.checkpoint.name.endswith(
        f"{CALIBRATION_STEPS + 2:06d}")

"""The training loop: one readable function from config to trained model.

Each optimizer step: set the scheduled learning rate; run ``grad_accum``
micro-batches forward and backward (gradients add up); clip the global
gradient norm; take the AdamW step. Every ``eval_every`` steps it measures the
validation loss (and perplexity, bits per byte); every ``checkpoint_every``
steps it writes a checkpoint from which ``resume=True`` continues exactly.
With ``out_dir`` set, each step's record is appended to ``metrics.jsonl`` as
soon as it exists; ``metrics.csv`` is rewritten at each checkpoint.

Exact resume needs every source of randomness to be restorable. The batches of
step ``s`` are drawn with a generator seeded from ``(seed, rank, s, micro)``,
so the data position *is* the step number; the model, optimizer moments and
global RNG states come back from the checkpoint. The micro-batch helpers
(``step_generator``, ``autocast``) are in ``micro_batch``; the validation
loss and text samples (``evaluate``, ``sample_text``) in ``validation``.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from llm_from_scratch.train import checkpoint as ckpt
from llm_from_scratch.train.build import (  # model_config: chapters import it here
    build_model,
    build_optimizer,
    model_config,
)
from llm_from_scratch.train.clipping import clip_grad_norm
from llm_from_scratch.train.config import TrainConfig
from llm_from_scratch.train.distributed import (
    DistInfo,
    barrier,
    dist_info_from_env,
    mean_across,
    setup_distributed,
)
from llm_from_scratch.train.hardware import check_dtype, device_name, mfu, peak_flops
from llm_from_scratch.train.loss import cross_entropy
from llm_from_scratch.train.micro_batch import autocast, step_generator
from llm_from_scratch.train.run_files import (
    append_metrics,
    checkpoint_to_resume,
    full_states,
    save_run,
    shard_like,
    start_metrics,
)
from llm_from_scratch.train.schedule import lr_at
from llm_from_scratch.train.time_budget import (
    CALIBRATION_STEPS,
    calibration_config,
    fit_to_budget,
)
from llm_from_scratch.train.sources import TrainData, open_data
from llm_from_scratch.train.validation import (
    EVAL_STREAM,  # noqa: F401  (it was defined here: still importable from here)
    evaluate,
    sample_text,
)

WrapModel = Callable[[nn.Module, torch.device], nn.Module]
# A callback sees each step's record and the model; returning True stops the run.
Callback = Callable[[dict[str, Any], nn.Module], bool | None]


@dataclass
class TrainResult:
    """What a run produced: per-step records, the model and where it was saved."""

    config: TrainConfig
    model: nn.Module
    history: list[dict[str, Any]] = field(default_factory=list)
    checkpoint: Path | None = None
    seconds: float = 0.0

    @property
    def losses(self) -> list[float]:
        """Training loss of every optimizer step, in order."""
        return [r["loss"] for r in self.history]

    @property
    def evals(self) -> list[dict[str, Any]]:
        """The records that carry a validation measurement."""
        return [r for r in self.history if "val_loss" in r]


def resolve_device(config: TrainConfig, info: DistInfo) -> torch.device:
    """``auto`` = CUDA (this process's GPU under torchrun), then MPS, then CPU."""
    from llm_from_scratch.utils import detect_device

    device = detect_device(None if config.device == "auto" else config.device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", info.local_rank)
    return device


def train(
    config: TrainConfig,
    *,
    wrap_model: WrapModel | None = None,
    callbacks: list[Callback] | None = None,
    model: nn.Module | None = None,
    data: TrainData | None = None,
) -> TrainResult:
    """Train a model as ``config`` says; return its history and the model.

    ``wrap_model(model, device)`` replaces the default DistributedDataParallel
    wrapper (the parallelism chapter plugs in its own). ``model``/``data``
    override the book's Transformer and shards (tests use small ones).
    Under torchrun every process calls this; only rank 0 writes files.

    ``config.deterministic`` switches on PyTorch's deterministic kernels for
    the run: some multi-threaded CPU kernels otherwise add partial results in
    a varying order, and a resumed run drifts from the uninterrupted one in
    the last bits.
    """
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(previous or config.deterministic)
    try:
        return training_loop(config, wrap_model, callbacks or [], model, data)
    finally:
        torch.use_deterministic_algorithms(previous)


def training_loop(
    config: TrainConfig,
    wrap_model: WrapModel | None,
    callbacks: list[Callback],
    model: nn.Module | None,
    data: TrainData | None,
) -> TrainResult:
    """The body of ``train``: set-up, then one optimizer step per iteration."""
    info = dist_info_from_env()
    device = resolve_device(config, info)
    check_dtype(config.dtype, device)  # before any work: a clear error at once
    setup_distributed(info, device)
    torch.manual_seed(config.seed)
    data = data or open_data(config)
    model = (model or build_model(config, data.vocab_size)).to(device)
    if config.activation_checkpointing:
        if not hasattr(model, "activation_checkpointing"):
            raise ValueError("TrainConfig.activation_checkpointing=True needs a model "
                             "with an activation_checkpointing attribute (Transformer)")
        model.activation_checkpointing = True
    resumed = checkpoint_to_resume(config)
    if resumed is not None:  # weights first: wrapping may shard them
        ckpt.restore_model(model, resumed.model_state)
    sharded = False
    if wrap_model is not None:
        runner = wrap_model(model, device)
    elif info.distributed and config.parallel == "fsdp":
        from llm_from_scratch.parallel.production import fsdp

        runner, sharded = fsdp(model, device), True
    elif info.distributed:
        ids = [device.index] if device.type == "cuda" else None
        runner = nn.parallel.DistributedDataParallel(model, device_ids=ids)
    else:
        runner = model
    # after wrapping: FSDP replaces the parameters by sharded ones
    optimizer = build_optimizer(model, config)
    start, history = 0, []
    if resumed is not None:
        optimizer.load_state_dict(shard_like(resumed.optimizer_state, optimizer))
        ckpt.restore_rng(resumed)
        start, history = resumed.step, list(resumed.metadata.get("history", []))
    loss_fn = cross_entropy
    if config.compile:  # the loss too: its float32 logits are the largest tensor
        runner, loss_fn = torch.compile(runner), torch.compile(cross_entropy)
    flops = _flops_per_token(model, config)
    peak = peak_flops(device_name(device), config.dtype)
    out = Path(config.out_dir) if config.out_dir and info.is_main else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(config.to_dict(), indent=1) + "\n")
        start_metrics(out, history)
    bar = None
    if config.progress and info.is_main:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.steps, initial=start, desc="train", unit="step")
    saved: Path | None = None
    began = time.perf_counter()
    earlier = history[-1]["time"] if history else 0.0  # seconds before a resume
    timed_seconds, timed_steps = 0.0, 0
    budget = config.budget_seconds
    calibration: list[float] = []  # start times of the steps that fit the budget
    if budget is not None:
        config = calibration_config(config)
    model.train()
    step = start
    while step < config.steps:
        step_began = time.perf_counter()
        if budget is not None:  # time whole iterations, the first one aside
            calibration.append(step_began)
            if len(calibration) == CALIBRATION_STEPS + 2:
                config = fit_to_budget(config, np.diff(calibration[1:]).tolist(),
                                       step_began - began, step, info, device)
                budget = None
                if bar is not None:
                    bar.total = config.steps
        lr = lr_at(step, max_lr=config.lr, total_steps=config.steps,
                   warmup_steps=config.warmup_steps, min_lr_ratio=config.min_lr_ratio)
        for group in optimizer.param_groups:  # muP groups carry an lr_scale
            group["lr"] = lr * group["lr_scale"] if "lr_scale" in group else lr
        loss_sum = 0.0
        for micro in range(config.grad_accum):
            g = step_generator(config.seed, info.rank, step, micro)
            x, y = data.train.sample_batch(config.batch_size, config.seq_len, g)
            x, y = x.to(device), y.to(device)
            last = micro == config.grad_accum - 1
            sync = contextlib.nullcontext()
            if not last and hasattr(runner, "no_sync"):
                sync = runner.no_sync()  # all-reduce only once per step
            with sync:
                with autocast(config, device):
                    logits = runner(x)
                loss = loss_fn(logits, y) / config.grad_accum
                aux = getattr(model, "aux_loss", None)  # MoE load balancing
                if aux is not None and config.moe_aux_weight:
                    (loss + config.moe_aux_weight * aux / config.grad_accum).backward()
                else:
                    loss.backward()
            loss_sum += float(loss.detach())
        grad_norm = clip_grad_norm(model.parameters(), config.clip)
        if not math.isfinite(loss_sum) or not math.isfinite(grad_norm):
            raise FloatingPointError(
                f"step {step}: loss {loss_sum} / grad norm {grad_norm} is not finite; "
                "lower lr or raise clip, or try dtype=float32"
            )
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        timed_seconds += time.perf_counter() - step_began
        timed_steps += 1
        record: dict[str, Any] = {
            "step": step + 1,
            "lr": lr,
            "loss": mean_across(loss_sum, info, device),
            "grad_norm": grad_norm,
            "tokens": (step + 1) * config.tokens_per_step * info.world_size,
            "time": earlier + time.perf_counter() - began,
        }
        done = step + 1 == config.steps
        if (step + 1) % config.log_every == 0 or done:
            # throughput of the training steps only (no eval, sampling or saving)
            tps = timed_steps * config.tokens_per_step / timed_seconds
            record["tokens_per_s"] = tps * info.world_size
            if flops is not None:
                record["mfu"] = mfu(tps, flops, peak)
            timed_seconds, timed_steps = 0.0, 0
        if config.eval_every and ((step + 1) % config.eval_every == 0 or done):
            record.update(evaluate(runner, data, config, device, info))
        if config.sample_every and ((step + 1) % config.sample_every == 0 or done):
            record["sample"] = sample_text(model, data, config, device)
        history.append(record)
        if out is not None:
            append_metrics(out, record)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{record['loss']:.3f}", lr=f"{lr:.2e}")
        every = config.checkpoint_every
        if config.out_dir and (done or (every and (step + 1) % every == 0)):
            # sharded tensors are gathered by every rank, then rank 0 writes
            states = full_states(model, optimizer) if sharded else None
            if out is not None:
                saved = save_run(config, model, optimizer, step + 1, history,
                              data.vocab_size, states)
            barrier(info)
        stop = any(cb(record, model) for cb in callbacks)
        if stop:
            break
        step += 1
    if bar is not None:
        bar.close()
    return TrainResult(config, model, history, saved, time.perf_counter() - began)


def _flops_per_token(model: nn.Module, config: TrainConfig) -> float | None:
    """Training FLOPs per token for MFU (the book's Transformer only)."""
    mc = getattr(model, "config", None)
    if mc is None or not hasattr(mc, "vocab_size"):
        return None
    from llm_from_scratch.model import flops_per_token

    return float(flops_per_token(mc, config.seq_len))

"""Activation memory against batch size, with and without activation checkpointing.

Checkpointing keeps only each block's input (B, T, d) through the forward and runs
the block's forward again during the backward: activation memory falls to about
one tensor per layer (plus the block being recomputed), for roughly one more
forward of compute, and the gradients are the same. ``activation_memory`` measures
both sides of that trade on the config's model shape (the chapter's plot).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable
from typing import Any

import torch

from llm_from_scratch.model.memory import activation_bytes
from llm_from_scratch.train.config import TrainConfig
from llm_from_scratch.train.build import build_model
from llm_from_scratch.train.loss import cross_entropy


def activation_memory(
    config: TrainConfig,
    batch_sizes: Iterable[int],
    vocab_size: int = 512,
    repeats: int = 3,
) -> list[dict[str, Any]]:
    """One row per (batch size, checkpointing on/off) on ``config``'s model shape
    and ``seq_len`` (random tokens, CPU, float32).

    Each row: ``batch_size``, ``checkpointing``, ``saved_bytes`` (activations the
    forward keeps for the backward, ``model.memory.activation_bytes``) and
    ``step_seconds`` (median of ``repeats`` forward + backward passes, measured
    interleaved with the other setting so machine load affects both alike).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    sizes = list(batch_sizes)
    if not sizes or any(isinstance(b, bool) or not isinstance(b, int) or b < 1
                        for b in sizes):
        raise ValueError(f"batch_sizes must be positive ints, got {sizes!r}")
    torch.manual_seed(config.seed)
    model = build_model(config, vocab_size)
    g = torch.Generator().manual_seed(config.seed)
    rows = []
    for batch in sizes:
        x = torch.randint(0, vocab_size, (batch, config.seq_len + 1), generator=g)
        inputs, targets = x[:, :-1], x[:, 1:]
        times: dict[bool, list[float]] = {False: [], True: []}
        saved = {}
        for _ in range(repeats):
            for checkpointing in (False, True):
                model.activation_checkpointing = checkpointing
                saved[checkpointing] = activation_bytes(model, inputs)
                began = time.perf_counter()
                cross_entropy(model(inputs), targets).backward()
                times[checkpointing].append(time.perf_counter() - began)
                model.zero_grad(set_to_none=True)
        for checkpointing in (False, True):
            rows.append({
                "batch_size": batch,
                "checkpointing": checkpointing,
                "saved_bytes": saved[checkpointing],
                "step_seconds": statistics.median(times[checkpointing]),
            })
    model.activation_checkpointing = False
    return rows

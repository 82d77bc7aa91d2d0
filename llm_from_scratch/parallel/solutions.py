"""Solutions to the exercises of the parallelism chapter (checked by pytest)."""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from llm_from_scratch.parallel.cost import memory_per_rank
from llm_from_scratch.parallel.data_parallel import DataParallel


def interleaved_bubble(n_stages: int, n_micro: int, chunks: int) -> float:
    """Exercise 1. Interleaved 1F1B (Megatron): each rank holds ``chunks``
    non-adjacent model chunks, so a micro-batch visits it ``chunks`` times
    and the warm-up/cool-down shrink by that factor:
    bubble = (p - 1) / (v m + p - 1)."""
    if min(n_stages, n_micro, chunks) < 1:
        raise ValueError("n_stages, n_micro and chunks must be >= 1")
    return (n_stages - 1) / (chunks * n_micro + n_stages - 1)


def max_params(memory_bytes: float, scheme: str, world_size: int) -> float:
    """Exercise 2. The largest model whose weights, gradients and Adam state
    fit in ``memory_bytes`` per rank (16 bytes/parameter, no activations).
    Memory is linear in the parameter count, so one division suffices."""
    per_param = memory_per_rank(1.0, scheme, world_size).total
    return memory_bytes / per_param


def allreduce_seconds(
    nbytes: float, world_size: int, bandwidth: float, latency: float, algorithm: str
) -> float:
    """Exercise 3. Alpha-beta time of an all-reduce of ``nbytes``.

    Ring: 2(p-1) steps, each one latency plus ``nbytes/p`` at ``bandwidth``.
    Binary tree (reduce then broadcast): 2 ceil(log2 p) steps, each moving the
    whole buffer. Rings win on large messages, trees on small ones.
    """
    p = world_size
    if p < 1 or bandwidth <= 0 or latency < 0 or nbytes < 0:
        raise ValueError("need world_size >= 1, bandwidth > 0, latency, nbytes >= 0")
    if p == 1:
        return 0.0
    if algorithm == "ring":
        return 2 * (p - 1) * (latency + nbytes / p / bandwidth)
    if algorithm == "tree":
        return 2 * math.ceil(math.log2(p)) * (latency + nbytes / bandwidth)
    raise ValueError(f"algorithm must be 'ring' or 'tree', got {algorithm!r}")


class TracedDataParallel(DataParallel):
    """Exercise 4. ``DataParallel`` that notes, for every bucket it launches,
    how many gradients backward had produced by then (``launched_after``).

    A bucket launched after ``k`` of ``n`` gradients overlaps its all-reduce
    with the backward work that still produces the other ``n - k``. With one
    bucket, ``k = n``: the launch waits for the last gradient (the embedding,
    the first layer, so the last one backward reaches) and nothing is left to
    overlap; the whole all-reduce is added to the step.
    """

    def __init__(self, module: nn.Module, bucket_mb: float = 1.0) -> None:
        super().__init__(module, bucket_mb)
        self.launched_after: list[int] = []

    def _reset(self) -> None:
        super()._reset()
        self.ready = 0  # gradients produced so far in this backward

    def _on_grad_ready(self, param: torch.Tensor) -> None:
        if self._sync:
            self.ready += 1
        super()._on_grad_ready(param)

    def _launch(self, b: int) -> None:
        self.launched_after.append(self.ready)
        super()._launch(b)


def overlap_run(
    rank: int, world: int, bucket_mbs: tuple[float, ...], steps: int = 5
) -> dict[float, dict[str, Any]]:
    """Exercise 4. Train a 0.9M-parameter model (3.5 MB of float32 gradients)
    with ``TracedDataParallel`` at each bucket size: per size, the number of
    buckets and gradients, when each bucket was launched in the last step,
    and the median seconds of forward + backward (including the wait for
    every all-reduce)."""
    from llm_from_scratch.parallel.workers import Experiment, _local, _loss

    exp = Experiment(vocab_size=256, d_model=128, n_layers=4, n_heads=4,
                     n_kv_heads=4, seq_len=64, batch_size=8)
    out = {}
    for bucket_mb in bucket_mbs:
        model = TracedDataParallel(exp.model(), bucket_mb)
        times = []
        for step in range(steps + 1):  # the first step warms up
            x, y = exp.batch(step)
            model.launched_after.clear()
            dist.barrier()
            began = time.perf_counter()
            _loss(model(_local(x, rank, world)), _local(y, rank, world)).backward()
            times.append(time.perf_counter() - began)
            model.zero_grad(set_to_none=True)
        out[bucket_mb] = {
            "buckets": len(model.buckets),
            "grads": sum(len(b) for b in model.buckets),
            "launched_after": list(model.launched_after),
            "seconds": statistics.median(times[1:]),
        }
    return out

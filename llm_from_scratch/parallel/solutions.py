"""Solutions to the exercises of the parallelism chapter (checked by pytest)."""

from __future__ import annotations

import math

from llm_from_scratch.parallel.cost import memory_per_rank


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

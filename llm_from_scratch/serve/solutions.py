"""Solutions to the Inference chapter's exercises (engine part)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def kv_cache_tokens(
    memory_bytes: float,
    weight_bytes: float,
    n_layers: int,
    n_kv_heads: int,
    head_dim: int,
    bytes_per_value: int = 2,
) -> int:
    """Exercise 1 (★): tokens of KV cache that fit next to the weights.

    Each token costs 2 * L * H_kv * d_h * bytes (keys and values of every layer).
    """
    per_token = 2 * n_layers * n_kv_heads * head_dim * bytes_per_value
    free = memory_bytes - weight_bytes
    if free < 0:
        raise ValueError("the weights alone do not fit in memory")
    return int(free // per_token)


def per_tensor_int8(w: Tensor) -> Tensor:
    """Exercise 2 (★★): int8 with one absmax scale for the whole tensor;
    returns the dequantized weights. One large row then sets the step for all
    rows, and small rows round to a few levels (or to zero)."""
    scale = w.abs().max().clamp(min=torch.finfo(w.dtype).tiny) / 127
    return torch.round(w / scale).clamp(-127, 127) * scale


def static_batching_waste(lengths: Sequence[int], batch_size: int) -> float:
    """Exercise 3 (★★): share of row-steps that static batching spends on
    finished requests, when requests are taken ``batch_size`` at a time in order
    and each group runs as long as its longest reply."""
    if batch_size < 1 or not lengths or min(lengths) < 1:
        raise ValueError("need batch_size >= 1 and reply lengths >= 1")
    useful = sum(lengths)
    spent = 0
    for i in range(0, len(lengths), batch_size):
        group = lengths[i : i + batch_size]
        spent += len(group) * max(group)
    return 1 - useful / spent


def prompt_lookup_propose(tokens: Sequence[int], k: int, ngram: int = 2) -> list[int]:
    """Exercise 4 (★★★): prompt lookup as the draft. Find the last earlier
    occurrence of the final ``ngram`` tokens and propose the (up to) k tokens
    that followed it; no occurrence, no proposal. Verifying these with a one-hot
    draft distribution q keeps the target's output exactly (greedy) or in
    distribution (sampling): q(x) = 1 for the proposed x."""
    n = len(tokens)
    if n <= ngram or k < 1:
        return []
    tail = list(tokens[n - ngram :])
    for start in range(n - ngram - 1, -1, -1):
        if list(tokens[start : start + ngram]) == tail:
            follow = list(tokens[start + ngram : start + ngram + k])
            return follow
    return []

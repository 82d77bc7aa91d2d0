"""The distribution ``sample_next`` draws from, as probabilities.

Speculative decoding compares the target's and the draft's probabilities of a
token, so it needs the distribution itself, after temperature, top-k and top-p,
not only a draw from it. Drawing from these probabilities with
``torch.multinomial`` and the same generator gives exactly ``sample_next``'s
tokens (tested).
"""

from __future__ import annotations

import torch
from torch import Tensor

from llm_from_scratch.model.generation import check_sampling


def sampling_probs(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> Tensor:
    """logits (..., V) -> float32 probabilities (..., V) summing to 1.

    temperature 0 is a one-hot at the argmax (greedy).
    """
    check_sampling(temperature, top_k, top_p)
    logits = logits.float()
    if temperature == 0:
        onehot = torch.zeros_like(logits)
        return onehot.scatter(-1, logits.argmax(dim=-1, keepdim=True), 1.0)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        drop = probs.cumsum(dim=-1) - probs >= top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(
            -1, order, sorted_logits
        )
    return torch.softmax(logits, dim=-1)

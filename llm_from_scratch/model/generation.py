"""Sampling text from the model, one token at a time, with the KV cache.

The prompt is processed once (prefill); each later step feeds only the newest token
and reads earlier keys and values from the cache.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from llm_from_scratch.model.transformer import Transformer


def check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    if not isinstance(temperature, (int, float)) or temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature!r}")
    if top_k is not None and (
        isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1
    ):
        raise ValueError(f"top_k must be None or an int >= 1, got {top_k!r}")
    if top_p is not None and not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
        raise ValueError(f"top_p must be None or in (0, 1], got {top_p!r}")


def sampling_probs(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> Tensor:
    """logits (..., V) -> the float32 probabilities (..., V) ``sample_next`` draws from.

    logits / temperature are restricted to the ``top_k`` largest and/or the smallest
    set whose probability reaches ``top_p`` (nucleus sampling, Holtzman et al. 2020).
    Temperature 0 is a one-hot at the argmax (greedy). Speculative decoding needs
    these probabilities themselves, not only a draw from them.
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
        # drop a token when the tokens ranked above it already reach top_p
        drop = probs.cumsum(dim=-1) - probs >= top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(
            -1, order, sorted_logits
        )
    return torch.softmax(logits, dim=-1)


def sample_next(
    logits: Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Draw one token id per row of ``logits`` (B, V) from ``sampling_probs``;
    temperature 0 is greedy (argmax, no draw)."""
    check_sampling(temperature, top_k, top_p)
    if temperature == 0:
        return logits.float().argmax(dim=-1)
    probs = sampling_probs(logits, temperature, top_k, top_p)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def decode_steps(
    model: Transformer,
    idx: Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> Iterator[Tensor]:
    """Yield the next token ids (B,) step by step, using a KV cache."""
    check_sampling(temperature, top_k, top_p)
    if idx.dim() != 2 or idx.shape[1] == 0:
        raise ValueError(
            f"prompt must have shape (B, T) with T >= 1, got {tuple(idx.shape)}"
        )
    if (
        isinstance(max_new_tokens, bool)
        or not isinstance(max_new_tokens, int)
        or max_new_tokens < 0
    ):
        raise ValueError(f"max_new_tokens must be an int >= 0, got {max_new_tokens!r}")
    if max_new_tokens == 0:
        return
    B, T = idx.shape
    needed = T + max_new_tokens - 1  # the last sampled token is never fed back
    limit = model.config.max_positions
    if needed > limit:
        raise ValueError(
            f"prompt ({T}) + max_new_tokens ({max_new_tokens}) - 1 = {needed} exceeds "
            f"the model's {limit} positions"
        )
    with torch.no_grad():
        cache = model.init_kv_cache(B, needed)
        logits = model(idx, kv_cache=cache)[:, -1]
        for step in range(max_new_tokens):
            nxt = sample_next(logits, temperature, top_k, top_p, generator)
            yield nxt
            if step + 1 < max_new_tokens:
                logits = model(nxt[:, None], kv_cache=cache)[:, -1]


def generate(
    model: Transformer,
    idx: Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    stop_tokens: list[int] | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Prompt (B, T) -> prompt plus up to ``max_new_tokens`` sampled ids.

    A row that samples a stop token keeps it and is padded with it afterwards;
    generation ends early once every row has stopped.
    """
    stops = torch.tensor(stop_tokens or [], dtype=torch.long, device=idx.device)
    done = torch.zeros(idx.shape[0], dtype=torch.bool, device=idx.device)
    out = [idx]
    for nxt in decode_steps(
        model, idx, max_new_tokens, temperature, top_k, top_p, generator
    ):
        nxt = torch.where(done, out[-1][:, -1], nxt)
        out.append(nxt[:, None])
        done |= torch.isin(nxt, stops)
        if bool(done.all()):
            break
    return torch.cat(out, dim=1)


def stream(
    model: Transformer,
    idx: Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    stop_tokens: list[int] | None = None,
    generator: torch.Generator | None = None,
) -> Iterator[int]:
    """Yield new token ids (ints) for one prompt (T,) or (1, T) as they are sampled.

    A stop token is yielded, then the stream ends (the caller decides whether to
    show it).
    """
    if idx.dim() == 1:
        idx = idx[None]
    if idx.dim() != 2 or idx.shape[0] != 1:
        raise ValueError(
            f"stream takes one prompt, (T,) or (1, T); got {tuple(idx.shape)}"
        )
    stops = set(stop_tokens or [])
    for nxt in decode_steps(
        model, idx, max_new_tokens, temperature, top_k, top_p, generator
    ):
        token = int(nxt[0])
        yield token
        if token in stops:
            return

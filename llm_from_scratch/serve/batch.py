"""Batched generation: many prompts of different lengths share one forward pass.

Each row of the batch keeps its own length in a *ragged* KV cache: row b's prompt
fills slots 0 .. n_b - 1, so a token's slot is its position and RoPE needs no
shift; short prompts are padded on the right, and the padding's keys are never
attended (the mask stops at the row's length) and are overwritten by the row's
next tokens. A decode step writes each row's new key at its own slot ``n_b`` and
lets query t of row b see keys j <= n_b + t: one matmul per layer for the whole
batch, whatever the lengths.

``generate_batch`` is *static* batching (every row runs until the longest is
done); ``batcher.ContinuousBatcher`` admits and retires rows between steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from llm_from_scratch.model import Transformer, sample_next


class RaggedKVCache:
    """(rows, n_kv_heads, capacity, head_dim) buffers per layer, a length per row.

    The model calls ``check_room``, ``update`` and ``advance`` as on a
    :class:`~llm_from_scratch.model.KVCache`; they act on the rows of the current
    window ``[start, stop)`` (:meth:`use_rows`), so new requests can be prefilled
    into free rows while the others keep their keys.
    """

    def __init__(
        self,
        n_layers: int,
        rows: int,
        n_kv_heads: int,
        head_dim: int,
        capacity: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        shape = (rows, n_kv_heads, capacity, head_dim)
        zeros = lambda: torch.zeros(shape, device=device, dtype=dtype)  # noqa: E731
        self.k = [zeros() for _ in range(n_layers)]
        self.v = [zeros() for _ in range(n_layers)]
        self.rows, self.capacity = rows, capacity
        self.lengths = torch.zeros(rows, dtype=torch.long, device=device)
        self.start, self.stop = 0, rows

    @classmethod
    def for_model(
        cls, model: Transformer, rows: int, capacity: int | None = None
    ) -> RaggedKVCache:
        c = model.config
        capacity = c.max_positions if capacity is None else capacity
        if not 0 < capacity <= c.max_positions:
            raise ValueError(
                f"capacity must be in [1, {c.max_positions}], got {capacity}"
            )
        w = model.tok_embeddings.weight
        return cls(
            c.n_layers, rows, c.n_kv_heads, c.head_dim, capacity, w.device, w.dtype
        )

    def use_rows(self, start: int, stop: int) -> None:
        if not 0 <= start < stop <= self.rows:
            raise ValueError(f"rows [{start}, {stop}) outside [0, {self.rows})")
        self.start, self.stop = start, stop

    @property
    def length(self) -> int:
        """Longest row of the window (the Transformer only reads it for defaults)."""
        return int(self.lengths[self.start : self.stop].max())

    def check_room(self, batch_size: int, n_new: int) -> None:
        if batch_size != self.stop - self.start:
            raise ValueError(
                f"batch size {batch_size} does not match the cache window "
                f"[{self.start}, {self.stop})"
            )
        if self.length + n_new > self.capacity:
            raise ValueError(
                f"KV cache full: {self.length} + {n_new} tokens > "
                f"capacity {self.capacity}"
            )

    def update(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Write k, v (B, Hkv, T, hd) at slots lengths[b] + t of each window row;
        return the window's keys and values up to the longest row, (B, Hkv, Tk, hd)."""
        a, b = self.start, self.stop
        T = k.shape[2]
        rows = torch.arange(a, b, device=k.device)[:, None]  # (B, 1)
        slots = self.lengths[a:b, None] + torch.arange(T, device=k.device)  # (B, T)
        self.k[layer][rows, :, slots] = k.transpose(1, 2)  # index -> (B, T, Hkv, hd)
        self.v[layer][rows, :, slots] = v.transpose(1, 2)
        end = self.length + T
        return self.k[layer][a:b, :, :end], self.v[layer][a:b, :, :end]

    def advance(self, n: int) -> None:
        self.lengths[self.start : self.stop] += n

    def keep_rows(self, keep: Sequence[int]) -> None:
        """Move rows ``keep`` (in that order) to 0 .. len(keep) - 1."""
        n = len(keep)
        if list(keep) != list(range(n)):
            idx = torch.tensor(list(keep), dtype=torch.long, device=self.lengths.device)
            for buf in (*self.k, *self.v):
                buf[:n] = buf[idx]  # advanced indexing copies first: overlap is safe
            self.lengths[:n] = self.lengths[idx].clone()
        self.lengths[n:] = 0  # freed rows; their stale keys are never attended

    def bytes_per_token(self) -> int:
        """Bytes one cached token costs: 2 (k and v) * L * H_kv * d_h * itemsize."""
        k = self.k[0]
        return 2 * len(self.k) * k.shape[1] * k.shape[3] * k.element_size()


def ragged_mask(lengths: Tensor, T: int) -> Tensor:
    """(B, 1, T, max(lengths) + T) boolean: query t of row b sees keys
    j <= lengths[b] + t (its own past and itself, none of another row's padding)."""
    keys = torch.arange(int(lengths.max()) + T, device=lengths.device)
    last = lengths[:, None] + torch.arange(T, device=lengths.device)  # (B, T)
    return (keys[None, None, :] <= last[:, :, None])[:, None]


def forward_rows(
    model: Transformer, cache: RaggedKVCache, start: int, idx: Tensor
) -> Tensor:
    """Feed idx (B, T) to cache rows start .. start + B - 1; logits (B, T, V).

    Every row's tokens go to its own next slots; positions follow its length.
    """
    B, T = idx.shape
    cache.use_rows(start, start + B)
    lengths = cache.lengths[start : start + B]
    positions = lengths[:, None] + torch.arange(T, device=idx.device)
    mask = ragged_mask(lengths, T)
    return model(idx, positions=positions, kv_cache=cache, attn_mask=mask)


def prefill_rows(
    model: Transformer, cache: RaggedKVCache, start: int, prompts: Sequence[Tensor]
) -> Tensor:
    """Prefill empty rows start .. with prompts of any lengths (right-padded);
    returns each prompt's last logits (B, V) and sets the rows' lengths."""
    lens = torch.tensor([len(p) for p in prompts], device=cache.lengths.device)
    if int(lens.min()) < 1:
        raise ValueError("every prompt must hold at least one token")
    stop = start + len(prompts)
    if bool((cache.lengths[start:stop] != 0).any()):
        raise ValueError(f"rows [{start}, {stop}) are not empty")
    T = int(lens.max())
    idx = torch.zeros(len(prompts), T, dtype=torch.long, device=lens.device)
    for i, p in enumerate(prompts):
        idx[i, : len(p)] = p
    logits = forward_rows(model, cache, start, idx)
    cache.lengths[start:stop] = lens  # padding slots stay free
    return logits[torch.arange(len(prompts)), lens - 1]


def generate_batch(
    model: Transformer,
    prompts: Sequence[Sequence[int] | Tensor],
    max_new_tokens: int,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> list[list[int]]:
    """Static batching: all prompts prefilled together, then ``max_new_tokens``
    decode steps for all rows at once. Returns the new ids of each prompt.

    Sampling draws all rows from one ``generator`` (greedy when temperature is 0);
    a row of the batch gives exactly what the prompt gives alone under greedy.
    """
    if not prompts:
        raise ValueError("prompts must not be empty")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int):
        raise ValueError(f"max_new_tokens must be an int, got {max_new_tokens!r}")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    device = model.tok_embeddings.weight.device
    rows = [torch.as_tensor(p, dtype=torch.long, device=device) for p in prompts]
    need = max(len(p) for p in rows) + max_new_tokens - 1
    if need > model.config.max_positions:
        raise ValueError(
            f"longest prompt + max_new_tokens - 1 = {need} exceeds the model's "
            f"{model.config.max_positions} positions"
        )
    cache = RaggedKVCache.for_model(model, len(rows), need)
    out: list[Tensor] = []
    with torch.no_grad():
        logits = prefill_rows(model, cache, 0, rows)
        for step in range(max_new_tokens):
            nxt = sample_next(logits, temperature, top_k, top_p, generator)
            out.append(nxt)
            if step + 1 < max_new_tokens:
                logits = forward_rows(model, cache, 0, nxt[:, None])[:, -1]
    return torch.stack(out, dim=1).tolist()

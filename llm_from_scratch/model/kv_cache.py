"""The KV cache: keys and values of past tokens, kept so each new token costs O(T).

Without it, generating token t recomputes attention for all t previous tokens (O(t^2)
work per step); with it, a step computes q, k, v for one token and reads the cache.
"""

from __future__ import annotations

import torch
from torch import Tensor


class KVCache:
    """Pre-allocated (B, n_kv_heads, capacity, head_dim) buffers, one pair per layer.

    ``length`` slots are filled. Each layer calls :meth:`update` with its new keys and
    values; the model calls :meth:`advance` once all layers have seen the step.
    """

    def __init__(
        self,
        n_layers: int,
        batch_size: int,
        n_kv_heads: int,
        head_dim: int,
        capacity: int,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        shape = (batch_size, n_kv_heads, capacity, head_dim)
        self.k = [
            torch.zeros(shape, device=device, dtype=dtype) for _ in range(n_layers)
        ]
        self.v = [
            torch.zeros(shape, device=device, dtype=dtype) for _ in range(n_layers)
        ]
        self.batch_size, self.capacity, self.length = batch_size, capacity, 0

    def check_room(self, batch_size: int, n_new: int) -> None:
        if batch_size != self.batch_size:
            raise ValueError(
                f"batch size {batch_size} does not match the cache's {self.batch_size}"
            )
        if self.length + n_new > self.capacity:
            raise ValueError(
                f"KV cache full: {self.length} + {n_new} tokens > "
                f"capacity {self.capacity}"
            )

    def update(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store this step's k, v (B, Hkv, T, hd); return all keys and values so far."""
        end = self.length + k.shape[2]
        self.k[layer][:, :, self.length : end] = k
        self.v[layer][:, :, self.length : end] = v
        return self.k[layer][:, :, :end], self.v[layer][:, :, :end]

    def advance(self, n: int) -> None:
        self.length += n

    def reset(self) -> None:
        self.length = 0

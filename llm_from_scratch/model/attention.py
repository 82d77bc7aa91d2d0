"""Attention: every token mixes in the values of the tokens it finds relevant.

``scaled_dot_product_attention`` is the textbook formula; ``Attention`` wraps it with
the four projections, multiple heads, grouped-query attention, RoPE and the KV cache.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from llm_from_scratch.model.flash import flash_attention
from llm_from_scratch.model.kv_cache import KVCache
from llm_from_scratch.model.layers import Linear, softmax
from llm_from_scratch.model.rope import apply_rotary


def scaled_dot_product_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None
) -> Tensor:
    """softmax(q k^T / sqrt(d) masked) v.

    q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv); leading dims broadcast. ``mask``
    is boolean, broadcastable to (..., Tq, Tk), True where a query may attend a key.
    Dividing by sqrt(d) keeps the scores' variance near 1 whatever the head size, so
    the softmax does not saturate at initialisation.
    """
    scores = (q / math.sqrt(q.shape[-1])) @ k.mT  # scale q: T*d numbers, not T*T
    if mask is not None:
        if mask.dtype != torch.bool:
            raise TypeError(f"mask must be boolean (True = attend), got {mask.dtype}")
        scores = scores.masked_fill(~mask, float("-inf"))
    return softmax(scores.float(), dim=-1).to(v.dtype) @ v


def causal_mask(
    length: int, start: int = 0, device: torch.device | None = None
) -> Tensor:
    """(length, start + length) boolean mask: query i, at slot start + i, sees
    keys 0 .. start + i."""
    q_slots = torch.arange(start, start + length, device=device)
    k_slots = torch.arange(start + length, device=device)
    return k_slots[None, :] <= q_slots[:, None]


class Attention(nn.Module):
    """Multi-head causal self-attention with grouped-query attention.

    ``n_kv_heads`` key/value heads are shared by groups of ``n_heads / n_kv_heads``
    query heads: the KV cache shrinks by that factor at little cost in quality
    (Ainslie et al., 2023).
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        n_kv_heads: int,
        n_layers: int = 1,
        fast: bool | str = False,
        layer_idx: int = 0,
    ) -> None:
        super().__init__()
        self.n_heads, self.n_kv_heads = n_heads, n_kv_heads
        self.head_dim = d_model // n_heads
        self.fast, self.layer_idx = fast, layer_idx
        self.wq = Linear(d_model, n_heads * self.head_dim)
        self.wk = Linear(d_model, n_kv_heads * self.head_dim)
        self.wv = Linear(d_model, n_kv_heads * self.head_dim)
        self.wo = Linear(
            n_heads * self.head_dim, d_model, std=0.02 / math.sqrt(2 * n_layers)
        )

    def forward(
        self,
        x: Tensor,
        cos: Tensor,
        sin: Tensor,
        mask: Tensor | None,
        kv_cache: KVCache | None = None,
    ) -> Tensor:
        """x (B, T, d_model) -> (B, T, d_model). ``mask`` None means plain causal;
        else boolean (T, Tk) or (B, 1, T, Tk), True where a query may attend."""
        B, T, _ = x.shape
        hd, H, Hkv = self.head_dim, self.n_heads, self.n_kv_heads
        q = self.wq(x).view(B, T, H, hd).transpose(1, 2)  # (B, H, T, hd)
        k = self.wk(x).view(B, T, Hkv, hd).transpose(1, 2)  # (B, Hkv, T, hd)
        v = self.wv(x).view(B, T, Hkv, hd).transpose(1, 2)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        if kv_cache is not None:
            k, v = kv_cache.update(self.layer_idx, k, v)  # (B, Hkv, start + T, hd)
        if self.fast == "flash" and mask is None:  # our FlashAttention-2 (flash.py)
            out = flash_attention(q, k, v, causal=True)
        elif self.fast:  # PyTorch's fused kernels (also "flash" with an explicit mask)
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, is_causal=mask is None, enable_gqa=H != Hkv
            )
        else:
            if mask is None:
                mask = causal_mask(T, device=x.device)
            # the g query heads that share a kv head are stacked along time: one
            # matmul against that kv head, and no copies of k and v
            g = H // Hkv
            q = q.reshape(B, Hkv, g * T, hd)
            # (.., T, Tk) -> (.., g * T, Tk): query row j * T + t is slot t
            tile = (1,) * (mask.dim() - 2) + (g, 1)
            out = scaled_dot_product_attention(q, k, v, mask.repeat(*tile))
            out = out.view(B, H, T, hd)
        return self.wo(out.transpose(1, 2).reshape(B, T, H * hd))

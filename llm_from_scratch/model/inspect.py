"""Looking inside: the attention weights each head puts on earlier tokens."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from llm_from_scratch.model.attention import causal_mask
from llm_from_scratch.model.layers import softmax
from llm_from_scratch.model.rope import apply_rotary
from llm_from_scratch.model.transformer import Transformer


@torch.no_grad()
def attention_maps(model: Transformer, idx: Tensor) -> list[Tensor]:
    """One (B, n_heads, T, T) tensor of attention probabilities per layer.

    Replays the forward pass block by block and recomputes each layer's
    softmax(q k^T / sqrt(d)) from its own projections (pre-norm models only).
    """
    if model.config.norm_placement != "pre":
        raise ValueError("attention_maps follows the pre-norm forward pass")
    B, T = idx.shape
    cos, sin = model.rope.window(0, T)
    mask = causal_mask(T, device=idx.device)
    h, maps = model.tok_embeddings(idx), []
    for layer in model.layers:
        attn = layer.attention
        x = layer.attention_norm(h)
        q = attn.wq(x).view(B, T, attn.n_heads, attn.head_dim).transpose(1, 2)
        k = attn.wk(x).view(B, T, attn.n_kv_heads, attn.head_dim).transpose(1, 2)
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        k = k.repeat_interleave(attn.n_heads // attn.n_kv_heads, dim=1)
        scores = (q @ k.mT) / math.sqrt(attn.head_dim)
        maps.append(softmax(scores.masked_fill(~mask, float("-inf")), dim=-1))
        h = layer(h, cos, sin, None)
    return maps

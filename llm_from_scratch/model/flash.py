"""The idea behind FlashAttention: attention without the T x T matrix.

Keys and values are visited in blocks. For each query we keep a running maximum m,
a running softmax denominator l and a running weighted sum of values o; when a new
block raises the maximum, the old l and o are rescaled by exp(m_old - m_new). The
result is exact (not an approximation) while memory grows with T, not T^2. The real
kernel does the same with blocks held in GPU on-chip SRAM (Dao et al., 2022).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def blockwise_attention(
    q: Tensor, k: Tensor, v: Tensor, block_size: int = 64, causal: bool = True
) -> Tensor:
    """softmax(q k^T / sqrt(d)) v over key blocks with an online softmax.

    q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv). With ``causal`` the queries
    are the last Tq of the Tk positions (as during generation with a KV cache).
    """
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    Tq, Tk = q.shape[-2], k.shape[-2]
    q = q / math.sqrt(q.shape[-1])
    m = q.new_full(q.shape[:-1] + (1,), float("-inf"))  # running max
    l = q.new_zeros(q.shape[:-1] + (1,))  # running denominator
    o = q.new_zeros(q.shape[:-1] + (v.shape[-1],))  # running numerator
    q_pos = torch.arange(Tk - Tq, Tk, device=q.device)[:, None]
    for start in range(0, Tk, block_size):
        kb, vb = (
            k[..., start : start + block_size, :],
            v[..., start : start + block_size, :],
        )
        s = q @ kb.mT  # (..., Tq, block): the only scores ever held
        if causal:
            k_pos = torch.arange(start, start + kb.shape[-2], device=q.device)[None, :]
            s = s.masked_fill(k_pos > q_pos, float("-inf"))
        m_new = torch.maximum(m, s.amax(-1, keepdim=True))
        safe = torch.where(torch.isfinite(m_new), m_new, torch.zeros_like(m_new))
        p = torch.exp(s - safe)
        rescale = torch.exp(m - safe)  # shrinks what was summed under the old max
        l = l * rescale + p.sum(-1, keepdim=True)
        o = o * rescale + p @ vb
        m = m_new
    return o / l

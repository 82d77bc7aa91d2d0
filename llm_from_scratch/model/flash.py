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


# ---------------------------------------------------------------------------
# FlashAttention-2 (Dao, 2023): the same online softmax, now with a backward.
#
# Autograd through ``blockwise_attention`` would store every tile's scores, which
# is what FlashAttention exists to avoid. The forward below keeps, per query row,
# only the logsumexp L = m + log(l); the backward recomputes each tile's
# probabilities P = exp(S - L) from Q, K and L, so training saves Q, K, V, O and L:
# memory grows with T, not T^2. Notation: s = 1/sqrt(d), S = s Q K^T,
# P = softmax(S), O = P V, D = rowsum(dO * O) (Dao, 2023, Algorithms 1 and 2).
# Grouped-query attention: the g = H / Hkv query heads that share a key/value
# head are a separate axis, (B, Hkv, g, T, d), and K, V broadcast over it.
# ---------------------------------------------------------------------------


def _causal_tile(qs: int, qe: int, ks: int, ke: int, offset: int, device) -> Tensor:
    """(qe - qs, ke - ks) boolean, True where query row i (at position offset + i,
    the queries being the last Tq of Tk positions) may see key j: j <= offset + i."""
    rows = torch.arange(qs, qe, device=device)[:, None] + offset
    return torch.arange(ks, ke, device=device)[None, :] <= rows


def _key_end(qe: int, tk: int, offset: int, causal: bool) -> int:
    """Keys past the last query row's position are masked for every row of the
    query block: causal attention skips those key blocks (about half the work)."""
    return min(tk, offset + qe) if causal else tk


class FlashAttention2(torch.autograd.Function):
    """Tiled exact attention that saves O(T) numbers for the backward, not O(T^2).

    Use through :func:`flash_attention`. Tiles are computed in float32 (float64
    for float64 inputs) with autocast off; ragged last tiles are plain shorter
    slices, so any block sizes work.
    """

    @staticmethod
    def forward(ctx, q, k, v, causal: bool, block_q: int, block_k: int, scale: float):
        B, H, Tq, d = q.shape
        Hkv, Tk = k.shape[1], k.shape[2]
        acc = torch.float64 if q.dtype == torch.float64 else torch.float32
        offset = Tk - Tq
        with torch.autocast(q.device.type, enabled=False):
            qg = q.view(B, Hkv, H // Hkv, Tq, d).to(acc)  # (B, Hkv, g, Tq, d)
            kg, vg = k[:, :, None].to(acc), v[:, :, None].to(acc)  # (B, Hkv, 1, Tk, d)
            o = torch.empty(qg.shape[:-1] + (v.shape[-1],), dtype=acc, device=q.device)
            lse = torch.empty(qg.shape[:-1], dtype=acc, device=q.device)  # (.., Tq)
            for qs in range(0, Tq, block_q):
                qe = min(qs + block_q, Tq)
                qi = qg[..., qs:qe, :] * scale  # (B, Hkv, g, bq, d)
                m = qi.new_full(qi.shape[:-1], float("-inf"))  # running max (.., bq)
                l = qi.new_zeros(qi.shape[:-1])  # running denominator
                oi = qi.new_zeros(qi.shape[:-1] + (v.shape[-1],))  # running numerator
                for ks in range(0, _key_end(qe, Tk, offset, causal), block_k):
                    ke = min(ks + block_k, Tk)
                    s = qi @ kg[..., ks:ke, :].mT  # (B, Hkv, g, bq, bk): one tile
                    if causal:
                        tile = _causal_tile(qs, qe, ks, ke, offset, q.device)
                        s = s.masked_fill(~tile, float("-inf"))
                    m_new = torch.maximum(m, s.amax(-1))  # finite: key 0 is visible
                    p = torch.exp(s - m_new[..., None])
                    rescale = torch.exp(m - m_new)
                    l = l * rescale + p.sum(-1)
                    oi = oi * rescale[..., None] + p @ vg[..., ks:ke, :]
                    m = m_new
                o[..., qs:qe, :] = oi / l[..., None]
                lse[..., qs:qe] = m + torch.log(l)
        out = o.view(B, H, Tq, v.shape[-1]).to(q.dtype)
        lse = lse.view(B, H, Tq)
        ctx.save_for_backward(q, k, v, out, lse)  # all the backward needs
        ctx.settings = (causal, block_q, block_k, scale)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        q, k, v, out, lse = ctx.saved_tensors
        causal, block_q, block_k, scale = ctx.settings
        B, H, Tq, d = q.shape
        Hkv, Tk = k.shape[1], k.shape[2]
        g, acc, offset = H // Hkv, lse.dtype, Tk - Tq
        with torch.autocast(q.device.type, enabled=False):
            qg = q.view(B, Hkv, g, Tq, d).to(acc)
            kg, vg = k[:, :, None].to(acc), v[:, :, None].to(acc)
            do = grad_out.reshape(B, Hkv, g, Tq, -1).to(acc)  # (B, Hkv, g, Tq, dv)
            lse = lse.view(B, Hkv, g, Tq)
            D = (do * out.view(B, Hkv, g, Tq, -1).to(acc)).sum(-1)  # (.., Tq)
            dq = torch.zeros_like(qg)
            dk, dv = torch.zeros_like(kg), torch.zeros_like(vg)  # (B, Hkv, 1, Tk, d)
            for ks in range(0, Tk, block_k):  # outer loop: one key/value block
                ke = min(ks + block_k, Tk)
                kj, vj = kg[..., ks:ke, :], vg[..., ks:ke, :]  # (B, Hkv, 1, bk, d)
                first = max(0, ks - offset) if causal else 0  # rows that see block
                for qs in range(first, Tq, block_q):
                    qe = min(qs + block_q, Tq)
                    qi, doi = qg[..., qs:qe, :], do[..., qs:qe, :]
                    s = (qi * scale) @ kj.mT  # (B, Hkv, g, bq, bk)
                    if causal:
                        tile = _causal_tile(qs, qe, ks, ke, offset, q.device)
                        s = s.masked_fill(~tile, float("-inf"))
                    p = torch.exp(s - lse[..., qs:qe, None])  # P recomputed from L
                    dv[..., ks:ke, :] += (p.mT @ doi).sum(2, keepdim=True)  # P^T dO
                    dp = doi @ vj.mT  # dO V^T  (B, Hkv, g, bq, bk)
                    ds = p * (dp - D[..., qs:qe, None])  # softmax's backward
                    dq[..., qs:qe, :] += (ds @ kj) * scale
                    dk[..., ks:ke, :] += (ds.mT @ qi).sum(2, keepdim=True) * scale
        dq = dq.view(B, H, Tq, d).to(q.dtype)
        dk, dv = dk[:, :, 0].to(k.dtype), dv[:, :, 0].to(v.dtype)
        return dq, dk, dv, None, None, None, None


def flash_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    causal: bool = True,
    block_q: int = 64,
    block_k: int = 64,
    scale: float | None = None,
) -> Tensor:
    """softmax(s q k^T, masked) v with FlashAttention-2's tiled forward and backward.

    q (B, H, Tq, d), k (B, Hkv, Tk, d), v (B, Hkv, Tk, dv) -> (B, H, Tq, dv), in
    q's dtype; H a multiple of Hkv (grouped-query attention); s = 1/sqrt(d) unless
    ``scale`` is given. With ``causal`` the queries are the last Tq of the Tk
    positions (Tq <= Tk), as with a KV cache. Saved for the backward: q, k, v, the
    output and the per-row logsumexp (B, H, Tq).
    """
    # region checks
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ValueError(
            "q, k, v must be 4-d (B, H, T, d), got "
            f"{tuple(q.shape)}, {tuple(k.shape)}, {tuple(v.shape)}"
        )
    B, H, Tq, d = q.shape
    if k.shape[0] != B or k.shape[3] != d or v.shape[:3] != k.shape[:3]:
        raise ValueError(
            f"k {tuple(k.shape)} and v {tuple(v.shape)} do not fit q {tuple(q.shape)}"
        )
    if H % k.shape[1]:
        raise ValueError(f"query heads ({H}) must be a multiple of kv heads "
                         f"({k.shape[1]})")
    if causal and Tq > k.shape[2]:
        raise ValueError(f"causal attention needs Tq <= Tk, got {Tq} > {k.shape[2]}")
    for name, size in (("block_q", block_q), ("block_k", block_k)):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"{name} must be a positive int, got {size!r}")
    # endregion
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    return FlashAttention2.apply(q.contiguous(), k, v, causal, block_q, block_k, scale)

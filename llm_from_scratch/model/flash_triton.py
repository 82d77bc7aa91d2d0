"""FlashAttention-2's forward as one Triton GPU kernel (CUDA only).

The algorithm is ``flash.py``'s forward, but each program of the grid owns one
block of queries of one (batch, head) and keeps its running max m, denominator l
and output accumulator in registers, while key/value blocks stream through on-chip
memory: Q, K and V are read from GPU memory once, and the T x T scores never
exist anywhere. The backward reuses ``FlashAttention2``'s tiled PyTorch backward
(the same saved tensors: Q, K, V, O, L).

Importing this module never needs Triton; calling it without Triton or without a
CUDA tensor raises an error that says so. Status: written against Triton's
documented API and tested only where a GPU is lent (``tests/test_model_flash.py``
skips the test elsewhere); ``ModelConfig(fast="flash")`` does not use it yet.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from llm_from_scratch.model.flash import FlashAttention2

try:
    import triton
    import triton.language as tl
except ImportError:  # CPU machines: the kernel is simply not defined
    triton = None

HEAD_DIMS = (16, 32, 64, 128)  # tl.dot needs power-of-two tiles of at least 16


def available() -> bool:
    """True where the Triton kernel can run (Triton installed and a CUDA GPU)."""
    return triton is not None and torch.cuda.is_available()


if triton is not None:

    @triton.jit
    def _flash_forward_kernel(
        Q, K, V, O, L, scale,
        sqb, sqh, sqt, skb, skh, skt, svb, svh, svt, sob, soh, sot,
        H, G, TQ, TK, OFFSET,
        CAUSAL: tl.constexpr, BLOCK_Q: tl.constexpr, BLOCK_K: tl.constexpr,
        D: tl.constexpr,
    ):
        pid_q, bh = tl.program_id(0), tl.program_id(1)
        b, h = bh // H, bh % H
        hkv = h // G  # grouped-query attention: g query heads share a kv head
        rows = pid_q * BLOCK_Q + tl.arange(0, BLOCK_Q)  # (BLOCK_Q,)
        dims = tl.arange(0, D)
        row_ok = rows[:, None] < TQ
        q = tl.load(Q + b * sqb + h * sqh + rows[:, None] * sqt + dims[None, :],
                    mask=row_ok, other=0.0)
        m = tl.full([BLOCK_Q], float("-inf"), tl.float32)  # running max
        l = tl.zeros([BLOCK_Q], tl.float32)  # running denominator
        acc = tl.zeros([BLOCK_Q, D], tl.float32)  # running numerator
        k_base, v_base = K + b * skb + hkv * skh, V + b * svb + hkv * svh
        # causal: keys after the block's last query position are never seen
        last = tl.minimum(TK, OFFSET + (pid_q + 1) * BLOCK_Q)
        hi = TK - (TK - last) * CAUSAL
        for start in range(0, hi, BLOCK_K):
            cols = start + tl.arange(0, BLOCK_K)
            col_ok = cols[:, None] < TK
            k = tl.load(k_base + cols[:, None] * skt + dims[None, :], mask=col_ok,
                        other=0.0)
            s = tl.dot(q, tl.trans(k)) * scale  # (BLOCK_Q, BLOCK_K) on chip
            valid = cols[None, :] < TK
            if CAUSAL:
                valid = valid & (cols[None, :] <= rows[:, None] + OFFSET)
            s = tl.where(valid, s, float("-inf"))
            m_new = tl.maximum(m, tl.max(s, 1))  # finite: key 0 is always seen
            p = tl.exp(s - m_new[:, None])
            rescale = tl.exp(m - m_new)
            l = l * rescale + tl.sum(p, 1)
            v = tl.load(v_base + cols[:, None] * svt + dims[None, :], mask=col_ok,
                        other=0.0)
            acc = acc * rescale[:, None] + tl.dot(p.to(v.dtype), v)
            m = m_new
        acc = acc / l[:, None]
        tl.store(O + b * sob + h * soh + rows[:, None] * sot + dims[None, :],
                 acc.to(O.dtype.element_ty), mask=row_ok)
        tl.store(L + bh * TQ + rows, m + tl.log(l), mask=rows < TQ)


def triton_flash_forward(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = True, scale: float | None = None,
    block_q: int = 64, block_k: int = 64,
) -> tuple[Tensor, Tensor]:
    """(O (B, H, Tq, d) in q's dtype, L (B, H, Tq) float32) from one kernel launch.

    q (B, H, Tq, d), k and v (B, Hkv, Tk, d) on CUDA, d in ``HEAD_DIMS``; the
    same conventions as ``flash.flash_attention``.
    """
    if triton is None:
        raise RuntimeError("triton_flash_forward needs the triton package")
    if not q.is_cuda:
        raise RuntimeError(f"triton_flash_forward needs CUDA tensors, got {q.device}")
    B, H, Tq, d = q.shape
    Hkv, Tk = k.shape[1], k.shape[2]
    if d not in HEAD_DIMS or v.shape[-1] != d:
        raise ValueError(f"head size must be one of {HEAD_DIMS} for q, k and v, "
                         f"got {d} and {v.shape[-1]}")
    if H % Hkv or (causal and Tq > Tk):
        raise ValueError(f"need H % Hkv == 0 and, if causal, Tq <= Tk; got H={H}, "
                         f"Hkv={Hkv}, Tq={Tq}, Tk={Tk}")
    q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    o = torch.empty_like(q)
    lse = torch.empty(B, H, Tq, device=q.device, dtype=torch.float32)
    scale = 1.0 / math.sqrt(d) if scale is None else float(scale)
    grid = (triton.cdiv(Tq, block_q), B * H)
    _flash_forward_kernel[grid](
        q, k, v, o, lse, scale,
        q.stride(0), q.stride(1), q.stride(2), k.stride(0), k.stride(1), k.stride(2),
        v.stride(0), v.stride(1), v.stride(2), o.stride(0), o.stride(1), o.stride(2),
        H, H // Hkv, Tq, Tk, Tk - Tq,
        CAUSAL=int(causal), BLOCK_Q=block_q, BLOCK_K=block_k, D=d,
    )
    return o, lse


class TritonFlashAttention(torch.autograd.Function):
    """The Triton forward with ``FlashAttention2``'s tiled backward."""

    @staticmethod
    def forward(ctx, q, k, v, causal: bool, scale: float | None):
        scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
        out, lse = triton_flash_forward(q, k, v, causal, scale)
        ctx.save_for_backward(q.contiguous(), k, v, out, lse)
        ctx.settings = (causal, 128, 128, scale)  # the backward's tile sizes
        return out

    @staticmethod
    def backward(ctx, grad_out):
        dq, dk, dv = FlashAttention2.backward(ctx, grad_out)[:3]
        return dq, dk, dv, None, None


def triton_flash_attention(
    q: Tensor, k: Tensor, v: Tensor, causal: bool = True, scale: float | None = None
) -> Tensor:
    """Attention (B, H, Tq, d) with the Triton forward; differentiable."""
    return TritonFlashAttention.apply(q, k, v, causal, scale)

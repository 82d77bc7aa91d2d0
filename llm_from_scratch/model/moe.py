"""Mixture of experts: each token uses k of E SwiGLU feed-forwards.

A router (a linear map d -> E) scores the experts for each token; softmax
turns the scores into probabilities p (N, E); the k largest are kept and
renormalised to sum to 1 (Mixtral, Jiang et al., 2024), and the token's
output is the weighted sum of its k experts' outputs. Parameters grow with E,
compute per token only with k.

A router left alone sends most tokens to a few experts. The Switch
Transformer's auxiliary loss (Fedus et al., 2022) pushes towards balance::

    aux = E * sum_i f_i * P_i

f_i: the fraction of the N*k token-to-expert assignments that go to expert i
(not differentiable), P_i: the mean router probability of expert i over the
N tokens. For perfectly uniform routing f_i = P_i = 1/E and aux = 1.

Capacity: by default the layer is *dropless* (every assignment is computed,
as in MegaBlocks and Mixtral's inference). With ``capacity_factor`` set, an
expert takes at most ``ceil(capacity_factor * N * k / E)`` assignments per
batch, in token order, and drops the rest (Switch): a dropped assignment adds
nothing, the residual connection carries the token past the layer.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from llm_from_scratch.model.layers import FeedForward, Linear, softmax


class Router(nn.Module):
    """Scores -> softmax -> top-k, renormalised. Returns (weights, experts, probs)."""

    def __init__(self, d_model: int, n_experts: int, top_k: int) -> None:
        super().__init__()
        if not 1 <= top_k <= n_experts:
            raise ValueError(f"top_k must be in [1, {n_experts}], got {top_k}")
        self.n_experts, self.top_k = n_experts, top_k
        self.gate = Linear(d_model, n_experts)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """x (N, d) -> weights (N, k) float32, experts (N, k) int64, probs (N, E)."""
        probs = softmax(self.gate(x).float(), dim=-1)
        top, experts = probs.topk(self.top_k, dim=-1)
        return top / top.sum(-1, keepdim=True), experts, probs


def load_balancing_loss(probs: Tensor, experts: Tensor, n_experts: int) -> Tensor:
    """Switch's E * sum_i f_i P_i from probs (N, E) and chosen experts (N, k)."""
    counts = torch.bincount(experts.reshape(-1), minlength=n_experts)
    f = counts.to(probs.dtype) / experts.numel()
    return n_experts * (f * probs.mean(0)).sum()


def capacity(n_tokens: int, top_k: int, n_experts: int, factor: float) -> int:
    """Assignments an expert accepts per batch: ceil(factor * N * k / E)."""
    return math.ceil(factor * n_tokens * top_k / n_experts)


class MoEFeedForward(nn.Module):
    """Top-k routed SwiGLU experts; drop-in for ``FeedForward`` on (B, T, d).

    After each forward: ``aux_loss`` (scalar, differentiable in the router),
    ``load`` (E,) assignments each expert received and ``dropped`` (the
    fraction of assignments over capacity, 0 when dropless).
    """

    def __init__(
        self,
        d_model: int,
        hidden: int,
        n_experts: int,
        top_k: int = 2,
        n_layers: int = 1,
        capacity_factor: float | None = None,
    ) -> None:
        super().__init__()
        if capacity_factor is not None and not capacity_factor > 0:
            raise ValueError(f"capacity_factor must be > 0, got {capacity_factor}")
        self.n_experts, self.top_k = n_experts, top_k
        self.capacity_factor = capacity_factor
        self.router = Router(d_model, n_experts, top_k)
        self.experts = nn.ModuleList(
            FeedForward(d_model, hidden, n_layers) for _ in range(n_experts)
        )
        self.aux_loss: Tensor | None = None
        self.load: Tensor | None = None
        self.dropped = 0.0

    def forward(self, x: Tensor) -> Tensor:
        shape = x.shape
        flat = x.reshape(-1, shape[-1])  # (N, d)
        weights, experts, probs = self.router(flat)
        self.aux_loss = load_balancing_loss(probs, experts, self.n_experts)
        keep = self.within_capacity(experts)
        out = torch.zeros_like(flat)
        load = []
        for e, expert in enumerate(self.experts):
            rows, slot = torch.nonzero((experts == e) & keep, as_tuple=True)
            load.append(rows.numel())
            if rows.numel() == 0:
                continue
            w = weights[rows, slot].to(flat.dtype)[:, None]
            out.index_add_(0, rows, expert(flat[rows]) * w)
        self.load = torch.tensor(load)
        self.dropped = 1.0 - float(keep.float().mean())
        return out.view(shape)

    def within_capacity(self, experts: Tensor) -> Tensor:
        """(N, k) bool: which assignments fit their expert's capacity.

        Assignments are counted in token order (slot 0 of every token before
        slot 1, as Switch and GShard do), so the first choices survive first.
        """
        if self.capacity_factor is None:
            return torch.ones_like(experts, dtype=torch.bool)
        limit = capacity(experts.shape[0], self.top_k, self.n_experts,
                         self.capacity_factor)
        order = experts.mT.reshape(-1)  # slot-major: (k * N,)
        onehot = nn.functional.one_hot(order, self.n_experts)
        position = (onehot.cumsum(0) * onehot).sum(-1)  # 1-based rank in expert
        return (position <= limit).view(self.top_k, -1).mT


def moe_active_parameters(d_model: int, hidden: int, n_experts: int,
                          top_k: int) -> int:
    """Matmul weights one token uses in an MoE layer: router + k experts."""
    return d_model * n_experts + top_k * 3 * d_model * hidden

"""Expert parallelism: each rank holds E / W of the experts; tokens travel.

Data parallelism gives every rank its own tokens. With an MoE layer the
router (replicated, as small as one linear map) picks experts for each token;
the tokens whose expert lives on another rank are sent there, computed, and
sent back, with two all-to-all exchanges per layer (GShard, Lepikhin et al.,
2021; Switch, Fedus et al., 2022)::

    route locally -> sort assignments by owner rank -> all-to-all (tokens)
    -> local experts -> all-to-all back -> weight and add up per token

``all_to_all_single`` with uneven splits moves a different number of rows to
each rank; its backward is the same exchange with the splits swapped, so the
gradient of a token's vector returns to the rank it came from.

This layer is dropless (no capacity limit): every assignment is computed, so
its result equals one process running ``MoEFeedForward`` on all ranks' tokens
(``expert_parallel_check`` proves it, outputs and gradients). The balancing
loss uses the counts of all ranks (an all-reduce), so the ranks' shares add
up to the one-process loss; the router's gradient must then be summed over
ranks, as for any replicated weight.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from llm_from_scratch.model.moe import MoEFeedForward


class _AllToAll(torch.autograd.Function):
    """Rows ``x`` (sum(send), d) -> (sum(recv), d); backward swaps the splits."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, x: Tensor, send: list[int], recv: list[int]
    ) -> Tensor:
        ctx.send, ctx.recv = send, recv
        out = x.new_empty((sum(recv), *x.shape[1:]))
        dist.all_to_all_single(out, x.contiguous(), recv, send)
        return out

    @staticmethod
    def backward(  # type: ignore[override]
        ctx, g: Tensor
    ) -> tuple[Tensor, None, None]:
        grad = g.new_empty((sum(ctx.send), *g.shape[1:]))
        dist.all_to_all_single(grad, g.contiguous(), ctx.send, ctx.recv)
        return grad, None, None


def all_to_all(x: Tensor, send: list[int], recv: list[int]) -> Tensor:
    """Differentiable uneven all-to-all of the rows of ``x``."""
    return _AllToAll.apply(x, send, recv)


class ExpertParallelMoE(nn.Module):
    """The experts ``[rank * E / W, (rank + 1) * E / W)`` of ``moe`` on this rank.

    ``moe`` is the full layer (same seed on every rank); this module keeps its
    router and only the local experts. forward: (B, T, d) -> (B, T, d).
    """

    def __init__(self, moe: MoEFeedForward, rank: int, world_size: int) -> None:
        super().__init__()
        if moe.n_experts % world_size:
            raise ValueError(
                f"{moe.n_experts} experts do not split over {world_size} ranks"
            )
        if moe.capacity_factor is not None:
            raise ValueError("expert parallelism here is dropless: no capacity")
        self.rank, self.world_size = rank, world_size
        self.n_experts, self.top_k = moe.n_experts, moe.top_k
        self.per_rank = per = moe.n_experts // world_size
        self.router = moe.router
        self.experts = nn.ModuleList(moe.experts[rank * per : (rank + 1) * per])
        self.aux_loss: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        shape, W, per = x.shape, self.world_size, self.per_rank
        flat = x.reshape(-1, shape[-1])
        weights, experts, probs = self.router(flat)
        self.aux_loss = self._aux_share(probs, experts)
        # one row per (token, slot), sorted by expert: hence by owner rank
        expert_ids = experts.reshape(-1)
        order = torch.argsort(expert_ids, stable=True)
        token_of = order // self.top_k
        owner = expert_ids[order] // per
        send = torch.bincount(owner, minlength=W)
        recv = torch.empty_like(send)
        dist.all_to_all_single(recv, send)  # how many rows come from each rank
        send_l, recv_l = send.tolist(), recv.tolist()
        local = (expert_ids[order] % per)[:, None]
        local_ids = all_to_all(local, send_l, recv_l)[:, 0]  # expert of each row
        inbox = all_to_all(flat[token_of], send_l, recv_l)  # (R, d)
        done = torch.zeros_like(inbox)
        for e, expert in enumerate(self.experts):
            rows = torch.nonzero(local_ids == e, as_tuple=True)[0]
            if rows.numel():
                done = done.index_add(0, rows, expert(inbox[rows]))
        back = all_to_all(done, recv_l, send_l)  # (A, d) in ``order``
        w = weights.reshape(-1)[order].to(flat.dtype)[:, None]
        out = torch.zeros_like(flat).index_add(0, token_of, back * w)
        return out.view(shape)

    def _aux_share(self, probs: Tensor, experts: Tensor) -> Tensor:
        """This rank's share of E * sum_i f_i P_i over all ranks' tokens."""
        counts = torch.bincount(experts.reshape(-1), minlength=self.n_experts)
        total = torch.tensor([float(experts.shape[0])])
        counts = counts.to(probs.dtype)
        dist.all_reduce(counts)
        dist.all_reduce(total)
        f = counts / (total * self.top_k)
        return self.n_experts * (f * probs.sum(0) / total).sum()


def expert_parallel_check(rank: int, world_size: int, seed: int = 0,
                          tokens: int = 12, d_model: int = 16, hidden: int = 24,
                          n_experts: int = 4, top_k: int = 2) -> dict[str, Any]:
    """Run under ``run_parallel``: this rank's outputs and gradients, plus the
    one-process reference computed on every rank's tokens (same seeds).

    The loss is sum(out^2) / 2 + aux. Returns max absolute differences of the
    outputs, the local experts' gradients and the (summed) router gradient.
    """
    torch.manual_seed(seed)
    reference = MoEFeedForward(d_model, hidden, n_experts, top_k)
    torch.manual_seed(seed)
    moe = MoEFeedForward(d_model, hidden, n_experts, top_k)
    gen = torch.Generator().manual_seed(seed + 1)
    x_all = torch.randn(world_size, tokens, d_model, generator=gen)
    ours = ExpertParallelMoE(moe, rank, world_size)
    out = ours(x_all[rank][None])
    (out.square().sum() / 2 + ours.aux_loss).backward()
    router_grad = ours.router.gate.weight.grad.clone()
    dist.all_reduce(router_grad)
    ref_out = reference(x_all.reshape(1, -1, d_model))
    (ref_out.square().sum() / 2 + reference.aux_loss).backward()
    per = n_experts // world_size
    local = reference.experts[rank * per : (rank + 1) * per]
    expert_diff = max(
        float((p.grad - q.grad).abs().max())
        for a, b in zip(ours.experts, local)
        for p, q in zip(a.parameters(), b.parameters())
    )
    return {
        "output": float((out[0] - ref_out[0, rank * tokens:(rank + 1) * tokens])
                        .abs().max()),
        "experts": expert_diff,
        "router": float((router_grad - reference.router.gate.weight.grad).abs().max()),
    }

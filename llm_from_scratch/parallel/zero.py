"""ZeRO from scratch: shard optimizer state, then gradients, then parameters.

Data parallelism keeps ``p`` identical copies of everything. Mixed-precision
Adam needs ~16 bytes per parameter, 12 of them optimizer state that each
rank only uses to update the same numbers as every other rank. ZeRO
(Rajbhandari et al., 2020) removes the redundancy in three stages:

* **ZeRO-1** (``ZeroOptimizer(stage=1)``): rank ``r`` keeps Adam state for
  only the ``r``-th ``1/p`` piece of each parameter. At ``step()`` the
  gradients are reduce-scattered (each rank receives the sum of its pieces
  only), the pieces updated and all-gathered: together the volume of the
  one all-reduce DDP does.
* **ZeRO-2** (``stage=2``): the same, but each gradient is reduce-scattered
  (and freed) by a hook the moment backward produces it, so a rank never
  holds more than one full gradient, only its ``1/p`` pieces. (DeepSpeed
  does this per bucket, overlapped with backward; we go one tensor at a
  time, synchronously, to keep it short.)
* **ZeRO-3 / FSDP** (``FullyShardedUnit``): parameters are sharded too. A
  unit (one transformer block) all-gathers its weights just before its
  forward, drops them after, all-gathers them again for backward, and
  reduce-scatters the gradient back to the shards.

Each rank's slice of the master weights is fp32; ``FullyShardedUnit`` can
compute in a lower precision (``compute_dtype=torch.bfloat16``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.checkpoint import checkpoint

from llm_from_scratch.parallel.collectives import all_gather, reduce_scatter


def _padded(numel: int, world: int) -> int:
    return numel + (-numel) % world


def _flatten(params: list[torch.Tensor], world: int) -> torch.Tensor:
    flat = torch.cat([p.detach().reshape(-1).float() for p in params])
    pad = _padded(flat.numel(), world) - flat.numel()
    return torch.cat([flat, flat.new_zeros(pad)])


class ZeroOptimizer:
    """ZeRO-1/2 around any optimizer class, e.g. ``torch.optim.AdamW``.

    Each parameter is flattened, padded to a multiple of ``p`` and cut into
    ``p`` pieces; rank ``r`` owns piece ``r`` of every parameter (the layout
    FSDP2 uses), as an fp32 copy with its optimizer state. ``params`` may be
    parameters or param-group dicts, so per-group settings such as
    ``weight_decay`` still apply. The model must be replicated (the same
    initial weights on every rank), and every rank must produce gradients
    for the same parameters.
    """

    def __init__(
        self,
        params: Iterable[Any],
        optimizer_cls: Callable[..., torch.optim.Optimizer],
        stage: int = 1,
        **defaults: Any,
    ) -> None:
        if stage not in (1, 2):
            raise ValueError(f"stage must be 1 or 2 (3: FullyShardedUnit), got {stage}")
        self.stage = stage
        self.world, self.rank = dist.get_world_size(), dist.get_rank()
        groups = list(params)
        if groups and not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        self.params: list[nn.Parameter] = []
        self.pieces: list[nn.Parameter] = []
        piece_groups, seen = [], set()
        for group in groups:
            ps = [p for p in group["params"] if p.requires_grad and id(p) not in seen]
            seen.update(id(p) for p in ps)
            if not ps:
                raise ValueError("a parameter group has no trainable parameters")
            pieces = [nn.Parameter(self._my_piece(p.detach().float())) for p in ps]
            self.params += ps
            self.pieces += pieces
            options = {k: v for k, v in group.items() if k != "params"}
            piece_groups.append({"params": pieces, **options})
        self.optimizer = optimizer_cls(piece_groups, **defaults)
        self._piece_of = {id(p): q for p, q in zip(self.params, self.pieces)}
        if stage == 2:
            for p in self.params:
                p.register_post_accumulate_grad_hook(self._reduce_grad)

    def _my_piece(self, t: torch.Tensor) -> torch.Tensor:
        flat = _flatten([t], self.world)
        n = flat.numel() // self.world
        return flat[self.rank * n : (self.rank + 1) * n].clone()

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """The inner optimizer's groups (learning-rate schedules set ``lr`` here)."""
        return self.optimizer.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        for t in self.params + self.pieces:
            t.grad = None

    @torch.no_grad()
    def _reduce_grad(self, p: torch.Tensor) -> None:
        """Reduce-scatter ``p.grad``: keep (add) this rank's averaged piece,
        free the full gradient. ZeRO-2 calls it from a hook as soon as the
        gradient exists, so full gradients never pile up."""
        piece = self._piece_of[id(p)]
        out = torch.empty_like(piece)
        reduce_scatter(out, _flatten([p.grad], self.world))
        out /= self.world
        piece.grad = out if piece.grad is None else piece.grad + out
        p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        if self.stage == 1:  # ZeRO-1: full gradients were kept until now
            for p in self.params:
                if p.grad is not None:
                    self._reduce_grad(p)
        self.optimizer.step()
        for p, piece in zip(self.params, self.pieces):
            full = torch.empty(piece.numel() * self.world, device=piece.device)
            all_gather(full, piece.detach())
            p.copy_(full[: p.numel()].view_as(p))

    def state_bytes(self) -> int:
        """Bytes of optimizer state held by this rank (for memory tables)."""
        return sum(
            t.numel() * t.element_size()
            for state in self.optimizer.state.values()
            for t in state.values()
            if torch.is_tensor(t)
        )


def _own_modules(module: nn.Module) -> list[nn.Module]:
    """``module`` and its descendants, not descending into inner units
    (their weights are already sharded by them)."""
    found, stack = [], [module]
    while stack:
        mod = stack.pop()
        found.append(mod)
        stack.extend(
            c for c in reversed(list(mod.children()))
            if not isinstance(c, FullyShardedUnit)
        )
    return found


class _GatherParams(torch.autograd.Function):
    """Forward: all-gather the flat parameters. Backward: reduce-scatter
    (and average) their gradient back to this rank's shard."""

    @staticmethod
    def forward(ctx: Any, shard: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        world = dist.get_world_size()
        full = torch.empty(shard.numel() * world, dtype=dtype, device=shard.device)
        all_gather(full, shard.detach().to(dtype))
        return full

    @staticmethod
    def backward(ctx: Any, grad_full: torch.Tensor) -> tuple[torch.Tensor, None]:
        world = dist.get_world_size()
        grad = torch.empty(grad_full.numel() // world, device=grad_full.device)
        reduce_scatter(grad, grad_full.float().contiguous())
        return grad / world, None


class FullyShardedUnit(nn.Module):
    """ZeRO-3: keep only ``1/p`` of ``module``'s trainable weights per rank.

    The weights are removed from ``module``; on each call they are gathered
    into one flat tensor and set on the submodules as plain tensors (views of
    it), so autograd routes their gradients back through ``_GatherParams``.
    With ``reshard=True`` the call runs under activation checkpointing: the
    gathered weights (and the unit's activations) are dropped after forward
    and recomputed, with a second all-gather, during backward. Real FSDP
    keeps the activations and only re-gathers weights; the memory saved on
    parameters is the same. Frozen parameters stay replicated (cast to
    ``compute_dtype``).
    """

    def __init__(
        self,
        module: nn.Module,
        reshard: bool = True,
        compute_dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        self.module, self.reshard, self.compute_dtype = module, reshard, compute_dtype
        world, rank = dist.get_world_size(), dist.get_rank()
        self.slots: list[tuple[nn.Module, str, int, torch.Size]] = []
        offsets: dict[int, int] = {}
        unique: list[nn.Parameter] = []
        total = 0
        for mod in _own_modules(module):
            for name, p in list(mod.named_parameters(recurse=False)):
                if not p.requires_grad:  # frozen: replicated, in the compute dtype
                    p.data = p.data.to(compute_dtype)
                    continue
                if id(p) not in offsets:  # tied weights share one slot
                    offsets[id(p)] = total
                    unique.append(p)
                    total += p.numel()
                self.slots.append((mod, name, offsets[id(p)], p.shape))
        if not unique:
            raise ValueError("module has no trainable parameters to shard")
        self.numel = total
        n = _padded(total, world) // world
        self.shard = nn.Parameter(_flatten(unique, world)[rank * n : (rank + 1) * n])
        for mod, name, _, _ in self.slots:
            if name in mod._parameters:
                del mod._parameters[name]
            setattr(mod, name, None)

    def _materialise(self, shard: torch.Tensor) -> None:
        full = _GatherParams.apply(shard, self.compute_dtype)
        for mod, name, offset, shape in self.slots:
            setattr(mod, name, full[offset : offset + shape.numel()].view(shape))

    def _run(self, shard: torch.Tensor, *args: Any) -> Any:
        self._materialise(shard)
        try:
            return self.module(*args)
        finally:
            if self.reshard:  # drop the references to the gathered weights
                for mod, name, _, _ in self.slots:
                    setattr(mod, name, None)

    def forward(self, *args: Any) -> Any:
        if self.reshard and torch.is_grad_enabled():
            return checkpoint(self._run, self.shard, *args, use_reentrant=False)
        return self._run(self.shard, *args)

    @torch.no_grad()
    def full_parameters(self) -> dict[str, torch.Tensor]:
        """Gather the unit's weights (fp32), keyed by name inside ``module``."""
        full = torch.empty(self.shard.numel() * dist.get_world_size(),
                           device=self.shard.device)
        all_gather(full, self.shard.detach())
        names = {id(m): n for n, m in self.module.named_modules()}
        return {
            (names[id(mod)] + "." if names[id(mod)] else "") + name: (
                full[offset : offset + shape.numel()].view(shape).clone()
            )
            for mod, name, offset, shape in self.slots
        }


def fully_shard_transformer(
    model: nn.Module, compute_dtype: torch.dtype = torch.float32
) -> FullyShardedUnit:
    """One unit per block in ``model.layers`` plus a root unit for the rest
    (embeddings, final norm, output), which stays gathered between forward
    and backward like FSDP2's root."""
    for i, block in enumerate(model.layers):
        model.layers[i] = FullyShardedUnit(block, compute_dtype=compute_dtype)
    return FullyShardedUnit(model, reshard=False, compute_dtype=compute_dtype)

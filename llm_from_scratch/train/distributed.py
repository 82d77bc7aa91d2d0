"""Running the same loop under ``torchrun``: one process per device.

``torchrun --nproc_per_node=N`` starts N copies of the program and tells each
its ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` through the environment. Each
process joins a process group (NCCL between GPUs, gloo on CPU), draws its own
batches, and DistributedDataParallel averages the gradients, so every copy of
the model takes the same step. Without those variables the loop runs alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits among the ``world_size`` processes."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """Only the main process writes files and prints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def dist_info_from_env() -> DistInfo:
    """Read torchrun's variables (absent: a single process)."""
    try:
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError as e:
        raise ValueError(f"RANK/LOCAL_RANK/WORLD_SIZE must be integers: {e}") from None
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"RANK={rank} must be in [0, WORLD_SIZE={world_size})")
    return DistInfo(rank=rank, local_rank=local_rank, world_size=world_size)


def setup_distributed(info: DistInfo, device: torch.device) -> None:
    """Join the process group when running under torchrun (idempotent)."""
    if not info.distributed or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size)


def mean_across(value: float, info: DistInfo, device: torch.device) -> float:
    """Average a Python number over all processes (itself when alone)."""
    if not info.distributed:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t.item()) / info.world_size


def barrier(info: DistInfo) -> None:
    if info.distributed and dist.is_initialized():
        dist.barrier()

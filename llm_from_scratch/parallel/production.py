"""The production path: the same schemes on PyTorch's distributed engine.

What the from-scratch modules build, ``torch.distributed`` ships, tuned and
tested at scale:

* ``DistributedDataParallel``: bucketed, overlapped gradient all-reduce;
* FSDP2 (``fully_shard``): ZeRO-3 on DTensors, one unit per block, with a
  ``MixedPrecisionPolicy`` for bf16 compute and fp32 reduction;
* DTensor tensor parallelism (``parallelize_module`` with ``ColwiseParallel``
  and ``RowwiseParallel``): the Megatron plan written as a dictionary;
* ``torch.distributed.pipelining``: stages, micro-batches and the GPipe/1F1B
  schedules, driving the same stage modules as our from-scratch pipeline.

``ddp``, ``fsdp`` and ``tensor_parallel`` have the ``wrap_model(model, device)``
signature that the training loop accepts; a pipeline instead changes who holds
what, so ``torch_pipeline`` returns a schedule that ``torch_pipeline_step`` runs.
All work on CPU with gloo and on GPUs with nccl; the process group must already
exist (``torchrun`` or ``run_parallel``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard
from torch.distributed.tensor import DTensor, Replicate
from torch.distributed.tensor.parallel import (
    ColwiseParallel,
    RowwiseParallel,
    parallelize_module,
)


def ddp(model: nn.Module, device: torch.device) -> nn.Module:
    """PyTorch's DistributedDataParallel around ``model``."""
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def fsdp(
    model: nn.Module, device: torch.device, param_dtype: torch.dtype | None = None
) -> nn.Module:
    """FSDP2: shard each block, then the root (embeddings, norm, output).

    Parameters are replaced by sharded DTensors, so build the optimizer
    *after* calling this. ``param_dtype=torch.bfloat16`` computes in bf16 and
    reduces gradients in fp32.
    """
    policy = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=torch.float32)
    for block in model.layers:
        fully_shard(block, mp_policy=policy)
    fully_shard(model, mp_policy=policy)
    return model


def _to_torch_layers(model: nn.Module) -> None:
    """DTensor's plans apply to ``nn.Linear``/``nn.Embedding``: swap the book's
    identical layers for them, keeping the very same weight tensors."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            kind = type(child).__name__
            if kind == "Linear" and not isinstance(child, nn.Linear):
                new = nn.Linear(child.in_features, child.out_features, bias=False)
            elif kind == "Embedding" and not isinstance(child, nn.Embedding):
                new = nn.Embedding(*child.weight.shape)
            else:
                continue
            new.weight = child.weight
            setattr(module, name, new)


def tensor_parallel(model: nn.Module, device: torch.device) -> nn.Module:
    """Megatron-style TP with DTensor over all ranks of the group.

    Every rank must feed the *same* batch. The output layer gathers the
    logits (``Replicate``) so the usual loss applies; a vocabulary-parallel
    loss (``loss_parallel``) would avoid that gather.
    """
    world = dist.get_world_size()
    cfg = model.config
    if cfg.n_kv_heads % world:
        raise ValueError(f"n_kv_heads ({cfg.n_kv_heads}) must be divisible by {world}")
    mesh = init_device_mesh(device.type, (world,))
    tied = model.output.weight is model.tok_embeddings.weight
    _to_torch_layers(model)
    block_plan = {
        "attention.wq": ColwiseParallel(),
        "attention.wk": ColwiseParallel(),
        "attention.wv": ColwiseParallel(),
        "attention.wo": RowwiseParallel(),
        "feed_forward.w1": ColwiseParallel(),
        "feed_forward.w3": ColwiseParallel(),
        "feed_forward.w2": RowwiseParallel(),
    }
    for block in model.layers:
        parallelize_module(block, mesh, block_plan)
        block.attention.n_heads //= world
        block.attention.n_kv_heads //= world
    top_plan = {
        "tok_embeddings": RowwiseParallel(input_layouts=Replicate()),
        "output": ColwiseParallel(output_layouts=Replicate()),
    }
    parallelize_module(model, mesh, top_plan)
    if tied:  # both shard the (V, d) matrix by rows: share the DTensor again
        model.output.weight = model.tok_embeddings.weight
    return model


@torch.no_grad()
def full_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Full tensors of every parameter (DTensors gathered), names without the
    ``module.`` prefix that DDP adds."""
    out = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        t = p.full_tensor() if isinstance(p, DTensor) else p
        out[name.removeprefix("module.")] = t.detach().clone()
    return out


def torch_pipeline(
    stage_module: nn.Module,
    device: torch.device,
    n_micro: int,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    schedule: str = "1f1b",
) -> Any:
    """A ``torch.distributed.pipelining`` schedule for this rank's stage.

    ``stage_module`` is this rank's slice of the model (our ``PipelineStage``:
    embedding on the first, norm and output on the last). PyTorch sends the
    activations between stages, infers their shapes on the first step, runs
    ``loss_fn`` on each micro-batch of the last stage and divides the
    gradients by ``n_micro``, so they are those of the whole batch.
    """
    from torch.distributed.pipelining import PipelineStage as TorchStage
    from torch.distributed.pipelining import Schedule1F1B, ScheduleGPipe

    kinds = {"gpipe": ScheduleGPipe, "1f1b": Schedule1F1B}  # = pipeline.SCHEDULES
    if schedule not in kinds:
        raise ValueError(f"schedule must be one of {tuple(kinds)}, got {schedule!r}")
    rank, world = dist.get_rank(), dist.get_world_size()
    stage = TorchStage(stage_module, rank, world, device)
    return kinds[schedule](stage, n_microbatches=n_micro, loss_fn=loss_fn)


def torch_pipeline_step(
    schedule: Any, stage_module: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> float:
    """One batch through the pipeline; gradients are left in ``stage_module``.

    Every rank passes the same ``x`` and ``y`` (the first stage feeds ``x``,
    the last compares with ``y``). Returns the batch loss on the last stage,
    nan elsewhere. A matrix tied across the first and last stage has its two
    gradients exchanged and added afterwards, as in our pipeline.
    """
    rank, world = dist.get_rank(), dist.get_world_size()
    first, last = rank == 0, rank == world - 1
    losses: list[torch.Tensor] = []
    args = (x,) if first else ()
    kwargs: dict[str, Any] = {"target": y, "losses": losses} if last else {}
    schedule.step(*args, **kwargs)
    if hasattr(stage_module, "sync_tied_grad"):
        stage_module.sync_tied_grad()
    if not last:
        return float("nan")
    return float(torch.stack([loss.detach().float() for loss in losses]).mean())

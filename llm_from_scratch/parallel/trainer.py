"""A short multi-process training loop for every scheme of the chapter.

``train.train`` is the book's full loop; it runs the *data-parallel* schemes
(DDP, FSDP2 with ``parallel="fsdp"``, or a ``wrap_model``), since every rank
draws its own batches. Tensor-parallel ranks must all see the same batch and
pipeline ranks hold different layers, so this loop is the minimal version that
gets every scheme right: ``ddp``/``fsdp``/``tp``/``pp`` on ``torch.distributed``
and our ``ddp-scratch``/``fsdp-scratch``/``tp-scratch``. Launch it with
``torchrun --nproc_per_node=N -m llm_from_scratch parallel-train ...``;
``--loop book`` runs the book's ``train()`` instead, with DDP, FSDP2 or our
``DataParallel`` as its ``wrap_model``.
"""

from __future__ import annotations

import math
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from llm_from_scratch.model import ModelConfig, Transformer
from llm_from_scratch.parallel import production
from llm_from_scratch.parallel.data_parallel import DataParallel
from llm_from_scratch.parallel.pipeline import SCHEDULES, PipelineStage
from llm_from_scratch.parallel.tensor_parallel import (
    parallelize_transformer,
    vocab_parallel_cross_entropy,
)
from llm_from_scratch.parallel.zero import fully_shard_transformer
from llm_from_scratch.train import AdamW, cross_entropy, lr_at
from llm_from_scratch.train.hardware import check_dtype

PARALLEL = ("none", "ddp", "fsdp", "tp", "pp", "ddp-scratch", "fsdp-scratch",
            "tp-scratch")


@dataclass(frozen=True)
class ParallelRun:
    """What to train and how; ``batch_size`` is per data-parallel rank."""

    model: ModelConfig
    parallel: str = "ddp"
    steps: int = 20
    batch_size: int = 8
    seq_len: int = 64
    lr: float = 3e-3
    warmup_steps: int = 2
    weight_decay: float = 0.1
    seed: int = 1337
    dtype: str = "float32"  # "bfloat16": autocast matmuls, fp32 weights and loss
    micro_batches: int = 4  # pipeline only: the batch is split into this many
    schedule: str = "1f1b"  # pipeline only: "gpipe" or "1f1b"

    def __post_init__(self) -> None:
        if self.parallel not in PARALLEL:
            raise ValueError(
                f"parallel must be one of {PARALLEL}, got {self.parallel!r}"
            )
        if self.parallel == "pp":
            if self.schedule not in SCHEDULES:
                raise ValueError(
                    f"schedule must be one of {SCHEDULES}, got {self.schedule!r}"
                )
            if self.micro_batches < 1 or self.batch_size % self.micro_batches:
                raise ValueError(f"batch_size {self.batch_size} must be a multiple of "
                                 f"micro_batches {self.micro_batches} (>= 1)")
        for name in ("steps", "batch_size", "seq_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.dtype not in ("float32", "bfloat16"):
            raise ValueError(f"dtype must be float32 or bfloat16, got {self.dtype!r}")
        if self.seq_len > self.model.max_seq_len:
            raise ValueError(
                f"seq_len {self.seq_len} exceeds max_seq_len {self.model.max_seq_len}"
            )


def _join_group() -> tuple[int, int, torch.device]:
    """Join torchrun's group (or the one already made); pick this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if world == 1 and "MASTER_ADDR" not in os.environ:  # alone, no torchrun
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        dist.init_process_group(backend, rank=int(os.environ.get("RANK", "0")),
                                world_size=world)
    return dist.get_rank(), dist.get_world_size(), device


def wrap(model: nn.Module, parallel: str, device: torch.device) -> nn.Module:
    """Apply one scheme to ``model`` (already on ``device``)."""
    if parallel == "ddp":
        return production.ddp(model, device)
    if parallel == "fsdp":
        return production.fsdp(model, device)
    if parallel == "tp":
        return production.tensor_parallel(model, device)
    if parallel == "ddp-scratch":
        return DataParallel(model)
    if parallel == "fsdp-scratch":
        return fully_shard_transformer(model)
    if parallel == "tp-scratch":
        return parallelize_transformer(model)
    return model


def random_tokens(
    vocab_size: int, batch: int, seq_len: int, seed: int, rank: int, step: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of uniform random ids (for smoke tests and benchmarks)."""
    g = torch.Generator().manual_seed(
        int(np.random.SeedSequence([seed, rank, step]).generate_state(1)[0])
    )
    ids = torch.randint(0, vocab_size, (batch, seq_len + 1), generator=g)
    return ids[:, :-1], ids[:, 1:]


def parallel_train(run: ParallelRun, data: Any = None) -> list[dict[str, float]]:
    """Train under the current process group; returns per-step records.

    ``data`` has ``sample_batch(batch, seq_len, generator)`` (e.g. the book's
    shards); ``None`` means random tokens. Data-parallel ranks draw different
    batches, tensor-parallel ranks the same one.
    """
    rank, world, device = _join_group()
    check_dtype(run.dtype, device, field="ParallelRun.dtype")
    torch.manual_seed(run.seed)
    model = Transformer(run.model).to(device)
    pipeline = run.parallel == "pp"
    if pipeline:  # this rank keeps its slice of the layers; torch runs the schedule
        runner = PipelineStage(model, rank, world)
        schedule = production.torch_pipeline(runner, device, run.micro_batches,
                                             cross_entropy, run.schedule)
    else:
        runner = wrap(model, run.parallel, device)
    params = [p for p in runner.parameters() if p.requires_grad]
    optimizer = AdamW(params, lr=run.lr, weight_decay=run.weight_decay)
    same_batch = run.parallel in ("tp", "tp-scratch", "pp")  # not data parallel
    data_rank, data_world = (0, 1) if same_batch else (rank, world)
    loss_fn = vocab_parallel_cross_entropy if run.parallel == "tp-scratch" else None
    bf16 = run.dtype == "bfloat16"
    history = []
    for step in range(run.steps):
        began = time.perf_counter()
        lr = lr_at(step, max_lr=run.lr, total_steps=run.steps,
                   warmup_steps=run.warmup_steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        if data is None:
            x, y = random_tokens(run.model.vocab_size, run.batch_size, run.seq_len,
                                 run.seed, data_rank, step)
        else:
            seed = np.random.SeedSequence([run.seed, data_rank, step])
            g = torch.Generator().manual_seed(int(seed.generate_state(1)[0]))
            x, y = data.sample_batch(run.batch_size, run.seq_len, g)
        x, y = x.to(device), y.to(device)
        with torch.autocast(device.type, torch.bfloat16, enabled=bf16):
            if pipeline:
                loss = torch.tensor(production.torch_pipeline_step(
                    schedule, runner, x, y), device=device)
            else:
                logits = runner(x).float()
                loss = loss_fn(logits, y) if loss_fn else cross_entropy(logits, y)
        if not pipeline:
            loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        total = loss.detach().reshape(1).float()
        if pipeline:  # only the last stage knows the loss
            dist.broadcast(total, world - 1)
            mean_loss = float(total)
        else:
            dist.all_reduce(total)
            mean_loss = float(total) / world
        if not math.isfinite(mean_loss):
            raise FloatingPointError(f"step {step}: loss {mean_loss} is not finite")
        seconds = time.perf_counter() - began
        tokens = run.batch_size * run.seq_len * data_world
        history.append({"step": step + 1, "loss": mean_loss, "lr": lr,
                        "tokens_per_s": tokens / seconds})
    return history

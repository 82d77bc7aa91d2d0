"""The experiments of the chapter, as functions a spawned rank can import.

``Experiment`` fixes a tiny model, a few global batches and an optimizer.
``reference_run`` trains it in one process on the whole global batch;
``scheme_run(rank, world_size, exp, scheme)`` trains the same model with one
parallel scheme. Both return the per-step losses and the final weights (full,
gathered to rank 0), so a test or a notebook cell can demand that they agree.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from llm_from_scratch.model import ModelConfig, Transformer
from llm_from_scratch.parallel import production
from llm_from_scratch.parallel.collectives import COMM_LOG
from llm_from_scratch.parallel.data_parallel import DataParallel
from llm_from_scratch.parallel.pipeline import PipelineStage, pipeline_step
from llm_from_scratch.parallel.tensor_parallel import (
    full_state_dict,
    parallelize_transformer,
    vocab_parallel_cross_entropy,
)
from llm_from_scratch.parallel.zero import ZeroOptimizer, fully_shard_transformer

SCRATCH = ("ddp", "zero1", "zero2", "zero3", "zero3_bf16", "tp")
TORCH = ("torch_ddp", "torch_fsdp", "torch_fsdp_bf16", "torch_tp")
ACCUM = ("ddp_accum", "zero2_accum")  # two micro-batches per step


@dataclass(frozen=True)
class Experiment:
    """A small training run; every rank builds the same one from the seed."""

    vocab_size: int = 64
    d_model: int = 32
    n_layers: int = 2
    n_heads: int = 4
    n_kv_heads: int = 2
    seq_len: int = 16
    batch_size: int = 8  # the global batch, split over data-parallel ranks
    steps: int = 3
    lr: float = 1e-2
    weight_decay: float = 0.1
    tie_embeddings: bool = False
    frozen: tuple[str, ...] = ()  # parameter names with requires_grad=False
    seed: int = 0

    def model(self) -> Transformer:
        torch.manual_seed(self.seed)
        config = ModelConfig(
            vocab_size=self.vocab_size, d_model=self.d_model, n_layers=self.n_layers,
            n_heads=self.n_heads, n_kv_heads=self.n_kv_heads,
            max_seq_len=self.seq_len, tie_embeddings=self.tie_embeddings,
        )
        model = Transformer(config)
        names = dict(model.named_parameters())
        for name in self.frozen:
            if name not in names:
                raise ValueError(f"frozen parameter {name!r} is not in the model")
            names[name].requires_grad_(False)
        return model

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed * 1000 + step)
        ids = torch.randint(0, self.vocab_size, (self.batch_size, self.seq_len + 1),
                            generator=g)
        return ids[:, :-1], ids[:, 1:]

    def optimizer(self, params: Any) -> torch.optim.Optimizer:
        return torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)


def _loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1))


def reference_run(exp: Experiment) -> dict[str, Any]:
    """One process, the whole global batch: the result every scheme must match."""
    model = exp.model()
    opt = exp.optimizer([p for p in model.parameters() if p.requires_grad])
    losses = []
    for step in range(exp.steps):
        x, y = exp.batch(step)
        loss = _loss(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(float(loss.detach()))
    return {"losses": losses, "state": _named(model)}


def _named(model: nn.Module) -> dict[str, torch.Tensor]:
    return {
        name: p.detach().clone()
        for name, p in model.named_parameters(remove_duplicate=False)
    }


def _local(x: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    if x.shape[0] % world:
        raise ValueError(f"batch {x.shape[0]} is not divisible by {world} ranks")
    n = x.shape[0] // world
    return x[rank * n : (rank + 1) * n]


def _zero3_state(model: nn.Module, root: Any) -> dict[str, torch.Tensor]:
    state = dict(root.full_parameters())
    for i, unit in enumerate(model.layers):
        for name, t in unit.full_parameters().items():
            state[f"layers.{i}.{name}"] = t
    for name, p in root.named_parameters():
        if not p.requires_grad:  # frozen: replicated, never sharded
            state[name.replace("module.", "")] = p.detach().clone()
    return state


def scheme_run(rank: int, world: int, exp: Experiment, scheme: str) -> dict[str, Any]:
    """Train ``exp`` with ``scheme`` on this rank; rank 0 returns the result."""
    if scheme not in SCRATCH + TORCH + ACCUM:
        raise ValueError(f"scheme must be one of {SCRATCH + TORCH + ACCUM}: {scheme!r}")
    accum = scheme in ACCUM
    scheme = scheme.removesuffix("_accum")
    model = exp.model()
    data_parallel = scheme not in ("tp", "torch_tp")
    runner: nn.Module = model
    loss_fn = _loss
    params = [p for p in model.parameters() if p.requires_grad]
    if scheme == "ddp":
        runner = DataParallel(model, bucket_mb=0.01)
    elif scheme == "torch_fsdp_bf16":
        runner = production.fsdp(model, torch.device("cpu"), param_dtype=torch.bfloat16)
        params = [p for p in runner.parameters() if p.requires_grad]
    elif scheme in ("zero3", "zero3_bf16"):
        dtype = torch.bfloat16 if scheme == "zero3_bf16" else torch.float32
        runner = fully_shard_transformer(model, compute_dtype=dtype)
        params = [p for p in runner.parameters() if p.requires_grad]
    elif scheme == "tp":
        runner = parallelize_transformer(model)
        params = [p for p in model.parameters() if p.requires_grad]
        loss_fn = vocab_parallel_cross_entropy
    elif scheme in TORCH:
        wrap = {"torch_ddp": production.ddp, "torch_fsdp": production.fsdp,
                "torch_tp": production.tensor_parallel}[scheme]
        runner = wrap(model, torch.device("cpu"))
        params = [p for p in runner.parameters() if p.requires_grad]
    if scheme in ("zero1", "zero2"):
        opt: Any = ZeroOptimizer(params, torch.optim.AdamW, stage=int(scheme[-1]),
                                 lr=exp.lr, weight_decay=exp.weight_decay)
    else:
        opt = exp.optimizer(params)
    COMM_LOG.reset()
    losses = []
    for step in range(exp.steps):
        x, y = exp.batch(step)
        if data_parallel:
            x, y = _local(x, rank, world), _local(y, rank, world)
        if accum:  # two micro-batches; DDP communicates only after the last
            ddp = isinstance(runner, DataParallel)
            with runner.no_sync() if ddp else nullcontext():
                loss = loss_fn(runner(x[::2]), y[::2]) / 2
                loss.backward()
            second = loss_fn(runner(x[1::2]), y[1::2]) / 2
            second.backward()
            loss = loss + second
        else:
            loss = loss_fn(runner(x), y)
            loss.backward()
        opt.step()
        opt.zero_grad()
        total = loss.detach().clone()
        if data_parallel:  # the global batch's loss is the mean of equal shares
            dist.all_reduce(total)
            total /= world
        losses.append(float(total))
    sent = dict(COMM_LOG.sent)
    inner = opt.optimizer if isinstance(opt, ZeroOptimizer) else opt
    memory = {
        "params": sum(_local_bytes(p) for p in runner.parameters()),
        "optimizer": sum(_local_bytes(t) for st in inner.state.values()
                         for t in st.values() if torch.is_tensor(t) and t.dim()),
    }
    if scheme in ("zero3", "zero3_bf16"):
        state = _zero3_state(model, runner)
    elif scheme == "tp":
        state = full_state_dict(model)
    elif scheme in TORCH:
        state = production.full_state_dict(runner)
    else:
        state = _named(model)
    if rank != 0:
        return {"losses": losses, "sent": sent, "memory": memory}
    return {"losses": losses, "state": state, "sent": sent, "memory": memory}


def _local_bytes(t: torch.Tensor) -> int:
    """Bytes this rank stores for ``t`` (its shard, for a DTensor)."""
    t = t.to_local() if hasattr(t, "to_local") else t
    return t.numel() * t.element_size()


def scheme_runs(
    rank: int, world: int, exp: Experiment, schemes: tuple[str, ...]
) -> dict[str, dict[str, Any]]:
    """Several schemes one after another in the same process group (starting
    processes costs seconds; a tiny run costs milliseconds)."""
    return {scheme: scheme_run(rank, world, exp, scheme) for scheme in schemes}


def pipeline_runs(
    rank: int, world: int, exp: Experiment, schedules: tuple[str, ...], n_micro: int
) -> dict[str, dict[str, Any]]:
    """``pipeline_run`` for several schedules in one process group."""
    return {s: pipeline_run(rank, world, exp, s, n_micro) for s in schedules}


def pipeline_run(
    rank: int, world: int, exp: Experiment, schedule: str, n_micro: int
) -> dict[str, Any]:
    """Train ``exp`` with ``world`` pipeline stages; every rank returns its
    stage's weights (full-model names), the last step's timeline and peak
    micro-batches in flight; the last rank also the losses."""
    stage = PipelineStage(exp.model(), rank, world)
    opt = exp.optimizer([p for p in stage.parameters() if p.requires_grad])
    losses, result = [], {}
    COMM_LOG.reset()
    for step in range(exp.steps):
        x, y = exp.batch(step)
        result = pipeline_step(stage, x, y, n_micro, _loss, schedule)
        opt.step()
        opt.zero_grad()
        losses.append(result["loss"])
    return {"losses": losses, "state": _stage_state(stage), "events": result["events"],
            "peak_in_flight": result["peak_in_flight"], "sent": dict(COMM_LOG.sent)}


def _stage_state(stage: PipelineStage) -> dict[str, torch.Tensor]:
    """A stage's weights under the full model's parameter names."""
    names = stage.model_names()
    return {names[n]: p.detach().clone()
            for n, p in stage.named_parameters(remove_duplicate=False) if n in names}


def torch_pipeline_runs(
    rank: int, world: int, exp: Experiment, schedules: tuple[str, ...], n_micro: int
) -> dict[str, dict[str, Any]]:
    """The same stages trained by ``torch.distributed.pipelining``'s schedules;
    every rank returns its stage's weights, the last rank also the losses."""
    out = {}
    for schedule in schedules:
        stage = PipelineStage(exp.model(), rank, world)
        runner = production.torch_pipeline(stage, torch.device("cpu"), n_micro, _loss,
                                           schedule)
        opt = exp.optimizer([p for p in stage.parameters() if p.requires_grad])
        losses = []
        for step in range(exp.steps):
            x, y = exp.batch(step)
            losses.append(production.torch_pipeline_step(runner, stage, x, y))
            opt.step()
            opt.zero_grad()
        out[schedule] = {"losses": losses, "state": _stage_state(stage)}
    return out


def suite_run(
    rank: int, world: int, exps: tuple[Experiment, ...], schemes: tuple[str, ...]
) -> list[dict[str, dict[str, Any]]]:
    """``scheme_runs`` for each experiment, in one process group."""
    return [scheme_runs(rank, world, exp, schemes) for exp in exps]


def collective_check(rank: int, world: int, numel: int) -> dict[str, Any]:
    """Our ring collectives and torch's on the same random data, with the
    bytes our ring actually sent."""
    from llm_from_scratch.parallel.collectives import (
        all_gather_single,
        reduce_scatter_single,
        ring_all_gather,
        ring_all_reduce,
        ring_reduce_scatter,
    )

    data = torch.randn(numel, generator=torch.Generator().manual_seed(rank))
    COMM_LOG.reset()
    ours = ring_all_reduce(data)
    sent_all_reduce = COMM_LOG.total()
    theirs = data.clone()
    dist.all_reduce(theirs)
    chunk = numel // world * world
    ours_rs = ring_reduce_scatter(data[:chunk])
    theirs_rs = torch.empty(chunk // world)
    reduce_scatter_single(theirs_rs, data[:chunk].clone())
    ours_ag = ring_all_gather(data[:4])
    theirs_ag = torch.empty(4 * world)
    all_gather_single(theirs_ag, data[:4].clone())
    return {
        "all_reduce": (ours, theirs), "reduce_scatter": (ours_rs, theirs_rs),
        "all_gather": (ours_ag, theirs_ag), "sent_all_reduce": sent_all_reduce,
    }


def fail_on_rank(rank: int, world: int, bad_rank: int) -> int:
    """Rank ``bad_rank`` raises while the others wait in a collective:
    the launcher must still return promptly with that rank's error."""
    if rank == bad_rank:
        raise RuntimeError(f"rank {rank} failed on purpose")
    dist.all_reduce(torch.ones(1))  # would wait forever for bad_rank
    return rank


def sleep_on_rank(rank: int, world: int, seconds: float) -> int:
    """Rank 1 hangs (a stuck data loader, say): the launcher must time out."""
    if rank == 1:
        time.sleep(seconds)
    return rank


def collective_timings(
    rank: int, world: int, sizes: tuple[int, ...], repeats: int = 3
) -> dict[str, list[float]]:
    """Median seconds of our ring all-reduce and gloo's, per float32 size."""
    from llm_from_scratch.parallel.collectives import time_collective

    return {
        "ring": [time_collective("all_reduce", n, repeats, ring=True) for n in sizes],
        "gloo": [time_collective("all_reduce", n, repeats) for n in sizes],
    }


def collectives_demo(
    rank: int, world: int, numel: int, sizes: tuple[int, ...]
) -> dict[str, Any]:
    """``collective_check`` and ``collective_timings`` in one process group."""
    return {"check": collective_check(rank, world, numel),
            "timings": collective_timings(rank, world, sizes)}


def foreach_tensor_parallel_check(rank: int, world: int) -> float:
    """Multi-tensor AdamW on a DTensor tensor-parallel model, where sharded
    DTensor weights sit next to plain norm gains, against the per-tensor loop:
    the largest difference in this rank's weights after three steps."""
    from torch.distributed.tensor import DTensor

    from llm_from_scratch.train import AdamW

    exp = Experiment()
    models = [production.tensor_parallel(exp.model(), torch.device("cpu"))
              for _ in range(2)]
    optimizers = [AdamW(m.parameters(), lr=exp.lr, weight_decay=exp.weight_decay,
                        foreach=foreach) for m, foreach in zip(models, (False, True))]
    ids = torch.randint(0, exp.vocab_size, (4, exp.seq_len + 1),
                        generator=torch.Generator().manual_seed(0))
    for _ in range(3):
        for model, optimizer in zip(models, optimizers):
            _loss(model(ids[:, :-1]), ids[:, 1:]).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    local = [[p.to_local() if isinstance(p, DTensor) else p for p in m.parameters()]
             for m in models]
    assert any(isinstance(p, DTensor) for p in models[1].parameters())
    return max(float((a - b).abs().max()) for a, b in zip(*local))

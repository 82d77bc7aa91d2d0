"""Pipeline parallelism from scratch: consecutive layers on consecutive ranks.

Rank ``s`` of ``p`` holds stage ``s``: a contiguous slice of the blocks (the
first stage also the embedding, the last the final norm, output and loss).
Activations flow forward rank to rank, their gradients flow back; only the
stage boundaries are communicated, one point-to-point message each.

One batch through ``p`` stages would keep all but one rank idle. Splitting
it into ``m`` micro-batches lets stages work on different micro-batches at
once; with every forward taking ``t_f`` and every backward ``t_b``, each
rank still idles ``(p-1)(t_f+t_b)`` per step, the *bubble*, a fraction

    bubble = (p - 1) / (m + p - 1)

of the step. **GPipe** (Huang et al., 2019) runs all ``m`` forwards, then
all ``m`` backwards: every rank stores the activations of ``m``
micro-batches. **1F1B** (PipeDream-Flush, Narayanan et al., 2021) starts
backwards as soon as possible and then alternates one forward, one backward:
the same bubble, but at most ``p - s`` micro-batches in flight on stage
``s``. The gradients are those of the whole batch either way, since the
micro-batch losses are added (each divided by ``m``).

Tied embeddings put one matrix on two stages: the first uses it as the
embedding, the last as the output layer. Each keeps a copy; after backward
the two exchange their gradients and both add them (as Megatron's embedding
group does), so the copies receive the same summed gradient and stay equal.
"""

from __future__ import annotations

import time
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from llm_from_scratch.parallel.collectives import COMM_LOG

SCHEDULES = ("gpipe", "1f1b")


class PipelineStage(nn.Module):
    """Stage ``stage`` of ``n_stages`` of the book's ``Transformer``."""

    def __init__(self, model: nn.Module, stage: int, n_stages: int) -> None:
        super().__init__()
        n_layers = len(model.layers)
        if not 1 <= n_stages <= n_layers:
            raise ValueError(f"n_stages must be in [1, {n_layers}], got {n_stages}")
        if not 0 <= stage < n_stages:
            raise ValueError(f"stage must be in [0, {n_stages}), got {stage}")
        tied = model.output.weight is model.tok_embeddings.weight
        self.n_stages = n_stages
        self.first, self.last = stage == 0, stage == n_stages - 1
        # a tied matrix lives on the first and the last stage: sync_tied_grad
        self.tied = tied and n_stages > 1 and (self.first or self.last)
        self.lo = stage * n_layers // n_stages
        hi = (stage + 1) * n_layers // n_stages
        self.tok_embeddings = model.tok_embeddings if self.first else None
        self.blocks = nn.ModuleList(model.layers[self.lo : hi])
        self.norm = model.norm if self.last else None
        self.output = model.output if self.last else None
        self.rope = model.rope

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Token ids (first stage) or hidden states (B, T, d) -> next stage's input
        (or logits on the last stage)."""
        cos, sin = self.rope.window(0, x.shape[1])
        h = self.tok_embeddings(x) if self.first else x
        for block in self.blocks:
            h = block(h, cos, sin, None)
        return self.output(self.norm(h)) if self.last else h

    def tied_weight(self) -> nn.Parameter | None:
        """The embedding (first stage) or output (last stage) matrix when it is
        tied across stages; None otherwise."""
        if not self.tied:
            return None
        return self.tok_embeddings.weight if self.first else self.output.weight

    def sync_tied_grad(self) -> None:
        """First and last stage swap the gradients of their copies of a tied
        matrix and add them: both then hold the gradient of the shared matrix.
        Call on every stage after backward (stages without one do nothing)."""
        weight = self.tied_weight()
        if weight is None or not weight.requires_grad:
            return
        peer = self.n_stages - 1 if self.first else 0
        mine = weight.grad if weight.grad is not None else torch.zeros_like(weight)
        theirs = torch.empty_like(mine)
        request = dist.isend(mine.contiguous(), peer)
        dist.recv(theirs, peer)
        request.wait()
        COMM_LOG.add("tied_grad", mine.numel() * mine.element_size())
        weight.grad = mine + theirs  # a + b == b + a: both copies stay bit-equal

    def model_names(self) -> dict[str, str]:
        """This stage's parameter names -> the full model's names (a matrix
        tied within one stage appears under both its names)."""
        out = {}
        for name, _ in self.named_parameters(remove_duplicate=False):
            if name.startswith("blocks."):
                _, i, rest = name.split(".", 2)
                out[name] = f"layers.{self.lo + int(i)}.{rest}"
            elif not name.startswith("rope."):
                out[name] = name
        return out


def schedule_ops(schedule: str, stage: int, n_stages: int, n_micro: int) -> list:
    """The order of ("F", i) and ("B", i) operations on one stage."""
    # region checks
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    # endregion
    if schedule == "gpipe":
        return [("F", i) for i in range(n_micro)] + [("B", i) for i in range(n_micro)]
    warmup = min(n_stages - stage - 1, n_micro)
    ops = [("F", i) for i in range(warmup)]
    for i in range(n_micro - warmup):  # steady state: one forward, one backward
        ops += [("F", warmup + i), ("B", i)]
    ops += [("B", i) for i in range(n_micro - warmup, n_micro)]
    return ops


def pipeline_step(
    stage: PipelineStage,
    x: torch.Tensor,
    y: torch.Tensor,
    n_micro: int,
    loss_fn: Any,
    schedule: str = "1f1b",
    hidden_shape: tuple[int, ...] | None = None,
) -> dict[str, Any]:
    """Forward and backward of one batch; leaves gradients in ``stage``.

    Every rank passes the same ``x`` and ``y`` (only the first stage reads
    ``x``, only the last ``y``). Returns the batch loss (last stage, else
    nan), the timeline of operations ``(kind, micro, start_s, end_s)`` and
    the peak number of micro-batches whose activations were held at once.
    Each message sent is added to ``COMM_LOG`` under ``"send"`` (bytes that
    really went to the neighbour, not a formula). One call is one optimizer
    step's gradient (the micro-batches are the accumulation): with tied
    embeddings the stages' gradients must be zero before it.
    """
    rank, world = dist.get_rank(), dist.get_world_size()
    # region checks
    if x.shape[0] % n_micro:
        raise ValueError(f"batch {x.shape[0]} is not divisible by n_micro={n_micro}")
    # endregion
    xs, ys = x.chunk(n_micro), y.chunk(n_micro)
    mb = xs[0].shape[0]
    shape = hidden_shape or (mb, x.shape[1], _width(stage))
    weight = next(stage.parameters())
    like = {"dtype": weight.dtype, "device": weight.device}
    inputs: dict[int, torch.Tensor] = {}
    outputs: dict[int, torch.Tensor] = {}
    sends: list[dist.Work] = []
    events: list[tuple[str, int, float, float]] = []
    loss_total, peak = 0.0, 0
    dist.barrier()
    t0 = time.perf_counter()
    for kind, i in schedule_ops(schedule, rank, world, n_micro):
        if kind == "F":
            if stage.first:
                inp = xs[i]
            else:
                inp = torch.empty(shape, **like)
                dist.recv(inp, rank - 1)
                inp.requires_grad_(True)
            start = time.perf_counter() - t0
            out = stage(inp)
            if stage.last:
                out = loss_fn(out, ys[i]) / n_micro
                loss_total += float(out.detach())
            else:
                sends.append(_send(out.detach(), rank + 1))
            inputs[i], outputs[i] = inp, out
            peak = max(peak, len(outputs))
        else:
            grad = None
            if not stage.last:
                grad = torch.empty(shape, **like)
                dist.recv(grad, rank + 1)
            start = time.perf_counter() - t0
            outputs.pop(i).backward(grad)
            inp = inputs.pop(i)
            if not stage.first:
                sends.append(_send(inp.grad, rank - 1))
        events.append((kind, i, start, time.perf_counter() - t0))
    for work in sends:
        work.wait()
    stage.sync_tied_grad()
    loss = loss_total if stage.last else float("nan")
    return {"loss": loss, "events": events, "peak_in_flight": peak}


def _send(tensor: torch.Tensor, dst: int) -> dist.Work:
    """Start sending ``tensor`` to rank ``dst``, counting its bytes."""
    tensor = tensor.contiguous()
    COMM_LOG.add("send", tensor.numel() * tensor.element_size())
    return dist.isend(tensor, dst)


def _width(stage: PipelineStage) -> int:
    """Hidden size, read from the first block's attention input projection."""
    return stage.blocks[0].attention.wq.weight.shape[1]


def bubble_fraction(n_stages: int, n_micro: int) -> float:
    """Idle share of a step for equal-cost stages: (p-1)/(m+p-1)."""
    return (n_stages - 1) / (n_micro + n_stages - 1)


def measured_bubble(timelines: list[list[tuple[str, int, float, float]]]) -> float:
    """1 - busy time / (ranks * span), from every rank's ``events``."""
    start = min(e[2] for events in timelines for e in events)
    end = max(e[3] for events in timelines for e in events)
    busy = sum(e[3] - e[2] for events in timelines for e in events)
    return 1.0 - busy / (len(timelines) * (end - start))

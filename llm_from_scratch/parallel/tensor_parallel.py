"""Tensor parallelism from scratch (Megatron-LM style), on the book's model.

Split each weight matrix across the ``p`` ranks of a node instead of
replicating it (Shoeybi et al., 2019). For ``Y = X W^T`` with ``W`` of shape
(out, in):

* **column-parallel**: rank ``r`` keeps rows ``r`` of ``W`` (a slice of the
  outputs) and computes its slice of ``Y`` from the full ``X``;
* **row-parallel**: rank ``r`` keeps a slice of the inputs, takes the
  matching slice of ``X`` and produces a *partial sum* of ``Y``; one
  all-reduce adds the partial sums.

A column-parallel layer followed by a row-parallel one needs no
communication in between: SwiGLU's gate and up projections are
column-parallel (each rank owns ``1/p`` of the hidden units), the down
projection row-parallel. Attention splits by heads: q, k, v column-parallel
(``n_heads/p`` query and ``n_kv_heads/p`` key/value heads per rank), the
output projection row-parallel. Two all-reduces per block in forward, two in
backward, where the autograd functions ``_CopyToTP`` and ``_ReduceFromTP``
put them: q, k and v share one input, so its gradient is summed locally and
all-reduced once (likewise the gate and up projections), not once each. The
vocabulary is split too: an embedding lookup of the local rows plus an
all-reduce, and a cross-entropy that never gathers the full logits.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from llm_from_scratch.parallel.collectives import all_reduce


class _CopyToTP(torch.autograd.Function):
    """Identity forward; backward sums the gradient over ranks (``f`` in
    Megatron): each rank's use of the replicated input adds a part."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        return x

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous()
        all_reduce(grad)
        return grad


class _ReduceFromTP(torch.autograd.Function):
    """All-reduce forward (add partial sums); identity backward (``g``)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        all_reduce(x)
        return x

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        return grad


def _slice(n: int, what: str) -> slice:
    rank, world = dist.get_rank(), dist.get_world_size()
    if n % world:
        raise ValueError(f"{what} ({n}) must be divisible by the TP degree {world}")
    return slice(rank * n // world, (rank + 1) * n // world)


def _shard(weight: torch.Tensor, index: Any) -> nn.Parameter:
    """A copy of part of ``weight``; a frozen weight stays frozen."""
    part = weight.detach()[index].clone()
    return nn.Parameter(part, requires_grad=weight.requires_grad)


class ColumnParallelLinear(nn.Module):
    """Keeps this rank's rows of ``weight`` (out/p, in): output is sharded.

    ``copy_input=False`` when the caller already applied ``_CopyToTP`` to an
    input that several column-parallel layers share (see ``parallelize_block``).
    """

    def __init__(
        self, weight: torch.Tensor, rows_per_unit: int = 1, copy_input: bool = True
    ) -> None:
        super().__init__()
        units = weight.shape[0] // rows_per_unit  # e.g. heads, with head_dim rows
        part = _slice(units, "output units")
        rows = slice(part.start * rows_per_unit, part.stop * rows_per_unit)
        self.weight = _shard(weight, rows)
        self.copy_input = copy_input

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.copy_input:
            x = _CopyToTP.apply(x)
        return x @ self.weight.mT


class RowParallelLinear(nn.Module):
    """Keeps this rank's columns of ``weight`` (out, in/p): input is sharded,
    the output is summed over ranks."""

    def __init__(self, weight: torch.Tensor, cols_per_unit: int = 1) -> None:
        super().__init__()
        units = weight.shape[1] // cols_per_unit
        part = _slice(units, "input units")
        cols = slice(part.start * cols_per_unit, part.stop * cols_per_unit)
        self.weight = _shard(weight, (slice(None), cols))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ReduceFromTP.apply(x @ self.weight.mT)


class VocabParallelEmbedding(nn.Module):
    """Keeps rows [lo, hi) of the (V, d) table; other ids contribute zeros and
    the all-reduce fills them in from the rank that owns them."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        rows = _slice(weight.shape[0], "vocab_size")
        self.lo, self.hi = rows.start, rows.stop
        self.weight = _shard(weight, rows)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        outside = (idx < self.lo) | (idx >= self.hi)
        local = (idx - self.lo).clamp(0, self.hi - self.lo - 1)
        out = self.weight[local] * ~outside[..., None]
        return _ReduceFromTP.apply(out)


class _VocabParallelCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy from vocabulary-sharded logits: three all-reduces
    of (B*T) numbers (max, sum of exp, target logit) instead of gathering
    (B*T*V) logits."""

    @staticmethod
    def forward(ctx: Any, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        vocab_local = logits.shape[-1]
        lo = dist.get_rank() * vocab_local
        logits = logits.float()
        row_max = logits.amax(-1)
        all_reduce(row_max, op=dist.ReduceOp.MAX)
        shifted = logits - row_max[..., None]
        exp = shifted.exp()
        sum_exp = exp.sum(-1)
        all_reduce(sum_exp)
        mine = (targets >= lo) & (targets < lo + vocab_local)
        local = (targets - lo).clamp(0, vocab_local - 1)
        picked = shifted.gather(-1, local[..., None]).squeeze(-1) * mine
        all_reduce(picked)
        ctx.save_for_backward(exp / sum_exp[..., None], local, mine)
        return (sum_exp.log() - picked).mean()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        softmax, local, mine = ctx.saved_tensors
        g = softmax.clone()  # d loss / d logits = softmax - one_hot(target)
        g.scatter_add_(-1, local[..., None], -mine[..., None].to(g.dtype))
        return g * (grad / local.numel()), None


def vocab_parallel_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor
) -> torch.Tensor:
    """Mean next-token loss; ``logits`` (..., V/p) hold this rank's vocab slice."""
    if logits.shape[:-1] != targets.shape:
        raise ValueError(
            f"logits {tuple(logits.shape)} must be targets {tuple(targets.shape)} "
            "plus a vocabulary dimension"
        )
    vocab = logits.shape[-1] * dist.get_world_size()
    if bool(((targets < 0) | (targets >= vocab)).any()):
        raise ValueError(f"targets must be ids in [0, {vocab})")
    return _VocabParallelCrossEntropy.apply(logits, targets)


def _copy_first_input(module: nn.Module, args: tuple) -> tuple:
    """Forward pre-hook: Megatron's ``f`` on a sub-layer's input, once for all
    the column-parallel projections that read it."""
    return (_CopyToTP.apply(args[0]), *args[1:])


def parallelize_block(block: nn.Module) -> None:
    """Shard one transformer block's attention (by heads) and SwiGLU MLP."""
    attn, ffn = block.attention, block.feed_forward
    world, hd = dist.get_world_size(), attn.head_dim
    if attn.n_kv_heads % world:
        raise ValueError(
            f"n_kv_heads ({attn.n_kv_heads}) must be divisible by the TP degree {world}"
        )
    for name in ("wq", "wk", "wv"):
        weight = getattr(attn, name).weight
        setattr(attn, name, ColumnParallelLinear(weight, hd, copy_input=False))
    attn.wo = RowParallelLinear(attn.wo.weight, cols_per_unit=hd)
    attn.n_heads //= world
    attn.n_kv_heads //= world
    ffn.w1 = ColumnParallelLinear(ffn.w1.weight, copy_input=False)
    ffn.w3 = ColumnParallelLinear(ffn.w3.weight, copy_input=False)
    ffn.w2 = RowParallelLinear(ffn.w2.weight)
    attn.register_forward_pre_hook(_copy_first_input)
    ffn.register_forward_pre_hook(_copy_first_input)


def parallelize_transformer(model: nn.Module) -> nn.Module:
    """Shard ``model`` in place across the process group; returns it.

    Its forward then returns this rank's vocabulary slice of the logits:
    use ``vocab_parallel_cross_entropy`` for the loss. Every rank must start
    from the same weights. Tied embeddings stay tied (same rows on a rank).
    """
    tied = model.output.weight is model.tok_embeddings.weight
    for block in model.layers:
        parallelize_block(block)
    model.tok_embeddings = VocabParallelEmbedding(model.tok_embeddings.weight)
    model.output = ColumnParallelLinear(model.output.weight)
    if tied:  # both hold the same rows of the shared (V, d) matrix
        model.output.weight = model.tok_embeddings.weight
    return model


@torch.no_grad()
def full_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter at full size (all-gathered shards), on every rank."""
    world = dist.get_world_size()
    out = {}
    for mod_name, mod in model.named_modules(remove_duplicate=False):
        dim = None
        if isinstance(mod, (ColumnParallelLinear, VocabParallelEmbedding)):
            dim = 0
        elif isinstance(mod, RowParallelLinear):
            dim = 1
        for name, p in mod.named_parameters(recurse=False):
            key = f"{mod_name}.{name}" if mod_name else name
            if dim is None:
                out[key] = p.detach().clone()
                continue
            parts = [torch.empty_like(p) for _ in range(world)]
            dist.all_gather(parts, p.detach().contiguous())
            out[key] = torch.cat(parts, dim=dim)
    return out

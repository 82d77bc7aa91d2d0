"""Back-of-the-envelope memory and communication per rank, per scheme.

Mixed-precision Adam training keeps, per parameter (Rajbhandari et al.,
ZeRO): 2 bytes of 16-bit weights, 2 bytes of 16-bit gradients and 12 bytes
of optimizer state (fp32 master weights, Adam's m and v): 16 bytes. ZeRO-1
shards the 12, ZeRO-2 also the gradients, ZeRO-3 (FSDP) everything; tensor
and pipeline parallelism divide the layer weights by their degree.

Data-parallel schemes send gradients and weights, so their traffic follows
from the parameter count. Tensor and pipeline parallelism send activations,
so theirs follows from the shape of the activations, ``ActivationShape``:
TP all-reduces (batch, seq, d_model) four times per block (Megatron's two
``g`` in forward, two ``f`` in backward); PP sends one (micro-batch, seq,
d_model) tensor per micro-batch across each stage boundary, forward, and
its gradient back.

Activations per transformer layer, 16-bit, without recomputation
(Korthikanti et al. 2022, no sequence parallelism):
``s*b*h*(34 + 5*a*s/h)`` bytes for sequence length s, micro-batch b, width h
and a heads; with full activation checkpointing only the layer input,
``2*s*b*h`` bytes, stays alive.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMES = ("single", "ddp", "zero1", "zero2", "zero3", "tp", "pp")


@dataclass(frozen=True)
class ActivationShape:
    """What TP all-reduces and PP sends: (batch, seq_len, d_model) values of
    ``value_bytes`` each, in every one of ``n_layers`` blocks; ``vocab_parallel``:
    the embedding and output are split over the vocabulary too (Megatron)."""

    batch: int
    seq_len: int
    d_model: int
    n_layers: int
    value_bytes: int = 2
    vocab_parallel: bool = True

    @property
    def hidden_bytes(self) -> int:
        """Bytes of one (batch, seq_len, d_model) activation."""
        return self.batch * self.seq_len * self.d_model * self.value_bytes


@dataclass(frozen=True)
class Memory:
    """Bytes per rank, by kind."""

    params: float
    grads: float
    optimizer: float
    activations: float

    @property
    def total(self) -> float:
        return self.params + self.grads + self.optimizer + self.activations


def _check(scheme: str, world_size: int) -> None:
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    if world_size < 1:
        raise ValueError(f"world_size must be >= 1, got {world_size}")


def activation_bytes(
    seq_len: int,
    batch: int,
    d_model: int,
    n_heads: int,
    n_layers: int,
    checkpointing: bool = False,
) -> float:
    """Activation memory of a forward pass kept for backward (16-bit)."""
    s, b, h, a = seq_len, batch, d_model, n_heads
    per_layer = 2 * s * b * h if checkpointing else s * b * h * (34 + 5 * a * s / h)
    return per_layer * n_layers


def memory_per_rank(
    n_params: float,
    scheme: str,
    world_size: int,
    activations: float = 0.0,
    param_bytes: int = 2,
    grad_bytes: int = 2,
    optimizer_bytes: int = 12,
) -> Memory:
    """Memory per rank for ``n_params`` parameters under ``scheme``.

    ``activations`` is the single-device activation memory for the *global*
    batch; data-parallel schemes split the batch, TP splits most activations,
    PP keeps its own layers' (GPipe, all micro-batches; 1F1B holds at most
    ``p`` of the ``m`` micro-batches, so less when ``m > p``).
    """
    _check(scheme, world_size)
    p = world_size if scheme != "single" else 1
    params, grads, opt = n_params * param_bytes, n_params * grad_bytes, n_params
    opt *= optimizer_bytes
    shard = {
        "single": (1, 1, 1),
        "ddp": (1, 1, 1),
        "zero1": (1, 1, p),
        "zero2": (1, p, p),
        "zero3": (p, p, p),
        "tp": (p, p, p),
        "pp": (p, p, p),
    }[scheme]
    return Memory(
        params / shard[0], grads / shard[1], opt / shard[2], activations / p
    )


def comm_bytes_per_step(
    n_params: float,
    scheme: str,
    world_size: int,
    grad_bytes: int = 4,
    shape: ActivationShape | None = None,
) -> float:
    """Bytes one rank sends per optimizer step, with ring collectives.

    DDP and ZeRO-1 all-reduce the gradients: ``2 (p-1)/p * G`` for ``G``
    gradient bytes. ZeRO-2 reduce-scatters them and all-gathers the updated
    parameters: the same volume. ZeRO-3 all-gathers the parameters twice
    (forward and backward) and reduce-scatters gradients: ``3 (p-1)/p * G``.
    Tensor and pipeline parallelism send activations instead: pass their
    ``shape`` (see ``tp_comm_bytes`` and ``pp_comm_bytes``).
    """
    _check(scheme, world_size)
    p, g = world_size, n_params * grad_bytes
    ring = (p - 1) / p
    if scheme == "single" or p == 1:
        return 0.0
    if scheme in ("ddp", "zero1", "zero2"):
        return 2 * ring * g
    if scheme == "zero3":
        return 3 * ring * g
    if shape is None:
        raise ValueError(f"scheme {scheme!r} sends activations: pass shape=")
    if scheme == "tp":
        return tp_comm_bytes(shape, p)
    return pp_comm_bytes(shape, p)


def tp_comm_bytes(shape: ActivationShape, world_size: int) -> float:
    """Bytes one tensor-parallel rank sends per step (every rank alike).

    Each block all-reduces one (B, T, d) activation after attention and one
    after the MLP in forward, and the gradient of each's input in backward:
    4 all-reduces of ``2 (p-1)/p * BTd`` values. Vocabulary parallelism adds
    one for the embedding (forward), one for the output's input (backward)
    and three of B*T float32 numbers in the loss (max, sum of exp, target).
    """
    p = world_size
    ring = 2 * (p - 1) / p
    count = 4 * shape.n_layers + (2 if shape.vocab_parallel else 0)
    loss = 3 * shape.batch * shape.seq_len * 4 if shape.vocab_parallel else 0
    return ring * (count * shape.hidden_bytes + loss)


def pp_comm_bytes(shape: ActivationShape, world_size: int) -> float:
    """Bytes the busiest pipeline rank sends per step, point to point.

    A stage sends every micro-batch's output (B/m, T, d) to the next stage
    and its input's gradient back to the previous one: ``m`` messages of
    ``BTd/m`` values each way, ``BTd`` in all whatever ``m`` is. An inner
    stage does both; with 2 stages each rank does one.
    """
    if world_size == 1:
        return 0.0
    directions = 2 if world_size > 2 else 1
    return directions * shape.hidden_bytes


def gib(nbytes: float) -> float:
    """Bytes to GiB, for tables."""
    return nbytes / 2**30

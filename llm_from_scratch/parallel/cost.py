"""Back-of-the-envelope memory and communication per rank, per scheme.

Mixed-precision Adam training keeps, per parameter (Rajbhandari et al.,
ZeRO): 2 bytes of 16-bit weights, 2 bytes of 16-bit gradients and 12 bytes
of optimizer state (fp32 master weights, Adam's m and v): 16 bytes. ZeRO-1
shards the 12, ZeRO-2 also the gradients, ZeRO-3 (FSDP) everything; tensor
parallelism divides the layer weights by the TP degree.

Activations per transformer layer, 16-bit, without recomputation
(Korthikanti et al. 2022, no sequence parallelism):
``s*b*h*(34 + 5*a*s/h)`` bytes for sequence length s, micro-batch b, width h
and a heads; with full activation checkpointing only the layer input,
``2*s*b*h`` bytes, stays alive.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMES = ("single", "ddp", "zero1", "zero2", "zero3", "tp")


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
    batch; data-parallel schemes split the batch, TP splits most activations.
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
    }[scheme]
    return Memory(
        params / shard[0], grads / shard[1], opt / shard[2], activations / p
    )


def comm_bytes_per_step(
    n_params: float,
    scheme: str,
    world_size: int,
    grad_bytes: int = 4,
    tp_activation_bytes: float = 0.0,
) -> float:
    """Bytes one rank sends per optimizer step, with ring collectives.

    DDP and ZeRO-1 all-reduce the gradients: ``2 (p-1)/p * G`` for ``G``
    gradient bytes. ZeRO-2 reduce-scatters them and all-gathers the updated
    parameters: the same volume. ZeRO-3 all-gathers the parameters twice
    (forward and backward) and reduce-scatters gradients: ``3 (p-1)/p * G``.
    Tensor parallelism all-reduces activations instead (two per layer in
    forward, two in backward); pass their total bytes as
    ``tp_activation_bytes``.
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
    return 2 * ring * tp_activation_bytes


def gib(nbytes: float) -> float:
    """Bytes to GiB, for tables."""
    return nbytes / 2**30

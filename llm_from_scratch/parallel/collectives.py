"""Ring collectives from point-to-point messages, and a byte counter.

All of parallel training rests on three collectives over ``p`` ranks:

* **reduce-scatter**: every rank ends with the sum of one ``1/p`` chunk;
* **all-gather**: every rank ends with every rank's chunk;
* **all-reduce** = reduce-scatter followed by all-gather.

In a ring, rank ``r`` only ever sends to ``r+1`` and receives from ``r-1``.
Each of the ``p-1`` steps of reduce-scatter moves one chunk of ``N/p``
elements per rank, so a rank sends ``(p-1)/p * N`` elements, and an all-reduce
twice that: almost independent of ``p``, which is why rings scale.

``CommLog`` records what a rank sends, in two ways: the ``ring_*``
functions add the bytes of every message they really send; the wrappers
around torch's collectives (``all_reduce``, ...) add, for every call, the
bytes a ring would send for it, since gloo's and NCCL's own traffic is hidden
from us. The wrappers' totals thus check that a scheme issues exactly the
collectives the cost model assumes, not what went over the wire.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.distributed as dist


@dataclass
class CommLog:
    """Bytes this rank sent, per operation name (reset between experiments)."""

    sent: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, nbytes: int) -> None:
        self.sent[name] = self.sent.get(name, 0) + int(nbytes)

    def total(self) -> int:
        return sum(self.sent.values())

    def reset(self) -> None:
        self.sent.clear()


COMM_LOG = CommLog()


def ring_bytes(op: str, nbytes: int, world_size: int) -> int:
    """Bytes one rank sends for ``op`` on an ``nbytes`` buffer with a ring."""
    if op in ("reduce_scatter", "all_gather"):
        return nbytes * (world_size - 1) // world_size
    if op == "all_reduce":
        return 2 * nbytes * (world_size - 1) // world_size
    raise ValueError(f"op must be reduce_scatter, all_gather or all_reduce: {op!r}")


def _exchange(send: torch.Tensor, recv: torch.Tensor, rank: int, world: int) -> None:
    """Send to the right neighbour while receiving from the left one."""
    right, left = (rank + 1) % world, (rank - 1) % world
    request = dist.isend(send.contiguous(), right)
    dist.recv(recv, left)
    request.wait()
    COMM_LOG.add("ring", send.numel() * send.element_size())


def ring_reduce_scatter(tensor: torch.Tensor) -> torch.Tensor:
    """Sum ``tensor`` over ranks; return this rank's chunk of the sum.

    ``tensor.numel()`` must be divisible by the world size. At step ``s``
    rank ``r`` sends its running sum of chunk ``r - s - 1`` to the right and
    adds the chunk ``r - s - 2`` that arrives from the left; after ``p-1``
    steps chunk ``r`` has passed through every rank.
    """
    rank, world = dist.get_rank(), dist.get_world_size()
    # region checks
    if tensor.numel() % world:
        raise ValueError(f"numel {tensor.numel()} is not divisible by {world} ranks")
    # endregion
    chunks = [c.clone() for c in tensor.reshape(world, -1)]
    incoming = torch.empty_like(chunks[0])
    for step in range(world - 1):
        send_idx = (rank - step - 1) % world
        recv_idx = (rank - step - 2) % world
        _exchange(chunks[send_idx], incoming, rank, world)
        chunks[recv_idx] += incoming
    return chunks[rank]


def ring_all_gather(chunk: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's ``chunk`` (rank order) on every rank."""
    rank, world = dist.get_rank(), dist.get_world_size()
    out = torch.empty((world, *chunk.shape), dtype=chunk.dtype, device=chunk.device)
    out[rank] = chunk
    for step in range(world - 1):
        send_idx = (rank - step) % world
        recv_idx = (rank - step - 1) % world
        _exchange(out[send_idx], out[recv_idx], rank, world)
    return out.reshape(-1, *chunk.shape[1:]) if chunk.dim() else out


def ring_all_reduce(tensor: torch.Tensor) -> torch.Tensor:
    """Sum over ranks: a ring reduce-scatter, then a ring all-gather."""
    world = dist.get_world_size()
    flat = tensor.reshape(-1)
    pad = (-flat.numel()) % world
    if pad:
        flat = torch.cat([flat, flat.new_zeros(pad)])
    summed = ring_all_gather(ring_reduce_scatter(flat))
    return summed[: tensor.numel()].reshape(tensor.shape)


# torch 2.13 names the single-tensor collectives ``*_single``; older releases
# (still common on GPU machines) only have the names that 2.13 deprecates.
all_gather_single = getattr(dist, "all_gather_single", None) or getattr(
    dist, "all_gather_into_tensor"
)
reduce_scatter_single = getattr(dist, "reduce_scatter_single", None) or getattr(
    dist, "reduce_scatter_tensor"
)

# Thin wrappers over torch's collectives that log the ring-formula bytes of each
# call (not measured traffic), so every scheme reports its traffic the same way.


def all_reduce(
    tensor: torch.Tensor, async_op: bool = False, op: dist.ReduceOp = dist.ReduceOp.SUM
) -> dist.Work | None:
    nbytes = tensor.numel() * tensor.element_size()
    COMM_LOG.add("all_reduce", ring_bytes("all_reduce", nbytes, dist.get_world_size()))
    return dist.all_reduce(tensor, op=op, async_op=async_op)


def reduce_scatter(output: torch.Tensor, input: torch.Tensor) -> None:
    nbytes = input.numel() * input.element_size()
    world = dist.get_world_size()
    COMM_LOG.add("reduce_scatter", ring_bytes("reduce_scatter", nbytes, world))
    reduce_scatter_single(output, input)


def all_gather(output: torch.Tensor, input: torch.Tensor) -> None:
    nbytes = output.numel() * output.element_size()
    world = dist.get_world_size()
    COMM_LOG.add("all_gather", ring_bytes("all_gather", nbytes, world))
    all_gather_single(output, input)


def time_collective(op: str, numel: int, repeats: int = 5, ring: bool = False) -> float:
    """Median seconds of one ``op`` on ``numel`` float32 values (all ranks)."""
    world = dist.get_world_size()
    numel -= numel % world
    data = torch.randn(numel)
    out = torch.empty(numel // world) if op == "reduce_scatter" else torch.empty(numel)
    times = []
    for _ in range(repeats + 1):
        dist.barrier()
        start = time.perf_counter()
        if op == "all_reduce":
            ring_all_reduce(data) if ring else dist.all_reduce(data)
        elif op == "reduce_scatter":
            ring_reduce_scatter(data) if ring else reduce_scatter_single(out, data)
        elif op == "all_gather":
            chunk = data[: numel // world]
            ring_all_gather(chunk) if ring else all_gather_single(out, chunk)
        else:
            raise ValueError(f"unknown collective {op!r}")
        times.append(time.perf_counter() - start)
    times = sorted(times[1:])  # the first call warms up connections
    return times[len(times) // 2]

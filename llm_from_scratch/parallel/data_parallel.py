"""Data parallelism from scratch: same model everywhere, batch split, grads averaged.

Each of the ``p`` ranks holds a full copy of the model and runs forward and
backward on ``1/p`` of the global batch. Averaging the gradients over ranks
gives exactly the gradient of the global batch's mean loss (each rank's
loss being the mean over an equal share), so every copy takes the same
optimizer step and the copies never drift apart.

Two details make it fast, as in PyTorch's ``DistributedDataParallel``
(Li et al., 2020):

* gradients are packed into **buckets** of a few MB, since one collective
  on a big buffer costs much less than many on small ones;
* a bucket is all-reduced **asynchronously** as soon as all its gradients
  exist (a hook on each parameter), overlapping communication with the rest
  of the backward pass. Buckets are filled in reverse parameter order, the
  order in which backward produces gradients, and launched in bucket order
  on every rank, so ranks never pair up different collectives.

Frozen parameters (``requires_grad=False``) are skipped; a tied parameter
appears once in ``module.parameters()``, and autograd sums its gradient
from both uses before the hook fires, so it is reduced once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from llm_from_scratch.parallel.collectives import all_reduce


def broadcast_module(module: nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s parameters and buffers to every rank."""
    for tensor in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(tensor.data, src)


def make_buckets(params: list[nn.Parameter], bucket_bytes: int) -> list[list[int]]:
    """Group parameter indices into buckets of at most ``bucket_bytes``
    (a parameter larger than that gets a bucket of its own)."""
    if bucket_bytes <= 0:
        raise ValueError(f"bucket size must be > 0 bytes, got {bucket_bytes}")
    buckets: list[list[int]] = [[]]
    size = 0
    for i, p in enumerate(params):
        nbytes = p.numel() * p.element_size()
        if buckets[-1] and size + nbytes > bucket_bytes:
            buckets.append([])
            size = 0
        buckets[-1].append(i)
        size += nbytes
    return [b for b in buckets if b]


class DataParallel(nn.Module):
    """Wrap ``module`` so that backward leaves the rank-averaged gradient."""

    def __init__(self, module: nn.Module, bucket_mb: float = 1.0) -> None:
        super().__init__()
        # region checks
        if not dist.is_initialized():
            raise RuntimeError("DataParallel needs torch.distributed to be initialised")
        # endregion
        self.module = module
        self.world_size = dist.get_world_size()
        broadcast_module(module)
        # reverse order: the last layers' gradients are ready first
        self._params = [p for p in module.parameters() if p.requires_grad][::-1]
        self.buckets = make_buckets(self._params, int(bucket_mb * 2**20))
        self._bucket_of = {}
        for b, bucket in enumerate(self.buckets):
            for i in bucket:
                self._bucket_of[id(self._params[i])] = b
        self._sync = True
        self._reset()
        for p in self._params:
            p.register_post_accumulate_grad_hook(self._on_grad_ready)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    @contextmanager
    def no_sync(self) -> Iterator[None]:
        """Accumulate local gradients without communicating (micro-steps)."""
        self._sync = False
        try:
            yield
        finally:
            self._sync = True

    def _reset(self) -> None:
        self._missing = [len(b) for b in self.buckets]
        self._next = 0  # first bucket not launched yet
        self._inflight: list[tuple[int, torch.Tensor, dist.Work]] = []
        self._callback_queued = False

    def _on_grad_ready(self, param: torch.Tensor) -> None:
        if not self._sync:
            return
        if not self._callback_queued:  # run _finish once backward is done
            torch.autograd.Variable._execution_engine.queue_callback(self._finish)
            self._callback_queued = True
        self._missing[self._bucket_of[id(param)]] -= 1
        while self._next < len(self.buckets) and self._missing[self._next] == 0:
            self._launch(self._next)

    def _launch(self, b: int) -> None:
        grads = []
        for i in self.buckets[b]:
            p = self._params[i]
            g = p.grad if p.grad is not None else torch.zeros_like(p)
            grads.append(g.reshape(-1))
        flat = torch.cat(grads).div_(self.world_size)
        self._inflight.append((b, flat, all_reduce(flat, async_op=True)))
        self._next += 1

    def _finish(self) -> None:
        """Reduce buckets whose parameters got no gradient, wait, write back."""
        while self._next < len(self.buckets):
            self._launch(self._next)
        for b, flat, work in self._inflight:
            work.wait()
            offset = 0
            for i in self.buckets[b]:
                p = self._params[i]
                n = p.numel()
                p.grad = flat[offset : offset + n].view_as(p).clone()
                offset += n
        self._reset()

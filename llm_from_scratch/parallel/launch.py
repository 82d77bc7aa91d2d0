"""Run one function in several processes that form a process group.

Every technique in this chapter runs on a laptop: ``run_parallel(fn, 2)``
starts two Python processes, joins them into a ``torch.distributed`` group
(gloo by default, or nccl) and calls ``fn(rank, world_size, *args)`` in
each. What the ranks return comes back as a list, in rank order.

Distributed code fails in an unpleasant way: one rank raises, the others
wait for it forever inside a collective. Here that cannot happen. The first
rank that raises brings the whole group down and its traceback is re-raised
in the parent; a run that exceeds ``timeout`` seconds is killed. ``fn`` must
be importable (defined in a module, not a notebook cell), because the
``spawn`` start method sends functions to the children by name.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import os
import queue
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


class ParallelError(RuntimeError):
    """A rank raised (or died); the message carries that rank's traceback."""


def _child(
    fn: Callable[..., Any],
    rank: int,
    world_size: int,
    args: tuple[Any, ...],
    init_file: str,
    backend: str,
    timeout: float,
    results: Any,
) -> None:
    """Body of one rank: join the group, run ``fn``, report result or error."""
    try:
        torch.set_num_threads(1)  # ranks share the CPU; one thread each
        if backend == "nccl":
            torch.cuda.set_device(rank % torch.cuda.device_count())
        dist.init_process_group(
            backend,
            init_method=f"file://{init_file}",
            rank=rank,
            world_size=world_size,
            timeout=datetime.timedelta(seconds=timeout),
        )
        result = fn(rank, world_size, *args)
        buffer = io.BytesIO()  # by value: shared-memory tensors die with the rank
        torch.save(result, buffer)
        results.put((rank, True, buffer.getvalue()))
    except BaseException:  # noqa: BLE001 - report everything, then exit
        results.put((rank, False, traceback.format_exc()))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def run_parallel(
    fn: Callable[..., Any],
    world_size: int,
    *args: Any,
    timeout: float = 120.0,
    backend: str = "gloo",
) -> list[Any]:
    """Call ``fn(rank, world_size, *args)`` in ``world_size`` processes.

    Returns the list of return values in rank order; they travel as
    ``torch.save`` bytes loaded with ``weights_only=True``, so they must be
    tensors, numbers, strings, or lists/tuples/dicts of them. Raises
    ``ParallelError`` with the traceback of the first rank that fails and
    ``TimeoutError`` if the group has not finished after ``timeout`` seconds;
    either way every rank is terminated. The default backend is gloo (CPU
    tensors, which the chapter's demos use); ``backend="nccl"`` gives rank
    ``r`` GPU ``r`` (``torchrun`` selects nccl on its own through the CLI).
    """
    if not isinstance(world_size, int) or world_size < 1:
        raise ValueError(f"world_size must be an int >= 1, got {world_size!r}")
    if timeout <= 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"backend must be 'gloo' or 'nccl', got {backend!r}")
    if backend == "nccl" and torch.cuda.device_count() < 1:
        raise ValueError("backend 'nccl' needs a CUDA device")
    loopback = {"linux": "lo", "darwin": "lo0"}.get(sys.platform)
    if backend == "gloo" and loopback:  # stay on localhost, whatever the hostname
        os.environ.setdefault("GLOO_SOCKET_IFNAME", loopback)
    context = mp.get_context("spawn")
    results = context.Queue()
    fd, init_file = tempfile.mkstemp(prefix="llmfs_pg_")
    os.close(fd)
    os.unlink(init_file)  # the FileStore creates it; a stale file would hang
    procs = [
        context.Process(
            target=_child,
            args=(fn, rank, world_size, args, init_file, backend, timeout,
                  results),
            daemon=True,
        )
        for rank in range(world_size)
    ]
    for proc in procs:
        proc.start()
    outputs: dict[int, Any] = {}
    deadline = time.monotonic() + timeout
    try:
        while len(outputs) < world_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                missing = sorted(set(range(world_size)) - set(outputs))
                raise TimeoutError(
                    f"ranks {missing} did not finish within {timeout:.0f} s"
                )
            try:
                rank, ok, payload = results.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                for rank, proc in enumerate(procs):
                    if rank not in outputs and proc.exitcode not in (None, 0):
                        raise ParallelError(
                            f"rank {rank} died with exit code {proc.exitcode}"
                        ) from None
                continue
            if not ok:
                raise ParallelError(f"rank {rank} of {world_size} failed:\n{payload}")
            outputs[rank] = torch.load(io.BytesIO(payload), weights_only=True)
        for proc in procs:
            proc.join(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        for proc in procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
        with contextlib.suppress(FileNotFoundError):  # the store may delete it
            os.unlink(init_file)
    return [outputs[rank] for rank in range(world_size)]

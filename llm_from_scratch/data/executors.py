"""Where curation's work runs: a process pool on this machine, or a Dask cluster.

``curate`` needs two things from an executor, and nothing else:

* ``map(fn, items, *shared)``: ``fn(item, *shared)`` for every item, results in
  input order, reading ``items`` lazily (a bounded window ahead), so inputs
  larger than memory stream through. ``shared`` objects (the settings, a
  classifier) reach each worker once, not with every item.
* ``near_duplicate_clusters(signatures, bands, rows, threshold)``: the
  representative (smallest index) of every document's near-duplicate cluster.

Both executors give identical answers, so ``curate`` writes the same bytes with
either: per-document work is a pure function of the document, results come back
in order, and the clusters are connected components whose representative is
their smallest member, which no schedule can change. ``open_executor`` picks one
from a ``CurationConfig``; the Dask one lives in ``data/dask_executor.py``.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from llm_from_scratch.data.curation_config import EXECUTORS
from llm_from_scratch.data.dedup import near_duplicate_clusters

_FN: Callable[..., Any] | None = None
_SHARED: tuple[Any, ...] = ()


def _init_worker(fn: Callable[..., Any], shared: tuple[Any, ...]) -> None:
    global _FN, _SHARED
    _FN, _SHARED = fn, shared


def _call(item: Any) -> Any:
    assert _FN is not None
    return _FN(item, *_SHARED)


class LocalExecutor:
    """``workers`` processes on this machine (``workers=1``: in this process)."""

    def __init__(self, workers: int = 2) -> None:
        if workers < 1:
            raise ValueError(f"LocalExecutor: workers must be >= 1, got {workers}")
        self.workers = workers

    def map(self, fn: Callable[..., Any], items: Iterable[Any], *shared: Any
            ) -> Iterator[Any]:
        if self.workers == 1:
            for item in items:
                yield fn(item, *shared)
            return
        ctx = mp.get_context("fork" if sys.platform == "linux" else "spawn")
        # Pool.imap reads its whole input ahead of the workers; feeding it one
        # window at a time keeps memory bounded on inputs larger than RAM.
        window = 256 * self.workers
        items = iter(items)
        with ctx.Pool(self.workers, _init_worker, (fn, shared)) as pool:
            while batch := list(itertools.islice(items, window)):
                yield from pool.imap(_call, batch, chunksize=4)

    def near_duplicate_clusters(self, signatures: np.ndarray, bands: int, rows: int,
                                threshold: float) -> list[int]:
        return near_duplicate_clusters(signatures, bands, rows, threshold)

    def close(self) -> None:
        pass


@contextmanager
def open_executor(config: Any) -> Iterator[Any]:
    """The executor ``config.executor`` names (``config.workers`` local processes,
    or Dask: the cluster at ``config.dask_address``, or a local cluster of
    ``config.workers`` workers started and stopped here)."""
    if config.executor == "local":
        ex: Any = LocalExecutor(config.workers)
    elif config.executor == "dask":
        from llm_from_scratch.data.dask_executor import DaskExecutor

        ex = DaskExecutor(config.dask_address, config.workers)
    else:
        raise ValueError(f"executor must be one of {EXECUTORS}, got {config.executor!r}")
    try:
        yield ex
    finally:
        ex.close()

"""Curation on a Dask cluster: the same stages and ledger, the same output bytes.

The per-document stages are a pure function of each document, so they are
batches of tasks whose results come back in input order. Near-dedup is the
one global step, and it is where a distributed engine earns its keep: every
(band, band value) bucket must meet in one place, wherever its documents were
hashed. That is a shuffle, the way datatrove and the FineWeb pipeline group
MinHash buckets:

1. the signature matrix is cut into blocks; each block emits, for every band,
   one record ``(bucket key, (document index, band bytes, signature))``;
2. ``dask.bag.groupby`` shuffles the records so that each bucket lands in one
   partition (the key is a 64-bit BLAKE2 digest, an ``int``, because Python's
   ``hash`` of bytes differs between worker processes);
3. each bucket confirms its candidate pairs with the signature estimate of
   Jaccard, as ``dedup.near_duplicate_clusters`` does, and returns the edges
   it found;
4. the driver joins the edges with union-find. Clusters are connected
   components and each one's representative is its smallest index, so the
   answer equals the single-machine one whatever the partitioning.

Records carry the whole signature (``num_perm`` x 4 bytes per band), which is
simple and bounded per partition; at web scale one would shuffle only
``(key, index)`` and join the signatures in a second step.

On a real cluster pass ``dask_address="tcp://scheduler:8786"`` (``curate
--executor dask --dask-address ...``): the workers need this package installed,
and the driver reads the inputs and writes the outputs.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from llm_from_scratch.data.dedup import UnionFind

BATCH = 16  # documents per task
BLOCK = 2048  # signatures per block of the LSH shuffle


def _run_batch(fn: Callable[..., Any], batch: list[Any], *shared: Any) -> list[Any]:
    return [fn(item, *shared) for item in batch]


def bucket_records(start: int, block: np.ndarray, bands: int, rows: int
                   ) -> list[tuple[int, tuple[int, bytes, np.ndarray]]]:
    """Step 1 for one block of signatures starting at document ``start``."""
    out = []
    for band in range(bands):
        values = np.ascontiguousarray(block[:, band * rows:(band + 1) * rows])
        for i, v in enumerate(values):
            exact = band.to_bytes(4, "little") + v.tobytes()
            key = int.from_bytes(hashlib.blake2b(exact, digest_size=8).digest(), "little")
            out.append((key, (start + i, exact, block[i])))
    return out


def bucket_edges(members: list[tuple[int, bytes, np.ndarray]], threshold: float
                 ) -> list[tuple[int, int]]:
    """Step 3 for one shuffled group: confirmed pairs, as a spanning forest.

    A group can hold two buckets whose 64-bit keys collide; they are split by
    their exact band bytes first, so only documents that share a band are paired.
    """
    edges = []
    buckets: dict[bytes, list[tuple[int, np.ndarray]]] = {}
    for index, exact, signature in members:
        buckets.setdefault(exact, []).append((index, signature))
    for bucket in buckets.values():
        if len(bucket) < 2:
            continue
        bucket.sort(key=lambda m: m[0])
        ids = [m[0] for m in bucket]
        block = np.stack([m[1] for m in bucket])
        uf = UnionFind(len(bucket))
        for i in range(len(bucket) - 1):
            root = uf.find(i)
            rest = [j for j in range(i + 1, len(bucket)) if uf.find(j) != root]
            if not rest:
                continue
            sims = (block[rest] == block[i]).mean(axis=1)
            for j in np.asarray(rest)[sims >= threshold]:
                uf.union(i, int(j))
                edges.append((ids[i], ids[int(j)]))
    return edges


class DaskExecutor:
    """Tasks on a Dask cluster: the one at ``address``, or a local one of
    ``workers`` single-threaded worker processes on the loopback interface,
    started here and stopped by ``close``."""

    def __init__(self, address: str | None = None, workers: int = 2) -> None:
        from dask.distributed import Client, LocalCluster

        if workers < 1:
            raise ValueError(f"DaskExecutor: workers must be >= 1, got {workers}")
        self.cluster = None
        if address is None:
            self.cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True,
                host="127.0.0.1", dashboard_address=None, silence_logs=40,
                # no dashboard; the scheduler's health routes on a free port
                scheduler_kwargs={"dashboard": False, "dashboard_address": ":0"})
            address = self.cluster.scheduler_address
        self.client = Client(address, set_as_default=False)
        self.workers = max(1, len(self.client.scheduler_info()["workers"]))

    def map(self, fn: Callable[..., Any], items: Iterable[Any], *shared: Any
            ) -> Iterator[Any]:
        # shared objects travel to every worker once; tasks refer to them
        refs = [self.client.scatter(s, broadcast=True) for s in shared]
        items = iter(items)
        pending: deque[Any] = deque()

        def submit() -> bool:
            batch = [x for _, x in zip(range(BATCH), items)]
            if batch:
                pending.append(self.client.submit(_run_batch, fn, batch, *refs,
                                                  pure=False))
            return bool(batch)

        for _ in range(4 * self.workers):  # a bounded window of tasks in flight
            if not submit():
                break
        while pending:
            future = pending.popleft()
            results = future.result()
            future.release()
            submit()
            yield from results

    def near_duplicate_clusters(self, signatures: np.ndarray, bands: int, rows: int,
                                threshold: float) -> list[int]:
        import dask.bag as db

        n, k = signatures.shape
        if bands < 1 or rows < 1 or bands * rows > k:
            raise ValueError(f"need bands*rows <= num_perm ({k}), got {bands}x{rows}")
        blocks = [(s, signatures[s:s + BLOCK]) for s in range(0, n, BLOCK)]
        records = db.from_sequence(blocks, npartitions=len(blocks)).map(
            lambda b: bucket_records(b[0], b[1], bands, rows)).flatten()
        groups = records.groupby(lambda r: r[0], shuffle="tasks",
                                 npartitions=max(1, 2 * self.workers))
        edges = groups.map(
            lambda g: bucket_edges([m for _, m in g[1]], threshold)).flatten()
        uf = UnionFind(n)
        for a, b in self.client.compute(edges).result():
            uf.union(a, b)
        return [uf.find(i) for i in range(n)]

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

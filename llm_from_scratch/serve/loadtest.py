"""Run the server in a thread, and measure it under many concurrent clients.

:func:`running_server` starts uvicorn on a free loopback port and yields its base
URL; :func:`load_test` sends ``n_requests`` streaming chat requests, at most
``concurrency`` at a time, and reports latency percentiles (to the first token
and to the last) and the aggregate rate of generated tokens.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np


@contextmanager
def running_server(app: Any, host: str = "127.0.0.1", port: int = 0,
                   timeout: float = 30.0) -> Iterator[str]:
    """``app`` served by uvicorn in a daemon thread; yields ``http://host:port``."""
    import uvicorn

    config = uvicorn.Config(app, host=host, port=port, log_level="warning",
                            lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the server did not start on {host}:{port}")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout)


@dataclass(frozen=True)
class LoadReport:
    """Seconds per request (first token, whole reply) and tokens/s over the run."""

    n_requests: int
    concurrency: int
    completed: int
    wall_s: float
    tokens: int
    first_token_s: dict[str, float]
    latency_s: dict[str, float]

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.wall_s if self.wall_s > 0 else 0.0


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p90": float("nan"), "p99": float("nan")}
    a = np.asarray(values)
    return {f"p{q}": float(np.percentile(a, q)) for q in (50, 90, 99)}


async def _one(client: Any, url: str, i: int, max_tokens: int,
               prompt: str) -> tuple[float, float, int]:
    """(seconds to first content, seconds in all, completion tokens) of one stream."""
    body = {"messages": [{"role": "user", "content": f"{prompt} ({i})"}],
            "max_tokens": max_tokens, "temperature": 1.0, "seed": i, "stream": True,
            "stream_options": {"include_usage": True}}
    start = time.perf_counter()
    first, tokens = None, 0
    async with client.stream("POST", url, json=body) as response:
        if response.status_code != 200:
            raise RuntimeError(f"request {i}: HTTP {response.status_code}")
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            elif first is None and chunk["choices"][0]["delta"].get("content"):
                first = time.perf_counter() - start
    total = time.perf_counter() - start
    return (total if first is None else first), total, tokens


def _run_coroutine(make: Any) -> Any:
    """``asyncio.run(make())``, in a helper thread when a loop already runs here
    (a Jupyter kernel has one, and asyncio.run refuses to nest)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def load_test(
    base_url: str,
    n_requests: int = 32,
    concurrency: int = 32,
    *,
    max_tokens: int = 32,
    prompt: str = "Tell me about the sea",
    timeout: float = 300.0,
) -> LoadReport:
    """Stream ``n_requests`` chat replies, ``concurrency`` at a time (bounded by
    ``timeout`` seconds in all), and summarise latencies and throughput."""
    import httpx

    if n_requests < 1 or concurrency < 1:
        raise ValueError("n_requests and concurrency must be >= 1")
    url = base_url.rstrip("/") + "/v1/chat/completions"

    async def run() -> tuple[list[tuple[float, float, int]], float]:
        gate = asyncio.Semaphore(concurrency)
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:

            async def bounded(i: int) -> tuple[float, float, int]:
                async with gate:
                    return await _one(client, url, i, max_tokens, prompt)

            start = time.perf_counter()
            results = await asyncio.wait_for(
                asyncio.gather(*(bounded(i) for i in range(n_requests))), timeout
            )
            return results, time.perf_counter() - start

    results, wall = _run_coroutine(run)
    return LoadReport(
        n_requests=n_requests,
        concurrency=concurrency,
        completed=len(results),
        wall_s=wall,
        tokens=sum(r[2] for r in results),
        first_token_s=_percentiles([r[0] for r in results]),
        latency_s=_percentiles([r[1] for r in results]),
    )

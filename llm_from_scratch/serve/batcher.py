"""Continuous batching: requests join and leave the running batch between steps.

Static batching waits for the longest request of a batch before starting the
next batch, so short requests leave their rows idle. Here each ``step`` retires
finished requests, prefills waiting ones into the free rows of a ragged KV cache
(``batch.RaggedKVCache``) and runs one decode step for every running request
(Yu et al., 2022, "Orca"). Each request samples with its own generator, so a
seeded request gives the same tokens whatever else shares the batch.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from llm_from_scratch.model import Transformer, sample_next
from llm_from_scratch.model.generation import check_sampling
from llm_from_scratch.serve.batch import RaggedKVCache, forward_rows, prefill_rows

FINISH_REASONS = ("stop", "length", "cancelled", "error")


@dataclass(frozen=True)
class SamplingParams:
    """How one request samples. temperature 0 is greedy; ``stop_token_ids`` end
    the request (the stop token itself is not returned); ``seed`` makes sampling
    reproducible (None: drawn from torch's global generator at submit)."""

    max_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int | None = None
    stop_token_ids: tuple[int, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int):
            raise ValueError(f"max_tokens must be an int, got {self.max_tokens!r}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        try:
            check_sampling(self.temperature, self.top_k, self.top_p)
        except ValueError as e:  # check_sampling's messages name the field
            raise ValueError(str(e)) from None
        if isinstance(self.temperature, bool) or isinstance(self.top_p, bool):
            raise ValueError("temperature and top_p must be numbers, not bools")
        stops = self.stop_token_ids
        if isinstance(stops, list):
            object.__setattr__(self, "stop_token_ids", stops := tuple(stops))
        if not isinstance(stops, tuple) or not all(
            isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in stops
        ):
            raise ValueError(
                f"stop_token_ids must be a tuple of ints >= 0, got {stops!r}"
            )
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int)
            or self.seed < 0
        ):
            raise ValueError(f"seed must be None or an int >= 0, got {self.seed!r}")


_DONE = object()
_ids = itertools.count()


class Request:
    """A submitted prompt: iterate it for tokens as they come, or wait for all.

    ``finish_reason`` is None while running, then "stop" (a stop token came),
    "length" (max_tokens reached), "cancelled" or "error" (the step raised; the
    error is re-raised by ``result`` and iteration).
    """

    def __init__(self, prompt: list[int], params: SamplingParams, seed: int) -> None:
        self.id = f"req-{next(_ids)}"
        self.prompt, self.params = prompt, params
        self.generator = torch.Generator().manual_seed(seed)
        self.tokens: list[int] = []
        self.finish_reason: str | None = None
        self.error: BaseException | None = None
        self._queue: queue.Queue[object] = queue.Queue()
        self._done = threading.Event()
        self._cancel = threading.Event()

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    def cancel(self) -> None:
        """Ask the batcher to drop this request before its next step."""
        self._cancel.set()

    def __iter__(self) -> Iterator[int]:
        while (item := self._queue.get()) is not _DONE:
            yield item  # type: ignore[misc]
        if self.error is not None:
            raise RuntimeError(f"request {self.id} failed") from self.error

    def result(self, timeout: float | None = None) -> list[int]:
        """All generated ids, once the request has finished."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"request {self.id} still running after {timeout} s")
        if self.error is not None:
            raise RuntimeError(f"request {self.id} failed") from self.error
        return list(self.tokens)

    # called by the batcher
    def _emit(self, token: int) -> bool:
        """Record one sampled token; True when the request is finished."""
        p = self.params
        if token in p.stop_token_ids:
            self._finish("stop")
            return True
        self.tokens.append(token)
        self._queue.put(token)
        if len(self.tokens) >= p.max_tokens:
            self._finish("length")
            return True
        return False

    def _finish(self, reason: str, error: BaseException | None = None) -> None:
        self.finish_reason, self.error = reason, error
        self._done.set()
        self._queue.put(_DONE)


class ContinuousBatcher:
    """Runs many requests on one model, at most ``max_batch_size`` at a time.

    Drive it by hand (``step``, ``run_until_idle``) or with a background thread
    (``start``/``stop``); ``submit`` is safe from any thread.
    """

    def __init__(
        self,
        model: Transformer,
        *,
        max_batch_size: int = 8,
        max_seq_len: int | None = None,
    ) -> None:
        limit = model.config.max_positions
        max_seq_len = limit if max_seq_len is None else max_seq_len
        if isinstance(max_batch_size, bool) or not isinstance(max_batch_size, int):
            raise ValueError(f"max_batch_size must be an int, got {max_batch_size!r}")
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
        if not isinstance(max_seq_len, int) or not 0 < max_seq_len <= limit:
            raise ValueError(
                f"max_seq_len must be in [1, {limit}] (the model's positions), "
                f"got {max_seq_len!r}"
            )
        self.model = model
        self.max_batch_size, self.max_seq_len = max_batch_size, max_seq_len
        self.cache = RaggedKVCache.for_model(model, max_batch_size, max_seq_len)
        self.waiting: deque[Request] = deque()
        self.running: list[Request] = []  # row i of the cache is running[i]
        self._lock = threading.Lock()  # one step at a time
        self._work = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.steps = 0

    def submit(self, prompt_ids: list[int], params: SamplingParams) -> Request:
        if not isinstance(params, SamplingParams):
            raise TypeError(
                f"params must be SamplingParams, got {type(params).__name__}"
            )
        prompt = [int(t) for t in prompt_ids]
        V = self.model.config.vocab_size
        if not prompt:
            raise ValueError("prompt_ids must hold at least one token")
        if min(prompt) < 0 or max(prompt) >= V:
            raise ValueError(f"prompt_ids must lie in [0, {V}) (the vocabulary)")
        if len(prompt) + params.max_tokens > self.max_seq_len:
            raise ValueError(
                f"len(prompt_ids) ({len(prompt)}) + max_tokens ({params.max_tokens})"
                f" exceeds the context of {self.max_seq_len} tokens"
            )
        seed = params.seed
        if seed is None:
            seed = int(torch.randint(2**62, ()))
        req = Request(prompt, params, seed)
        with self._work:
            self.waiting.append(req)
            self._work.notify()
        return req

    @property
    def has_work(self) -> bool:
        return bool(self.waiting or self.running)

    def step(self) -> None:
        """Retire cancelled requests, admit waiting ones, decode one token each."""
        with self._lock, torch.no_grad():
            try:
                self._step()
            except BaseException as e:  # fail the requests, never hang a reader
                for r in self.running + list(self.waiting):
                    r._finish("error", e)
                self.running, self.waiting = [], deque()
                self.cache.lengths.zero_()
                raise
            self.steps += 1

    def _step(self) -> None:
        for r in self.running:
            if r._cancel.is_set():
                r._finish("cancelled")
        self._retire()
        new: list[Request] = []
        with self._work:
            while self.waiting and len(self.running) + len(new) < self.max_batch_size:
                r = self.waiting.popleft()
                if r._cancel.is_set():
                    r._finish("cancelled")
                else:
                    new.append(r)
        if new:
            start = len(self.running)
            device = self.cache.lengths.device
            prompts = [torch.tensor(r.prompt, device=device) for r in new]
            self.running += new  # before the forward: an error fails them too
            logits = prefill_rows(self.model, self.cache, start, prompts)
            self._sample(new, logits)
            self._retire()
        if self.running:
            last = [r.tokens[-1] for r in self.running]
            idx = torch.tensor(last, device=self.cache.lengths.device)[:, None]
            logits = forward_rows(self.model, self.cache, 0, idx)[:, -1]
            self._sample(self.running, logits)
            self._retire()

    def _sample(self, reqs: list[Request], logits: Tensor) -> None:
        """One token per request from its row of logits (B, V), own generator each."""
        greedy = logits.float().argmax(dim=-1).tolist()
        for i, r in enumerate(reqs):
            p = r.params
            if p.temperature == 0:
                token = greedy[i]
            else:
                token = int(
                    sample_next(
                        logits[i : i + 1].cpu(), p.temperature, p.top_k, p.top_p,
                        r.generator,
                    )[0]
                )
            r._emit(token)

    def _retire(self) -> None:
        keep = [i for i, r in enumerate(self.running) if not r.finished]
        if len(keep) < len(self.running):
            self.cache.keep_rows(keep)
            self.running = [self.running[i] for i in keep]

    def run_until_idle(self) -> None:
        while self.has_work:
            self.step()

    def start(self) -> None:
        """Step in a background thread whenever there is work."""
        if self._thread is not None:
            raise RuntimeError("the batcher is already started")
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread (running requests stay; step to finish them)."""
        if self._thread is None:
            return
        with self._work:
            self._stopping = True
            self._work.notify()
        self._thread.join()
        self._thread = None

    def _loop(self) -> None:
        while True:
            with self._work:
                while not self._stopping and not self.has_work:
                    self._work.wait()
                if self._stopping:
                    return
            try:
                self.step()
            except Exception:  # the requests carry the error; keep serving
                continue

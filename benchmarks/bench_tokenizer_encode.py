"""Single-thread encode throughput: our Tokenizer vs tiktoken, same ranks.

    .venv/bin/python benchmarks/bench_tokenizer_encode.py [--repeats 5]

Both encode the modern Shakespeare corpus (~5 MB) with the book's tokenizer;
tiktoken runs the identical ranks and pattern in Rust, so the ids must match
and only the speed differs.

"cold" starts from an empty pre-token cache: one pass over text never seen,
the honest single-pass number. "warm" encodes the same text again, so every
pre-token is a cache hit: an upper bound, reached only on very repetitive
text. Runs alternate and the best of ``--repeats`` is kept. Each run is timed
twice: wall clock, and the process's CPU time, which moves far less when other
jobs share the cores (both encoders are single-threaded).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from llm_from_scratch.tokenizer import book_tokenizer
from llm_from_scratch.tokenizer.book import book_corpus


def timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    tok = book_tokenizer()
    enc = tok.to_tiktoken()
    text = book_corpus()
    megabytes = len(text.encode("utf-8")) / 1e6
    assert tok.encode(text) == enc.encode(text, allowed_special="all")

    runs: dict[str, list[tuple[float, float]]] = {
        "tiktoken (Rust)": [], "ours, cold cache": [], "ours, warm cache": []
    }
    for _ in range(args.repeats):  # interleaved, so load changes hit all three
        runs["tiktoken (Rust)"].append(
            timed(lambda: enc.encode(text, allowed_special="all"))
        )
        tok.clear_cache()
        runs["ours, cold cache"].append(timed(lambda: tok.encode(text)))
        runs["ours, warm cache"].append(timed(lambda: tok.encode(text)))
    ref_wall = min(w for w, _ in runs["tiktoken (Rust)"])
    ref_cpu = min(c for _, c in runs["tiktoken (Rust)"])
    print(f"corpus: {megabytes:.2f} MB, vocab {tok.vocab_size}, identical ids: yes")
    print(f"{'':<18} {'wall MB/s':>9} {'ratio':>6}   {'CPU MB/s':>8} {'ratio':>6}")
    for name, times in runs.items():
        wall, cpu = min(w for w, _ in times), min(c for _, c in times)
        print(f"{name:<18} {megabytes / wall:9.2f} {ref_wall / wall:5.2f}x   "
              f"{megabytes / cpu:8.2f} {ref_cpu / cpu:5.2f}x")


if __name__ == "__main__":
    main()

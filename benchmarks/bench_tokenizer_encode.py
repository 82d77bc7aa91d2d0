"""Single-thread encode throughput: our Tokenizer vs tiktoken, same ranks.

    .venv/bin/python benchmarks/bench_tokenizer_encode.py [--repeats 3]

Both encode the modern Shakespeare corpus (~5 MB) with the book's tokenizer;
tiktoken runs the identical ranks and pattern in Rust, so the ids must match
and only the speed differs. Runs alternate and the best of ``--repeats`` is
kept, which damps noise from other processes. The "cold" number starts from an
empty pre-token cache; "warm" is a second pass over the same text.
"""

from __future__ import annotations

import argparse
import time

from llm_from_scratch.tokenizer import book_tokenizer
from llm_from_scratch.tokenizer.book import book_corpus


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    tok = book_tokenizer()
    enc = tok.to_tiktoken()
    text = book_corpus()
    megabytes = len(text.encode("utf-8")) / 1e6

    def ours_cold() -> None:
        tok._cache.clear()
        tok.encode(text)

    assert tok.encode(text) == enc.encode(text, allowed_special="all")
    cold, warm, ref = [], [], []
    for _ in range(args.repeats):  # interleaved, so load changes hit all three
        cold.append(timed(ours_cold))
        warm.append(timed(lambda: tok.encode(text)))
        ref.append(timed(lambda: enc.encode(text, allowed_special="all")))
    best = {"tiktoken (Rust)": min(ref), "ours, cold cache": min(cold),
            "ours, warm cache": min(warm)}
    print(f"corpus: {megabytes:.2f} MB, vocab {tok.vocab_size}, identical ids: yes")
    for name, seconds in best.items():
        ratio = min(ref) / seconds
        print(f"{name:<18} {megabytes / seconds:6.2f} MB/s  ratio {ratio:.2f}x")

if __name__ == "__main__":
    main()

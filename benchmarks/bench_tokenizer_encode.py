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


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


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
    cold = best_time(ours_cold, args.repeats)
    warm = best_time(lambda: tok.encode(text), args.repeats)
    ref = best_time(lambda: enc.encode(text, allowed_special="all"), args.repeats)
    print(f"corpus: {megabytes:.2f} MB, vocab {tok.vocab_size}, identical ids: yes")
    print(f"tiktoken (Rust)       {megabytes / ref:6.2f} MB/s")
    print(f"ours, cold cache      {megabytes / cold:6.2f} MB/s  ratio {ref / cold:.2f}x")
    print(f"ours, warm cache      {megabytes / warm:6.2f} MB/s  ratio {ref / warm:.2f}x")


if __name__ == "__main__":
    main()

"""MinHash signatures per second: llm_from_scratch vs datasketch, same documents.

Both start from raw text and produce 128-permutation signatures of word
5-gram shingles; the Jaccard estimates of both are compared with the true
Jaccard of near-duplicate pairs. Run: .venv/bin/python benchmarks/bench_data_minhash.py
"""

from __future__ import annotations

import random
import time

import numpy as np
from datasketch import MinHash

from llm_from_scratch.data.crawl import local_crawl
from llm_from_scratch.data.dedup import (
    MinHasher,
    estimate_jaccard,
    jaccard,
    word_shingles,
)
from llm_from_scratch.data.noise import near_copy

NUM_PERM, NGRAM, REPEATS = 128, 5, 3


def datasketch_signatures(texts: list[str]) -> list[MinHash]:
    out = []
    for text in texts:
        m = MinHash(num_perm=NUM_PERM, seed=1)
        m.update_batch([s.encode() for s in word_shingles(text, NGRAM)])
        out.append(m)
    return out


def best_time(fn, *args) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    texts = [d.text for d in local_crawl() if d.text]
    mb = sum(len(t.encode()) for t in texts) / 1e6
    hasher = MinHasher(NUM_PERM, NGRAM, seed=1)
    ours = best_time(hasher.signatures, texts)
    theirs = best_time(datasketch_signatures, texts)
    print(f"{len(texts)} documents, {mb:.1f} MB, best of {REPEATS}")
    print(f"llm_from_scratch: {len(texts) / ours:8.0f} docs/s ({mb / ours:.1f} MB/s)")
    print(f"datasketch:       {len(texts) / theirs:8.0f} docs/s "
          f"({mb / theirs:.1f} MB/s)")
    print(f"speed-up: {theirs / ours:.2f}x")

    rng = random.Random(0)
    long_texts = [t for t in texts if len(t.split()) > 200][:60]
    pairs = [(t, near_copy(t, rng, edits=rng.choice([0.01, 0.03, 0.1])))
             for t in long_texts]
    err_ours, err_theirs = [], []
    for a, b in pairs:
        true = jaccard(word_shingles(a, NGRAM), word_shingles(b, NGRAM))
        sa, sb = hasher.signatures([a, b])
        da, db = datasketch_signatures([a, b])
        err_ours.append(abs(estimate_jaccard(sa, sb) - true))
        err_theirs.append(abs(da.jaccard(db) - true))
    print(
        f"|estimate - true Jaccard| over {len(pairs)} pairs: "
        f"ours mean {np.mean(err_ours):.3f} max {np.max(err_ours):.3f}; "
        f"datasketch mean {np.mean(err_theirs):.3f} max {np.max(err_theirs):.3f}"
    )


if __name__ == "__main__":
    main()

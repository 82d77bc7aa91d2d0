"""MinHash signatures per second: llm_from_scratch vs datasketch, same documents.

Both start from raw text and produce 128-permutation signatures of word
5-gram shingles; the Jaccard estimates of both are compared with the true
Jaccard of near-duplicate pairs, and the run fails (exit status 1) when either
is outside the tolerance stated in ``check_estimates``.
Run: .venv/bin/python benchmarks/bench_data_minhash.py
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
MAX_ERROR_RATIO = 1.5


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
    true, est_ours, est_theirs = [], [], []
    for a, b in pairs:
        true.append(jaccard(word_shingles(a, NGRAM), word_shingles(b, NGRAM)))
        sa, sb = hasher.signatures([a, b])
        da, db = datasketch_signatures([a, b])
        est_ours.append(estimate_jaccard(sa, sb))
        est_theirs.append(da.jaccard(db))
    check_estimates(np.array(true), np.array(est_ours), np.array(est_theirs))


def check_estimates(true: np.ndarray, ours: np.ndarray, theirs: np.ndarray) -> None:
    """Fail loudly unless both estimators are within tolerance of the truth.

    Tolerance, per pair: 4 standard deviations of a k-permutation estimate,
    4 * sqrt(J(1-J)/k), plus 0.02 of slack near J = 0 or 1, where that
    normal approximation of the binomial fails; and ours may not be worse on
    average than datasketch's by more than MAX_ERROR_RATIO (both are unbiased
    with the same variance, so the ratio of mean errors should be near 1).
    """
    tol = 4 * np.sqrt(true * (1 - true) / NUM_PERM) + 0.02
    err_ours, err_theirs = np.abs(ours - true), np.abs(theirs - true)
    ratio = (err_ours.mean() + 1e-9) / (err_theirs.mean() + 1e-9)
    print(
        f"|estimate - true Jaccard| over {len(true)} pairs: "
        f"ours mean {err_ours.mean():.3f} max {err_ours.max():.3f}; "
        f"datasketch mean {err_theirs.mean():.3f} max {err_theirs.max():.3f}"
    )
    print(f"mean-error ratio ours/datasketch: {ratio:.2f} (allowed <= "
          f"{MAX_ERROR_RATIO}); mean estimate ratio ours/datasketch: "
          f"{ours.mean() / theirs.mean():.3f}")
    failures = []
    for name, err in (("ours", err_ours), ("datasketch", err_theirs)):
        bad = np.flatnonzero(err > tol)
        if len(bad):
            i = bad[0]
            failures.append(f"{name}: {len(bad)} pair(s) outside tolerance, e.g. "
                            f"pair {i}: true {true[i]:.3f}, error {err[i]:.3f} > "
                            f"{tol[i]:.3f}")
    if ratio > MAX_ERROR_RATIO:
        failures.append(f"ours is {ratio:.2f}x less accurate than datasketch")
    if failures:
        raise SystemExit("Jaccard estimates out of tolerance:\n  "
                         + "\n  ".join(failures))
    print("Jaccard estimates within tolerance: OK")

if __name__ == "__main__":
    main()

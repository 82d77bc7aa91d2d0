"""MinHash + LSH from scratch, checked against datasketch and exact Jaccard."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_from_scratch.data.dedup import (
    MinHasher,
    UnionFind,
    dedup_lines,
    estimate_jaccard,
    jaccard,
    lsh_buckets,
    near_duplicate_clusters,
    repeated_lines,
    s_curve,
    shingle_hashes,
    text_hash,
    word_shingles,
)
from llm_from_scratch.data.noise import near_copy

WORDS = "the quick brown fox jumps over lazy dog and cat sat on mat near a tree".split()


def random_text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) + str(rng.randint(0, 50)) for _ in range(n))


def test_signature_is_bit_identical_to_datasketch():
    rng = random.Random(0)
    hasher = MinHasher(num_perm=64, ngram=3, seed=7)
    for _ in range(5):
        hashes = shingle_hashes(random_text(rng, 200), 3)
        ref = MinHash(64, hashfunc=lambda x: x, permutations=(hasher.a, hasher.b),
                      scheme="affine32")
        ref.update_batch(hashes.tolist())
        assert np.array_equal(ref.hashvalues, hasher.signature(hashes))


def test_batched_signatures_equal_one_by_one():
    rng = random.Random(1)
    texts = [random_text(rng, rng.randint(0, 300)) for _ in range(40)] + ["", "a b"]
    hasher = MinHasher(num_perm=32)
    batched = hasher.signatures(texts, chunk_rows=100)
    for text, sig in zip(texts, batched):
        assert np.array_equal(sig, hasher.signature(shingle_hashes(text, 5)))


def test_hashes_match_shingle_sets():
    text = "To be, or not to be: that is the question. To be, or not to be"
    shingles = word_shingles(text, 3)
    assert len(set(shingle_hashes(text, 3).tolist())) == len(shingles)
    assert word_shingles("two words", 5) == {"two words"}
    assert word_shingles("", 5) == set() and shingle_hashes("", 5).size == 0


def test_estimates_track_true_jaccard_like_datasketch():
    """Errors of both estimators are within 4 standard deviations of sqrt(J(1-J)/k)."""
    rng = random.Random(2)
    hasher = MinHasher(num_perm=256)
    for edits in (0.02, 0.1, 0.3):
        a = random_text(rng, 400)
        b = near_copy(a, rng, edits)
        true = jaccard(word_shingles(a), word_shingles(b))
        sa, sb = hasher.signatures([a, b])
        ours = estimate_jaccard(sa, sb)
        ma, mb = MinHash(256), MinHash(256)
        ma.update_batch([s.encode() for s in word_shingles(a)])
        mb.update_batch([s.encode() for s in word_shingles(b)])
        tol = 4 * np.sqrt(max(true * (1 - true), 0.01) / 256)
        assert abs(ours - true) < tol and abs(ma.jaccard(mb) - true) < tol


def test_s_curve_matches_simulation():
    rng = np.random.default_rng(0)
    bands, rows, s = 8, 4, 0.6
    trials = rng.random((20000, bands, rows)) < s  # each row agrees with prob s
    simulated = trials.all(axis=2).any(axis=1).mean()
    assert abs(simulated - s_curve(s, bands, rows)) < 0.015
    assert s_curve(0.0, 8, 4) == 0.0 and s_curve(1.0, 8, 4) == 1.0


def test_clusters_find_planted_duplicates_and_agree_with_datasketch_lsh():
    rng = random.Random(3)
    originals = [random_text(rng, 300) for _ in range(30)]
    copies = [near_copy(originals[i], rng, 0.02) for i in range(0, 30, 3)]
    texts = originals + copies
    hasher = MinHasher(num_perm=128)
    sigs = hasher.signatures(texts)
    reps = near_duplicate_clusters(sigs, bands=16, rows=8, threshold=0.7)
    for j, i in enumerate(range(0, 30, 3)):
        assert reps[30 + j] == i  # each copy points to its original
    assert reps[:30] == list(range(30))  # unrelated originals stay apart
    lsh = MinHashLSH(threshold=0.7, num_perm=128)
    for k, text in enumerate(texts):
        m = MinHash(128)
        m.update_batch([s.encode() for s in word_shingles(text)])
        if k >= 30:
            assert reps[k] in lsh.query(m)
        lsh.insert(k, m)


def test_clusters_check_pairs_not_involving_the_bucket_head():
    """A bucket {0, 1, 2} where 1 and 2 are copies but 0 only shares a band:
    comparing members with the first one alone would never merge 1 and 2."""
    sigs = np.array([
        [7, 7, 0, 0, 0, 0, 0, 0, 0, 0],
        [7, 7, 1, 1, 1, 1, 1, 1, 1, 1],
        [7, 7, 1, 1, 1, 1, 1, 1, 1, 2],
    ], dtype=np.uint32)
    assert near_duplicate_clusters(sigs, bands=1, rows=2, threshold=0.7) == [0, 1, 1]


def brute_force_clusters(sigs, bands, rows, threshold):
    """Connected components of every candidate pair that clears the threshold."""
    n = len(sigs)
    uf = UnionFind(n)
    for i in range(n):
        for j in range(i + 1, n):
            same_band = any(np.array_equal(sigs[i, b * rows:(b + 1) * rows],
                                           sigs[j, b * rows:(b + 1) * rows])
                            for b in range(bands))
            if same_band and estimate_jaccard(sigs[i], sigs[j]) >= threshold:
                uf.union(i, j)
    return [uf.find(i) for i in range(n)]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.integers(0, 2**32 - 1), st.integers(2, 30), st.sampled_from([0.3, 0.5, 0.7]))
def test_clusters_equal_brute_force_components(seed, n, threshold):
    """Few distinct values make many collisions, so buckets are big and mixed."""
    rng = np.random.default_rng(seed)
    sigs = rng.integers(0, 3, size=(n, 12), dtype=np.uint32)
    got = near_duplicate_clusters(sigs, bands=4, rows=3, threshold=threshold)
    assert got == brute_force_clusters(sigs, 4, 3, threshold)
    assert all(len(g) > 1 for g in lsh_buckets(sigs, 4, 3))


def test_union_find_roots_are_smallest():
    uf = UnionFind(6)
    uf.union(5, 3)
    uf.union(3, 4)
    uf.union(1, 4)
    assert [uf.find(i) for i in range(6)] == [0, 1, 2, 1, 1, 1]


def test_lsh_rejects_bad_banding():
    with pytest.raises(ValueError, match="bands"):
        near_duplicate_clusters(np.zeros((3, 16), np.uint32), 5, 4, 0.5)


def test_exact_hash_ignores_whitespace_only():
    assert text_hash("a  b\nc") == text_hash("a b c")
    assert text_hash("a b c") != text_hash("a b d")


def test_line_dedup_keeps_first_occurrence():
    long = "this line is long enough to count as a real line"
    docs = [f"{long}\nshort\nunique one is also quite long here", f"short\n{long}\nend"]
    out = list(dedup_lines(docs, min_chars=20))
    assert out[0] == (docs[0], 0)
    assert out[1] == ("short\nend", 1)


def test_line_dedup_keep_none_removes_every_copy():
    long = "this line is long enough to count as a real line"
    other = "unique one is also quite long here"
    docs = [f"{long}\nshort\n{other}", f"short\n{long}\nend", f"{long}\n{long}"]
    out = list(dedup_lines(docs, min_chars=20, keep="none"))
    assert out == [(f"short\n{other}", 1), ("short\nend", 1), ("", 2)]
    assert len(repeated_lines(docs, 20)) == 1  # counted: the one repeated line
    # a line repeated only inside one document also occurs more than once
    assert list(dedup_lines([f"{other}\n{other}"], 20, keep="none")) == [("", 2)]
    # the first pass can be done separately, for a corpus streamed twice
    again = dedup_lines(iter(docs), 20, keep="none", repeated=repeated_lines(docs, 20))
    assert list(again) == out


def test_line_dedup_modes_differ_only_in_the_first_copy():
    rng = random.Random(4)
    pool = [random_text(rng, 8) for _ in range(30)]
    docs = ["\n".join(rng.choices(pool, k=12)) for _ in range(20)]
    first = [t for t, _ in dedup_lines(docs, 10)]
    none = [t for t, _ in dedup_lines(docs, 10, keep="none")]
    counts = Counter(line for d in docs for line in d.split("\n"))
    kept_first = Counter(line for t in first for line in t.split("\n") if line)
    kept_none = Counter(line for t in none for line in t.split("\n") if line)
    assert kept_first == Counter(set(counts))  # every distinct line once
    assert kept_none == Counter({k: 1 for k, c in counts.items() if c == 1})


def test_line_dedup_errors():
    with pytest.raises(ValueError, match="keep must be"):
        dedup_lines(["a"], keep="last")
    with pytest.raises(TypeError, match="reads the corpus twice"):
        dedup_lines(iter(["a"]), keep="none")


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(WORDS), min_size=0, max_size=60))
def test_identical_texts_have_identical_signatures(words):
    text = " ".join(words)
    hasher = MinHasher(num_perm=16)
    a, b = hasher.signatures([text, text.upper() + "  "])
    assert estimate_jaccard(a, b) == 1.0


def test_hashes_reach_13_grams_and_keep_the_shorter_ones():
    """13-grams (GPT-3's contamination rule) hash like the shorter n; appending
    multipliers for them left every shorter n-gram's hash, and so the curated
    corpus, unchanged (values pinned before the change)."""
    text = " ".join(f"w{i}" for i in range(40))
    assert len(set(shingle_hashes(text, 13).tolist())) == len(word_shingles(text, 13))
    assert shingle_hashes("to be or not to be that is the question", 5).tolist()[:3] \
        == [2911992471, 705061559, 386780187]
    assert shingle_hashes("a b c d e f g h i", 8).tolist() == [1513474086, 174649232]
    with pytest.raises(ValueError, match="n must be in"):
        shingle_hashes(text, 14)

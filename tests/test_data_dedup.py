"""MinHash + LSH from scratch, checked against datasketch and exact Jaccard."""

from __future__ import annotations

import random

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
    near_duplicate_clusters,
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


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(WORDS), min_size=0, max_size=60))
def test_identical_texts_have_identical_signatures(words):
    text = " ".join(words)
    hasher = MinHasher(num_perm=16)
    a, b = hasher.signatures([text, text.upper() + "  "])
    assert estimate_jaccard(a, b) == 1.0

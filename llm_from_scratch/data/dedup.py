r"""Deduplication: exact (hashes) and near-duplicate (MinHash + LSH), from scratch.

Exact copies are found by hashing: a document's SHA-1, or each line's, in a set.

Near copies (a re-post with a changed date, a licence with another name)
need a similarity. The Jaccard similarity of two shingle sets,
$J(A, B) = |A \cap B| / |A \cup B|$, equals the probability that the two
sets have the same minimum under a random permutation of the shingle space
{cite}`broder1997resemblance`. A *signature* of $k$ such minima, one per
permutation $h_i(x) = (a_i x + b_i) \bmod 2^{32}$, estimates $J$ as the
fraction of equal entries. Locality-sensitive hashing
{cite}`leskovec2020mmds` splits the
signature into $b$ bands of $r$ rows; two documents become candidates when
any band matches exactly, which happens with probability
$1 - (1 - J^r)^b$ — an S-curve around $(1/b)^{1/r}$. Candidates whose
estimated $J$ clears the threshold are merged with union-find, and each
cluster keeps its first document.

Exact line dedup comes in two flavours: keep the first copy of a repeated
line (one streaming pass), or remove every copy of a line that occurs more
than once (count, then filter).

The permutations are those of datasketch's default scheme, so with the same
$(a, b)$ the signatures agree bit for bit; the speed comes from hashing each
word once (not each shingle string) and taking many documents' minima in one
numpy call.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Literal

import numpy as np

MAX_HASH = np.uint32((1 << 32) - 1)
# Odd 64-bit multipliers that mix the word hashes of an n-gram into one value:
# up to 13 words (GPT-3's contamination n-grams). Only append: the first n
# decide the n-gram hashes, so appending leaves every shorter n-gram unchanged.
_MIX = np.array(
    [0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
     0xD6E8FEB86659FD93, 0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53,
     0x94D049BB133111EB, 0xBF58476D1CE4E5B9, 0x27D4EB2F165667C5,
     0x85EBCA77C2B2AE63, 0x9FB21C651E98DF25, 0xDB4F0B9175AE2165,
     0xA0761D6478BD642F],
    dtype=np.uint64,
)


def text_hash(text: str) -> str:
    """Exact-duplicate key: SHA-1 of the text with whitespace runs collapsed."""
    return hashlib.sha1(" ".join(text.split()).encode("utf-8")).hexdigest()


def word_shingles(text: str, n: int = 5) -> set[str]:
    """The set of word n-grams (words: lower-cased, split on whitespace).

    A text shorter than ``n`` words is one shingle. Punctuation stays attached
    to words: cheap, and copies keep their punctuation anyway.
    """
    words = text.lower().split()
    if len(words) < n:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: set, b: set) -> float:
    """Exact Jaccard similarity of two sets (1.0 for two empty sets)."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def shingle_hashes(text: str, n: int = 5) -> np.ndarray:
    """32-bit hashes of the word n-grams of ``text`` (same n-grams as
    ``word_shingles``; repeats are kept, since they cannot change a minimum).

    Each word is hashed with CRC-32; an n-gram's hash is a fixed mix of its
    words' hashes, computed for all positions at once with numpy.
    """
    if not 1 <= n <= len(_MIX):
        raise ValueError(f"n must be in [1, {len(_MIX)}], got {n}")
    words = text.lower().split()
    if not words:
        return np.empty(0, dtype=np.uint32)
    ids = np.fromiter(
        map(zlib.crc32, map(str.encode, words)), dtype=np.uint64, count=len(words)
    )
    m = max(1, len(ids) - n + 1)
    acc = np.zeros(m, dtype=np.uint64)
    for j in range(min(n, len(ids))):
        acc += ids[j : j + m] * _MIX[j]  # wraps modulo 2**64, as intended
    return (acc >> np.uint64(32)).astype(np.uint32)


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's finaliser: a bijection on 32-bit values that spreads bits."""
    h = h.astype(np.uint32)
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


class MinHasher:
    r"""A seeded family of ``num_perm`` random permutations of 32-bit values.

    Permutation $k$ is $x \mapsto (a_k x + b_k) \bmod 2^{32}$ with $a_k$ odd: odd
    multipliers are invertible modulo $2^{32}$, so it is a true permutation
    (no collisions), and the modulo is free, since uint32 arithmetic wraps.
    Shingle hashes are first mixed with ``fmix32``. This is datasketch's
    default ``affine32`` scheme, so with the same $(a, b)$ the signatures are
    identical to datasketch's.
    """

    def __init__(self, num_perm: int = 128, ngram: int = 5, seed: int = 1) -> None:
        if num_perm < 1:
            raise ValueError(f"num_perm must be >= 1, got {num_perm}")
        rng = np.random.default_rng(seed)
        self.num_perm, self.ngram = num_perm, ngram
        self.a = rng.integers(0, 1 << 32, size=num_perm, dtype=np.uint32) | np.uint32(1)
        self.b = rng.integers(0, 1 << 32, size=num_perm, dtype=np.uint32)

    def permute(self, hashes: np.ndarray) -> np.ndarray:
        """(n,) 32-bit hashes -> (n, num_perm) permuted values."""
        x = fmix32(hashes)[:, None] * self.a  # wraps modulo 2**32: intended
        x += self.b
        return x

    def signature(self, hashes: np.ndarray) -> np.ndarray:
        """The MinHash signature of one set of 32-bit shingle hashes."""
        if hashes.size == 0:
            return np.full(self.num_perm, MAX_HASH, dtype=np.uint32)
        return self.permute(hashes).min(axis=0)

    def signatures(self, texts: Sequence[str], chunk_rows: int = 512) -> np.ndarray:
        """(len(texts), num_perm) signatures, many documents per numpy call.

        Shingles of consecutive documents are permuted together in blocks of
        about ``chunk_rows`` rows (small enough to stay in cache), and each
        document's minimum is taken with one ``np.minimum.reduceat``.
        """
        sigs = np.full((len(texts), self.num_perm), MAX_HASH, dtype=np.uint32)
        pending: list[tuple[int, np.ndarray]] = []
        rows = 0

        def flush() -> None:
            nonlocal rows
            if not pending:
                return
            allh = np.concatenate([h for _, h in pending])
            starts = np.cumsum([0] + [len(h) for _, h in pending[:-1]])
            mins = np.minimum.reduceat(self.permute(allh), starts, axis=0)
            sigs[[i for i, _ in pending]] = mins
            pending.clear()
            rows = 0

        for i, text in enumerate(texts):
            h = shingle_hashes(text, self.ngram)
            if h.size:
                pending.append((i, h))
                rows += h.size
            if rows >= chunk_rows:
                flush()
        flush()
        return sigs


def estimate_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Fraction of equal signature entries: an unbiased estimate of Jaccard."""
    if sig_a.shape != sig_b.shape:
        raise ValueError(f"signature shapes differ: {sig_a.shape} vs {sig_b.shape}")
    return float(np.mean(sig_a == sig_b))


def s_curve(similarity: np.ndarray | float, bands: int, rows: int) -> np.ndarray:
    """Probability that LSH with (bands, rows) makes a pair a candidate."""
    s = np.asarray(similarity, dtype=float)
    return 1.0 - (1.0 - s**rows) ** bands


class UnionFind:
    """Disjoint sets with path halving; the root of each set is its smallest member."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, x: int) -> int:
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, x: int, y: int) -> None:
        rx, ry = self.find(x), self.find(y)
        if rx != ry:
            self.parent[max(rx, ry)] = min(rx, ry)


def lsh_buckets(signatures: np.ndarray, bands: int, rows: int) -> Iterable[np.ndarray]:
    """For each band, the groups (>1 member) of documents with equal band values."""
    n, k = signatures.shape
    if bands < 1 or rows < 1 or bands * rows > k:
        raise ValueError(f"need bands*rows <= num_perm ({k}), got {bands}x{rows}")
    for band in range(bands):
        block = np.ascontiguousarray(signatures[:, band * rows : (band + 1) * rows])
        keys = block.view(np.dtype((np.void, block.dtype.itemsize * rows))).ravel()
        _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
        order = np.argsort(inverse, kind="stable")
        bounds = np.cumsum(counts)[:-1]
        for group in np.split(order, bounds):
            if len(group) > 1:
                yield group


def near_duplicate_clusters(
    signatures: np.ndarray, bands: int, rows: int, threshold: float
) -> list[int]:
    """Cluster representative of every document (its own index if unique).

    Every pair that shares a bucket is a candidate, not only pairs with the
    bucket's first member: in a bucket {a, b, c} where b and c are copies and
    a only collides with them on one band, b-c must still be checked. Each
    candidate is confirmed with the signature estimate of Jaccard
    (>= ``threshold``), which removes most of the S-curve's false positives,
    and confirmed pairs are merged with union-find. A member is compared with
    all later members in one numpy call; pairs already in one cluster are
    skipped, so a bucket of many copies costs little.
    """
    uf = UnionFind(len(signatures))
    for group in lsh_buckets(signatures, bands, rows):
        block = signatures[group]
        for i in range(len(group) - 1):
            root = uf.find(int(group[i]))
            rest = [j for j in range(i + 1, len(group))
                    if uf.find(int(group[j])) != root]
            if not rest:
                continue
            sims = (block[rest] == block[i]).mean(axis=1)
            for j in np.asarray(rest)[sims >= threshold]:
                uf.union(int(group[i]), int(group[j]))
    return [uf.find(i) for i in range(len(signatures))]


LineKeep = Literal["first", "none"]


def _line_key(line: str, min_chars: int) -> int | None:
    """8-byte hash of a stripped line, or None for lines too short to count."""
    key = line.strip()
    if len(key) < min_chars:
        return None
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest())


def repeated_lines(docs: Iterable[str], min_chars: int = 30) -> set[int]:
    """First pass of ``keep="none"``: hashes of lines occurring more than once.

    Counts every occurrence, within a document or across documents; memory is
    two 8-byte hashes per distinct line at most.
    """
    seen: set[int] = set()
    repeated: set[int] = set()
    for text in docs:
        for line in text.split("\n"):
            h = _line_key(line, min_chars)
            if h is not None:
                (repeated if h in seen else seen).add(h)
    return repeated


def dedup_lines(
    docs: Iterable[str], min_chars: int = 30, keep: LineKeep = "first",
    repeated: set[int] | None = None,
) -> Iterator[tuple[str, int]]:
    """Remove repeated lines (of >= ``min_chars``) across a corpus.

    ``keep="first"`` streams in one pass and keeps the first copy of each line:
    a licence clause or a quotation survives once, but which copy survives
    depends on the order, and one copy of every boilerplate line stays.
    ``keep="none"`` removes *every* copy of a line that occurs more than once
    (count, then filter): order-independent and stricter on boilerplate, but
    it also deletes text repeated for good reasons. It reads the corpus twice,
    so it needs a re-iterable ``docs`` or the hashes from ``repeated_lines``.
    Returns an iterator of each text with its removed lines gone, and how many
    lines were removed (arguments are checked at once, not on first use).
    """
    if keep not in ("first", "none"):
        raise ValueError(f"keep must be 'first' or 'none', got {keep!r}")
    if keep == "none" and repeated is None:
        if iter(docs) is docs:
            raise TypeError("keep='none' reads the corpus twice: pass a list, or "
                            "the hashes from repeated_lines(docs)")
        repeated = repeated_lines(docs, min_chars)
    drop: set[int] = set() if keep == "first" else (repeated or set())
    return _filter_lines(docs, min_chars, drop, remember=keep == "first")


def _filter_lines(
    docs: Iterable[str], min_chars: int, drop: set[int], remember: bool
) -> Iterator[tuple[str, int]]:
    for text in docs:
        kept, removed = [], 0
        for line in text.split("\n"):
            h = _line_key(line, min_chars)
            if h is not None and h in drop:
                removed += 1
                continue
            if h is not None and remember:
                drop.add(h)  # seen once: every later copy goes
            kept.append(line)
        yield "\n".join(kept), removed

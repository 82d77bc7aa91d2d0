r"""Decontamination: keep copies of the evaluation text out of the training set.

A held-out loss only measures generalisation if no training document is a copy
of a held-out one, and standard splits often fail that test
{cite}`lee2022dedup`. Splitting by document id is not enough: a crawl holds
exact and near copies under other ids, and deduplication keeps *one* member
of each cluster, not necessarily the one on the held-out side of the split.

So each training document $T$ is compared with each evaluation document $V$
by word $n$-gram overlap, the way GPT-3 and later models' reports check their
benchmarks against the training data (GPT-3 used 13-grams; ours default to 8):

$$\text{overlap}(T, V) = \frac{|S_n(T) \cap S_n(V)|}{\min(|S_n(T)|, |S_n(V)|)}.$$

Dividing by the smaller set catches a copy in either direction (a page quoted
inside a longer one, or a long page that contains the held-out one). A
lightly edited copy keeps most of its long $n$-grams (a 2% word edit rate
leaves about 85% of the 8-grams), while different texts share few, so a
threshold of 0.5 separates them with a wide margin.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from llm_from_scratch.data.dedup import shingle_hashes
from llm_from_scratch.data.documents import Document


def ngram_sets(texts: Sequence[str], n: int = 8) -> list[np.ndarray]:
    """Sorted unique 32-bit hashes of each text's word n-grams."""
    return [np.unique(shingle_hashes(text, n)) for text in texts]


def max_overlap(
    texts: Sequence[str], references: Sequence[str], n: int = 8
) -> np.ndarray:
    """For each text, its largest n-gram overlap with any reference, in [0, 1].

    The references' n-grams are merged into one sorted array with a row per
    n-gram saying which references hold it, so each text costs one binary
    search of its n-grams, not one set intersection per reference.
    """
    refs = ngram_sets(references, n)
    out = np.zeros(len(texts))
    if not any(len(r) for r in refs):
        return out
    union = np.unique(np.concatenate(refs))
    owners = np.zeros((len(union), len(refs)), dtype=bool)
    for j, r in enumerate(refs):
        owners[np.searchsorted(union, r), j] = True
    ref_sizes = np.array([len(r) for r in refs])
    for i, t in enumerate(ngram_sets(texts, n)):
        if not len(t):
            continue
        idx = np.minimum(np.searchsorted(union, t), len(union) - 1)
        shared = owners[idx[union[idx] == t]].sum(axis=0)  # |S(T) & S(V_j)|
        sizes = np.minimum(len(t), ref_sizes)
        out[i] = np.max(np.where(sizes > 0, shared / np.maximum(sizes, 1), 0.0))
    return out


def decontaminate(
    docs: Sequence[Document], held_out: Sequence[Document], threshold: float = 0.5,
    n: int = 8,
) -> tuple[list[Document], list[str]]:
    """``docs`` without those overlapping a held-out document by >= ``threshold``.

    Returns the kept documents (in order) and the ids of the removed ones, so
    the removal is reported, not silent.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    scores = max_overlap([d.text for d in docs], [d.text for d in held_out], n)
    kept = [d for d, s in zip(docs, scores) if s < threshold]
    removed = [d.id for d, s in zip(docs, scores) if s >= threshold]
    return kept, removed

"""The slow, obviously correct BPE trainer: the test oracle for the fast one.

Every merge recounts every pair of every pre-token. That is
O(merges x corpus) work, hopeless for a real corpus but short enough to check
by eye; ``train.bpe_merges`` must produce exactly the same merges.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping


def merge_word(word: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Replace every non-overlapping ``pair`` in ``word``, left to right."""
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return out


def naive_bpe_merges(
    word_counts: Mapping[bytes, int], num_merges: int
) -> list[tuple[bytes, bytes]]:
    """Learn ``num_merges`` merges from pre-token counts, recounting each time.

    Ties between equally frequent pairs go to the lexicographically greatest
    ``(bytes, bytes)`` pair, so the result never depends on dict order.
    """
    vocab = [bytes([i]) for i in range(256)]
    words = {tuple(w): c for w, c in word_counts.items()}
    merges: list[tuple[bytes, bytes]] = []
    for _ in range(num_merges):
        pairs: Counter[tuple[int, int]] = Counter()
        for word, count in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += count
        if not pairs:
            break
        best = max(pairs, key=lambda p: (pairs[p], vocab[p[0]], vocab[p[1]]))
        vocab.append(vocab[best[0]] + vocab[best[1]])
        merges.append((vocab[best[0]], vocab[best[1]]))
        words = {
            tuple(merge_word(list(w), best, len(vocab) - 1)): c
            for w, c in words.items()
        }
    return merges

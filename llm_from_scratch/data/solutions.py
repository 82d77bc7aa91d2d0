"""Solutions to the data-curation chapter's exercises (checked by the tests)."""

from __future__ import annotations

from collections import Counter

import numpy as np

from llm_from_scratch.data.dedup import s_curve


def choose_bands_rows(
    num_perm: int, threshold: float, fn_weight: float = 1.0, fp_weight: float = 1.0
) -> tuple[int, int]:
    """Exercise 1: the (bands, rows) with bands*rows <= num_perm whose S-curve
    best approximates a step at ``threshold``: minimise the weighted area of
    false positives (below the threshold) plus false negatives (above it)."""
    s = np.linspace(0.0, 1.0, 201)
    best, best_cost = (1, 1), np.inf
    for rows in range(1, num_perm + 1):
        for bands in range(1, num_perm // rows + 1):
            p = s_curve(s, bands, rows)
            fp = np.trapezoid(np.where(s < threshold, p, 0.0), s)
            fn = np.trapezoid(np.where(s >= threshold, 1.0 - p, 0.0), s)
            cost = fp_weight * fp + fn_weight * fn
            if cost < best_cost - 1e-12:
                best, best_cost = (bands, rows), cost
    return best


def top_ngram_char_fraction(text: str, n: int = 2) -> float:
    """Exercise 2: Gopher's repetition rule: the share of the text's characters
    covered by its most frequent word ``n``-gram (its length, words joined by
    spaces, times its count, over the text's length), as datatrove computes it.
    Gopher rejects pages above 0.20, 0.18 and 0.16 for n = 2, 3, 4."""
    words = text.split()
    if len(words) < n or not text:
        return 0.0
    grams = Counter(" ".join(words[i:i + n]) for i in range(len(words) - n + 1))
    gram, count = grams.most_common(1)[0]
    return len(gram) * count / len(text)


def c4_terminal_lines(text: str, min_words: int = 3) -> str:
    """Exercise 3: C4's line filter: keep lines that end in terminal
    punctuation and have at least ``min_words`` words."""
    keep = [
        line for line in text.split("\n")
        if line.rstrip().endswith((".", "!", "?", '"'))
        and len(line.split()) >= min_words
    ]
    return "\n".join(keep)

"""Contamination: which benchmark items the training data already contains.

GPT-3's report {cite}`brown2020gpt3` calls an item *dirty* when any of its word
13-grams also occurs in the training set, and reports each benchmark's score on
the clean items next to the full score. A large gap says the score partly
measures memorisation. The overlap itself is the Data chapter's
``max_overlap``: here every item is compared with the whole training text at
once, so an item's overlap is the share of its n-grams found in training.

The default is GPT-3's 13-grams. Shorter n is stricter (every item with a
shared 13-gram also shares an 8-gram, and common 8-word phrases are flagged that
13-grams pass), so a report at both brackets the answer. Items shorter than n
words cannot be checked; they are counted as such.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from llm_from_scratch.data.decontam import max_overlap
from llm_from_scratch.eval.benchmarks import book_documents
from llm_from_scratch.eval.tasks import Item, Task

NGRAM = 13  # GPT-3's contamination rule


def item_text(item: Item) -> str:
    """The text of an item that could have leaked: question and right answer."""
    if item.type == "multiple_choice":
        return item.context + item.delimiter + item.choices[item.gold]
    if item.type == "generate":
        prompt = " ".join(c for _, c in item.messages) or item.prompt
        return prompt + " " + item.target
    return item.text


def training_documents() -> list[str]:
    """The texts of the curated corpus's training documents."""
    return book_documents("train")


@dataclass(frozen=True)
class Contamination:
    """Per item: its n-gram overlap with training (share in [0, 1]), and
    whether it is long enough to check."""

    task: str
    overlap: np.ndarray
    checkable: np.ndarray

    @property
    def dirty(self) -> np.ndarray:
        """Items sharing at least one n-gram with the training text."""
        return self.checkable & (self.overlap > 0)

    def summary(self) -> dict[str, float]:
        n = len(self.overlap)
        return {"items": n, "checkable": int(self.checkable.sum()),
                "dirty": int(self.dirty.sum()),
                "dirty_share": float(self.dirty.sum() / n),
                "mean_overlap": float(self.overlap[self.checkable].mean())
                if self.checkable.any() else 0.0}


def contamination(
    task: Task, training: Sequence[str], n: int = NGRAM
) -> Contamination:
    """n-gram overlap of each item of ``task`` with the ``training`` texts."""
    texts = [item_text(i) for i in task.items]
    reference = "\n".join(training)
    overlap = max_overlap(texts, [reference], n)
    checkable = np.array([len(t.split()) >= n for t in texts])
    return Contamination(task.name, np.where(checkable, overlap, 0.0), checkable)


def clean_score(
    scores: Sequence[float], report: Contamination
) -> tuple[float, float, int]:
    """Mean of per-item ``scores`` over the items that are not dirty, its
    standard error and the number of such items (unchecked items count as
    clean, since nothing shows them to be in training)."""
    from llm_from_scratch.eval.stats import standard_error

    x = np.asarray(scores, dtype=float)
    if len(x) != len(report.overlap):
        raise ValueError(f"{len(x)} scores for {len(report.overlap)} items")
    keep = x[~report.dirty]
    if not len(keep):
        return float("nan"), float("nan"), 0
    return float(keep.mean()), standard_error(keep), int(len(keep))

"""Scoring a filter: precision/recall against ground truth, ROC and PR curves.

A filter is a binary classifier ("reject this page?"), so it is judged like
one. Curves sweep the threshold over every distinct score, from high to low.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def precision_recall(
    predicted: Sequence[bool], actual: Sequence[bool]
) -> tuple[float, float]:
    """Precision and recall of boolean predictions (1.0 when undefined: 0/0)."""
    p, a = np.asarray(predicted, bool), np.asarray(actual, bool)
    if p.shape != a.shape:
        raise ValueError(f"shapes differ: {p.shape} vs {a.shape}")
    tp = int((p & a).sum())
    precision = tp / p.sum() if p.sum() else 1.0
    recall = tp / a.sum() if a.sum() else 1.0
    return float(precision), float(recall)


def _sorted_counts(scores: Sequence[float], labels: Sequence[int]):
    s, y = np.asarray(scores, float), np.asarray(labels, int)
    if s.shape != y.shape or s.ndim != 1 or not len(s):
        raise ValueError("scores and labels must be equal-length, non-empty 1-D")
    if not set(np.unique(y)) <= {0, 1}:
        raise ValueError("labels must be 0 or 1")
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]  # end of each tie group
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    return s[last], tp, fp, int(y.sum()), int(len(y) - y.sum())


def roc_curve(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False- and true-positive rates at each threshold (starting from (0, 0))."""
    thresholds, tp, fp, pos, neg = _sorted_counts(scores, labels)
    if not pos or not neg:
        raise ValueError("ROC needs both positive and negative labels")
    fpr = np.r_[0.0, fp / neg]
    tpr = np.r_[0.0, tp / pos]
    return fpr, tpr, np.r_[np.inf, thresholds]


def auc(x: np.ndarray, y: np.ndarray) -> float:
    """Area under a curve by the trapezoid rule."""
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))


def pr_curve(scores, labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Precision and recall at each threshold, from the strictest down."""
    thresholds, tp, fp, pos, _ = _sorted_counts(scores, labels)
    if not pos:
        raise ValueError("a PR curve needs at least one positive label")
    return tp / (tp + fp), tp / pos, thresholds


def stage_scores(
    rows: Sequence[dict], targets: dict[str, Sequence[str]]
) -> list[dict[str, float | int | str]]:
    """Score each stage against the injected labels it is meant to catch.

    ``rows`` are ledger rows (``labels``, ``stage``); ``targets`` maps a stage
    to its labels. Precision: of the pages the stage rejected, the fraction
    carrying a target label. Recall: of the pages carrying one, the fraction
    this stage rejected; "caught" also counts earlier stages.
    """
    out = []
    for stage, labels in targets.items():
        wanted = set(labels)
        hit = [bool(wanted & set(r["labels"])) for r in rows]
        at_stage = [r["stage"] == stage for r in rows]
        anywhere = [r["stage"] is not None for r in rows]
        precision, recall = precision_recall(at_stage, hit)
        _, caught = precision_recall(anywhere, hit)
        out.append({"stage": stage, "labels": ",".join(labels),
                    "rejected": int(sum(at_stage)), "labelled": int(sum(hit)),
                    "precision": precision, "recall": recall, "caught": caught})
    return out

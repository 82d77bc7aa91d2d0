"""The toxicity classifier and the metrics that score filters."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve as sk_roc

from llm_from_scratch.data.metrics import auc, pr_curve, precision_recall, roc_curve
from llm_from_scratch.data.toxicity import (
    HAND_LABELLED,
    ToxicityClassifier,
    ToxicityConfig,
    document_toxicity,
    features,
    toxicity_classifier,
    train_classifier,
)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.floats(0, 1), st.integers(0, 1)), min_size=2, max_size=60))
def test_roc_auc_matches_sklearn(pairs):
    scores = [s for s, _ in pairs]
    labels = [y for _, y in pairs]
    if len(set(labels)) < 2:
        with pytest.raises(ValueError):
            roc_curve(scores, labels)
        return
    fpr, tpr, _ = roc_curve(scores, labels)
    assert abs(auc(fpr, tpr) - roc_auc_score(labels, scores)) < 1e-9
    sk_fpr, sk_tpr, _ = sk_roc(labels, scores, drop_intermediate=False)
    assert np.allclose(fpr, sk_fpr) and np.allclose(tpr, sk_tpr)
    precision, recall, _ = pr_curve(scores, labels)
    ap = float(np.sum(np.diff(np.r_[0.0, recall]) * precision))
    assert abs(ap - average_precision_score(labels, scores)) < 1e-9


def test_precision_recall_counts():
    assert precision_recall([1, 1, 0, 0], [1, 0, 1, 0]) == (0.5, 0.5)
    assert precision_recall([0, 0], [0, 0]) == (1.0, 1.0)
    with pytest.raises(ValueError, match="shapes"):
        precision_recall([1], [1, 0])


def test_features_are_hashed_ngrams():
    f = features("You idiot", 1000)
    assert all(0 <= i < 1000 for i in f)
    assert len(f) == 2 + 1 + len("<you>") - 2 + len("<idiot>") - 2
    assert features("", 10) == features("!!!", 10) or len(features("", 10)) == 1


def test_student_learns_a_separable_task_and_round_trips(tmp_path):
    texts = [f"you are a {w} person" for w in ("nasty", "vile", "awful")] * 40
    texts += [f"you are a {w} person" for w in ("kind", "nice", "good")] * 40
    labels = np.array([1] * 120 + [0] * 120)
    cfg = ToxicityConfig(buckets=1024, dim=8, epochs=5, batch_size=16, lr=0.05)
    clf, losses = train_classifier(texts, labels, cfg)
    assert losses[-1] < losses[0] / 5
    probs = clf.predict_proba(["you are a vile person", "you are a kind person"])
    assert probs[0] > 0.9 and probs[1] < 0.1
    clf.save(tmp_path / "m.safetensors")
    again = ToxicityClassifier.load(tmp_path / "m.safetensors")
    assert again.predict_proba(texts[:5]) == clf.predict_proba(texts[:5])
    with pytest.raises(TypeError, match="list of texts"):
        clf.predict_proba("one string")
    assert clf.predict_proba([]) == []


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_book_classifier_quality():
    clf = toxicity_classifier()
    texts = [t for t, _ in HAND_LABELLED]
    gold = np.array([y for _, y in HAND_LABELLED])
    probs = np.array(clf.predict_proba(texts))
    precision, recall = precision_recall(probs >= 0.5, gold == 1)
    assert precision >= 0.8 and recall >= 0.6
    fpr, tpr, _ = roc_curve(probs, gold)
    assert auc(fpr, tpr) >= 0.85
    page = "\n".join(["Tom wrote: you worthless idiot, shut up!"] * 5)
    assert document_toxicity(clf, page) > 0.5
    assert document_toxicity(clf, "The weather is nice today and we walk.") == 0.0

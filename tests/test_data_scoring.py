"""Item-level scores of the editing stages against the noise injector's labels."""

from __future__ import annotations

import random

from llm_from_scratch.data import Document
from llm_from_scratch.data.noise import NoiseConfig, inject_noise
from llm_from_scratch.data.scoring import boilerplate_line_scores, pii_scores

SENTENCES = [
    "The river ran past the old mill and the children watched the wheel turn.",
    "A letter arrived from the city with news that nobody had expected.",
    "They walked to the harbour to see the ships that had come in at night.",
]


def corpus(extra: list[Document] = ()) -> list[Document]:
    rng = random.Random(0)
    clean = [Document(f"d/{i}", "\n".join(rng.choices(SENTENCES, k=8)), "t")
             for i in range(40)]
    config = NoiseConfig(boilerplate=0.5, pii=0.5, mojibake=0.0, spam_pages=0,
                         low_quality_pages=0, toxic_pages=0, malformed_pages=2)
    return inject_noise([*clean, *extra], config)


def test_planted_items_are_counted_and_all_found():
    docs = corpus()
    n_boiler = sum("boilerplate" in d.meta["labels"] for d in docs)
    n_pii = sum("pii" in d.meta["labels"] for d in docs)
    assert n_boiler and n_pii
    lines = boilerplate_line_scores(docs)
    assert lines["planted"] == 4 * n_boiler  # two navigation + two footer lines
    assert lines["recall"] == lines["precision"] == 1.0
    for row in pii_scores(docs):
        assert row["planted"] == row["matched"] == n_pii
        assert row["recall"] == row["precision"] == 1.0


def test_unplanted_matches_lower_precision_not_recall():
    real = Document("real", "Please enable JavaScript to continue.\n"
                    "Write to someone@example.org about version 1.2.3.4.", "t")
    docs = corpus([real])
    lines = boilerplate_line_scores(docs)
    assert lines["recall"] == 1.0 and lines["precision"] < 1.0
    assert lines["unplanted_examples"] == ["Please enable JavaScript to continue."]
    scores = {r["stage"]: r for r in pii_scores(docs)}
    for kind in ("pii: email", "pii: ip"):
        assert scores[kind]["recall"] == 1.0 and scores[kind]["precision"] < 1.0
    assert scores["pii: phone"]["precision"] == 1.0

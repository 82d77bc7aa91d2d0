"""The Capstone chapter's exercise solutions."""

from __future__ import annotations

import pytest

from llm_from_scratch.capstone import STAGES, render_html
from llm_from_scratch.capstone.config import STAGE_INPUTS
from llm_from_scratch.capstone.solutions import (
    downstream,
    external_references,
    split_budget,
)


def test_split_budget():
    assert split_budget(1800, 60, 90, 0.05) == pytest.approx(1650)
    # a long budget: the fraction wins
    assert split_budget(7200, 0, 90, 0.05) == pytest.approx(7200 - 360)
    with pytest.raises(ValueError):
        split_budget(100, 50, 60, 0.0)


def test_downstream_of_the_speedrun():
    assert list(STAGE_INPUTS) == list(STAGES)
    assert downstream(STAGE_INPUTS, {"eval"}) == ["eval"]
    assert downstream(STAGE_INPUTS, {"sft"}) == ["sft", "dpo", "rl", "eval", "chat"]
    assert downstream(STAGE_INPUTS, {"tokenizer"}) == list(STAGES[1:])
    assert downstream(STAGE_INPUTS, {"chat", "curate"}) == list(STAGES)
    assert downstream(STAGE_INPUTS, []) == []


def test_downstream_orders_by_inputs_and_refuses_bad_graphs():
    # listed out of order: each stage still comes after what it reads
    graph = {"b": ("a",), "a": (), "c": ("a", "b")}
    assert downstream(graph, {"a"}) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="unknown"):
        downstream(STAGE_INPUTS, {"train"})
    with pytest.raises(ValueError, match="not a stage"):
        downstream({"a": ("z",)}, {"a"})
    with pytest.raises(ValueError, match="cycle"):
        downstream({"a": ("b",), "b": ("a",)}, {"a"})


def test_external_references():
    page = ("<html><head><link rel='stylesheet' href='https://cdn.example/x.css'>"
            "</head><body><a href='#top'>up</a><img src='data:image/png;base64,AA'>"
            "<img src=\"plot.png\"><script src=\"//cdn.example/m.js\"></script>")
    assert external_references(page) == ["https://cdn.example/x.css", "plot.png",
                                          "//cdn.example/m.js"]
    assert external_references("<p>no links</p>") == []


def test_the_report_page_is_self_contained():
    data = {"out": "run", "settings": {"budget_minutes": 1.0}, "seconds": 5.0,
            "stages": {"curate": {"seconds": 5.0, "summary": "3 -> 2 documents"}},
            "funnel": [], "reasons": {}, "shards": {"train": None, "val": None},
            "train": [], "val": [], "align": {}, "eval": {}, "chats": [],
            "environment": {"python": "3"}, "figures": {}}
    page = render_html(data)
    assert "3 -&gt; 2 documents" in page
    assert external_references(page) == []

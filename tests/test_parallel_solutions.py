"""The chapter's exercise solutions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_from_scratch.parallel import memory_per_rank
from llm_from_scratch.parallel.pipeline import bubble_fraction
from llm_from_scratch.parallel.solutions import (
    allreduce_seconds,
    interleaved_bubble,
    max_params,
)


@given(st.integers(1, 16), st.integers(1, 64), st.integers(1, 8))
@settings(derandomize=True, max_examples=60)
def test_interleaving_never_grows_the_bubble(p, m, v):
    assert interleaved_bubble(p, m, 1) == pytest.approx(bubble_fraction(p, m))
    assert interleaved_bubble(p, m, v) <= bubble_fraction(p, m)


def test_max_params_fills_the_memory_exactly():
    budget = 80e9  # one 80 GB GPU
    assert max_params(budget, "ddp", 8) == pytest.approx(5e9)  # 80 GB / 16 B
    n = max_params(budget, "zero3", 8)
    assert memory_per_rank(n, "zero3", 8).total == pytest.approx(budget)
    assert n == pytest.approx(40e9)


def test_ring_wins_large_messages_and_tree_small_ones():
    args = dict(world_size=64, bandwidth=100e9, latency=10e-6)
    assert allreduce_seconds(1e9, algorithm="ring", **args) < allreduce_seconds(
        1e9, algorithm="tree", **args
    )
    assert allreduce_seconds(1e3, algorithm="tree", **args) < allreduce_seconds(
        1e3, algorithm="ring", **args
    )
    with pytest.raises(ValueError, match="algorithm"):
        allreduce_seconds(1.0, 2, 1.0, 0.0, "butterfly")
    with pytest.raises(ValueError, match=">= 1"):
        interleaved_bubble(0, 1, 1)

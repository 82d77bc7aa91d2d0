"""The big-picture chapter's baseline and its exercise solutions."""

import math
from collections import Counter

import pytest

from llm_from_scratch.overview import (
    PIPELINE,
    conditional_entropy,
    draw_pipeline,
    unigram_bits_per_byte,
)


def test_uniform_bytes_cost_eight_bits():
    text = bytes(range(128)).decode("ascii") * 2  # 128 symbols, equally likely
    assert unigram_bits_per_byte(text) == pytest.approx(7.0)


def test_hand_computed_entropy():
    # "aab": p(a) = 2/3, p(b) = 1/3
    expected = -(2 / 3 * math.log2(2 / 3) + 1 / 3 * math.log2(1 / 3))
    assert unigram_bits_per_byte("aab") == pytest.approx(expected)
    assert unigram_bits_per_byte("aaaa") == 0.0


def test_counts_utf8_bytes_not_characters():
    # "é" is two bytes (0xC3 0xA9), each with probability 1/2: one bit per byte.
    assert unigram_bits_per_byte("\u00e9") == pytest.approx(1.0)


def test_rejects_bad_input():
    with pytest.raises(ValueError, match="empty"):
        unigram_bits_per_byte("")
    with pytest.raises(TypeError, match="str"):
        unigram_bits_per_byte(b"bytes")  # type: ignore[arg-type]


def held_out_cost(train: bytes, test: bytes, order: int) -> float:
    """Bits per byte on `test` of an add-one-smoothed order-k byte model fit on `train`."""
    contexts = Counter(train[i - order:i] for i in range(order, len(train)))
    grams = Counter(train[i - order:i + 1] for i in range(order, len(train)))
    bits = 0.0
    for i in range(order, len(test)):
        gram = test[i - order:i + 1]
        p = (grams[gram] + 1) / (contexts[gram[:-1]] + 256)
        bits -= math.log2(p)
    return bits / (len(test) - order)


def test_held_out_cost_exceeds_in_sample():
    from llm_from_scratch.corpora import shakespeare_text

    data = shakespeare_text().encode()[:1_000_000]
    train, test = data[:900_000], data[900_000:]
    contexts = Counter(train[i - 2:i] for i in range(2, len(train)))
    grams = Counter(train[i - 2:i + 1] for i in range(2, len(train)))
    n = len(train) - 2
    in_sample = -sum(c / n * math.log2(c / contexts[g[:-1]]) for g, c in grams.items())
    held_out = held_out_cost(train, test, order=2)
    assert held_out > in_sample


def test_pipeline_covers_every_stage_once_in_order():
    names = [s.name.replace("\n", " ") for s in PIPELINE]
    assert names[0] == "Raw text" and names[-1] == "Chat model"
    assert len(set(names)) == len(names)


def test_pipeline_figure_draws_every_stage():
    import matplotlib

    matplotlib.use("Agg")
    fig = draw_pipeline()
    texts = {t.get_text() for t in fig.axes[0].texts}
    assert {s.name for s in PIPELINE} <= texts


def test_conditional_entropy_order_zero_is_the_unigram_entropy():
    text = "abracadabra, said the wizard"
    assert conditional_entropy(text.encode(), 0) == pytest.approx(unigram_bits_per_byte(text))


def test_conditional_entropy_is_zero_when_the_context_decides():
    assert conditional_entropy(b"ab" * 50, 1) == pytest.approx(0.0, abs=1e-12)
    assert conditional_entropy(b"aabb" * 50, 1) == pytest.approx(1.0, abs=0.05)
    with pytest.raises(ValueError, match="order"):
        conditional_entropy(b"abc", -1)
    with pytest.raises(ValueError, match="needs more"):
        conditional_entropy(b"ab", 2)

"""The chapter's exercise solutions."""

from __future__ import annotations

import numpy as np
import pytest

from llm_from_scratch.data.dedup import s_curve
from llm_from_scratch.data.solutions import (
    c4_terminal_lines,
    choose_bands_rows,
    top_ngram_char_fraction,
)


@pytest.mark.parametrize("threshold", [0.5, 0.8])
def test_bands_rows_put_the_s_curve_near_the_threshold(threshold):
    bands, rows = choose_bands_rows(128, threshold)
    assert bands * rows <= 128
    assert abs((1 / bands) ** (1 / rows) - threshold) < 0.1
    assert s_curve(threshold + 0.15, bands, rows) > 0.9
    assert s_curve(threshold - 0.2, bands, rows) < 0.15


def test_recall_weight_moves_the_curve_left():
    b1, r1 = choose_bands_rows(64, 0.7)
    b2, r2 = choose_bands_rows(64, 0.7, fn_weight=10.0)
    s = np.linspace(0, 1, 101)
    assert (s_curve(s, b2, r2) >= s_curve(s, b1, r1) - 1e-9).mean() > 0.9


def test_top_ngram_fraction():
    text = "buy now buy now buy now today"  # "buy now" x3 = 21 of 29 characters
    assert top_ngram_char_fraction(text) == pytest.approx(7 * 3 / 29)
    assert top_ngram_char_fraction("one") == 0.0 and top_ngram_char_fraction("") == 0.0
    assert top_ngram_char_fraction("a b c d e f", n=3) == pytest.approx(5 / 11)


def test_c4_terminal_lines():
    text = "Menu\nThis line is a sentence.\nok.\nAnother good one here!\nno end here"
    assert c4_terminal_lines(text) == "This line is a sentence.\nAnother good one here!"

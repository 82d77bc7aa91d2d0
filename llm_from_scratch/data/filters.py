"""Rule-based quality filters in the style of Gopher and C4.

Gopher {cite}`rae2021gopher` keeps a document only if simple statistics look
like prose: enough words, words of normal length, few symbols, few lines
ending in an ellipsis, most words containing a letter, and some English stop
words. C4 {cite}`raffel2020t5` removes boilerplate *lines* (cookie notices,
"enable JavaScript") and pages with placeholder text. Each rule here is one
small function of the text, configurable and reporting its own reason, so the
report can say exactly why a page was dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

WORD = re.compile(r"\S+")
STOP_WORDS = frozenset(["the", "be", "to", "of", "and", "that", "have", "with"])
BOILERPLATE_LINE = re.compile(
    r"javascript|cookie|terms of (use|service)|privacy policy|all rights reserved"
    r"|skip to (main )?content|share on (facebook|twitter)|subscribe to our"
    r"|^\s*(home|about|blog|contact|login)(\s*\|\s*\w+)+\s*$|you are here:",
    re.IGNORECASE,
)
# UTF-8 read as cp1252: "\u00c3" + a continuation byte, "\u00e2\u20ac" (from
# \u2019 and friends) or "\u00c2" + a Latin-1 symbol.
MOJIBAKE = re.compile(
    "\u00c3[\u0080-\u00bf\u2018-\u203a]|\u00e2\u20ac|\u00c2[\u00a0-\u00bf]"
)


@dataclass(frozen=True)
class ValidityConfig:
    """Limits that catch malformed input before any statistics are computed."""

    max_line_chars: int = 20_000
    max_doc_chars: int = 2_000_000

    def __post_init__(self) -> None:
        if self.max_line_chars < 1 or self.max_doc_chars < 1:
            raise ValueError("ValidityConfig limits must be >= 1")


def validity_reason(text: str, meta: dict, config: ValidityConfig) -> str | None:
    """Why a document cannot be processed at all (or None when it can)."""
    if "error" in meta:
        return f"malformed: {meta['error']}"
    if not text.strip():
        return "malformed: empty"
    if len(text) > config.max_doc_chars:
        return "malformed: document too long"
    if max(map(len, text.split("\n"))) > config.max_line_chars:
        return "malformed: line too long"
    return None


def remove_boilerplate_lines(text: str) -> tuple[str, int]:
    """C4's line filter: drop navigation, cookie and JavaScript notices."""
    kept, removed = [], 0
    for line in text.split("\n"):
        if BOILERPLATE_LINE.search(line):
            removed += 1
        else:
            kept.append(line)
    return "\n".join(kept), removed


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds of the document rules; ``None`` turns a rule off.

    Gopher's published values (Rae et al. 2021, appendix A) where Gopher has the
    rule: 50 to 100,000 words, mean word length 3 to 10, at most 0.1 symbols
    (``#``, ellipses) per word, at most 90% of lines starting with a bullet, at
    most 30% ending in an ellipsis, at least 80% of words with a letter, at
    least two stop words, and at most 20% of the characters in repeated lines.
    From C4/FineWeb: at least 10% of lines ending in terminal punctuation
    (FineWeb uses 12%). Ours: mojibake per 1,000 characters, placeholder text.
    """

    min_words: int | None = 50  # Gopher
    max_words: int | None = 100_000  # Gopher
    min_mean_word_len: float | None = 3.0  # Gopher
    max_mean_word_len: float | None = 10.0  # Gopher
    max_symbol_ratio: float | None = 0.1  # Gopher
    max_bullet_lines: float | None = 0.9  # Gopher
    max_ellipsis_lines: float | None = 0.3  # Gopher
    min_alpha_words: float | None = 0.8  # Gopher
    min_stop_words: int | None = 2  # Gopher
    min_terminal_punct_lines: float | None = 0.1  # C4, FineWeb (0.12)
    max_mojibake_per_1k_chars: float | None = 0.5  # ours
    max_repeated_line_chars: float | None = 0.2  # Gopher
    placeholders: tuple[str, ...] = field(default=("lorem ipsum",))  # C4; () = off

    def __post_init__(self) -> None:
        for name in ("min_words", "max_words", "min_stop_words"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"QualityConfig.{name} must be an int >= 0 or None, "
                                 f"got {value!r}")
        for name in ("min_mean_word_len", "max_mean_word_len",
                     "max_mojibake_per_1k_chars"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"QualityConfig.{name} must be > 0 or None, "
                                 f"got {value!r}")
        for name in ("max_symbol_ratio", "max_bullet_lines", "max_ellipsis_lines",
                     "min_alpha_words", "min_terminal_punct_lines",
                     "max_repeated_line_chars"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"QualityConfig.{name} must be in [0, 1] or None, "
                                 f"got {value!r}")
        for low, high in (("min_words", "max_words"),
                          ("min_mean_word_len", "max_mean_word_len")):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"QualityConfig needs {low} <= {high}, got {lo} > {hi}")


BULLETS = ("\u2022", "\u2023", "\u25e6", "\u2043", "\u25aa", "\u25cf", "*", "-")


def _outside(value: float, low: float | None, high: float | None) -> bool:
    return (low is not None and value < low) or (high is not None and value > high)


def quality_reasons(text: str, config: QualityConfig = QualityConfig()) -> list[str]:
    """Every rule the document fails (empty list = keep); rules set to ``None``
    are not checked."""
    c = config
    reasons = []
    words = WORD.findall(text)
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    n = len(words)
    if _outside(n, c.min_words, c.max_words):
        reasons.append("word count")
    if n:
        mean_len = sum(map(len, words)) / n
        if _outside(mean_len, c.min_mean_word_len, c.max_mean_word_len):
            reasons.append("mean word length")
        symbols = text.count("#") + text.count("...") + text.count("\u2026")
        if c.max_symbol_ratio is not None and symbols / n > c.max_symbol_ratio:
            reasons.append("symbol ratio")
        alpha = sum(any(ch.isalpha() for ch in w) for w in words)
        if c.min_alpha_words is not None and alpha / n < c.min_alpha_words:
            reasons.append("words without letters")
        stops = {w.lower().strip(".,;:!?\"'") for w in words} & STOP_WORDS
        if c.min_stop_words is not None and len(stops) < c.min_stop_words:
            reasons.append("no stop words")
    if lines:
        if c.max_bullet_lines is not None:
            bullets = sum(line.startswith(BULLETS) for line in lines)
            if bullets / len(lines) > c.max_bullet_lines:
                reasons.append("bullet lines")
        ellipsis = sum(line.endswith(("...", "\u2026")) for line in lines)
        if c.max_ellipsis_lines is not None and ellipsis / len(lines) > c.max_ellipsis_lines:
            reasons.append("ellipsis lines")
        terminal = sum(line.endswith((".", "!", "?", '"', "'", ":")) for line in lines)
        if (c.min_terminal_punct_lines is not None
                and terminal / len(lines) < c.min_terminal_punct_lines):
            reasons.append("terminal punctuation")
        # Gopher counts the *characters* in repeated lines: short repeats
        # (a speaker's name in a play) are normal, repeated paragraphs are not.
        if c.max_repeated_line_chars is not None:
            seen: set[str] = set()
            repeated = 0
            for line in lines:
                if line in seen:
                    repeated += len(line)
                seen.add(line)
            if repeated / sum(map(len, lines)) > c.max_repeated_line_chars:
                reasons.append("repeated lines")
    lower = text.lower()
    if any(p in lower for p in c.placeholders):
        reasons.append("placeholder text")
    if c.max_mojibake_per_1k_chars is not None:
        per_1k = len(MOJIBAKE.findall(text)) * 1000 / max(len(text), 1)
        if per_1k > c.max_mojibake_per_1k_chars:
            reasons.append("mojibake")
    return reasons

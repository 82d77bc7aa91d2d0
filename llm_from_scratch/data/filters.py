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
    """Thresholds of the document rules (Gopher's defaults where it has one)."""

    min_words: int = 50
    max_words: int = 1_000_000
    min_mean_word_len: float = 3.0
    max_mean_word_len: float = 10.0
    max_symbol_ratio: float = 0.1
    max_ellipsis_lines: float = 0.3
    min_alpha_words: float = 0.8
    min_stop_words: int = 2
    min_terminal_punct_lines: float = 0.1
    max_mojibake_per_1k_chars: float = 0.5
    max_repeated_line_chars: float = 0.2
    placeholders: tuple[str, ...] = field(default=("lorem ipsum",))

    def __post_init__(self) -> None:
        if not 0 <= self.min_words <= self.max_words:
            raise ValueError("QualityConfig needs 0 <= min_words <= max_words")
        if not 0 < self.min_mean_word_len <= self.max_mean_word_len:
            raise ValueError("QualityConfig needs 0 < min_mean_word_len <= max")
        for name in ("max_symbol_ratio", "max_ellipsis_lines", "min_alpha_words",
                     "min_terminal_punct_lines", "max_repeated_line_chars"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"QualityConfig.{name} must be in [0, 1]")


def quality_reasons(text: str, config: QualityConfig = QualityConfig()) -> list[str]:
    """Every rule the document fails (empty list = keep)."""
    reasons = []
    words = WORD.findall(text)
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    n = len(words)
    if not config.min_words <= n <= config.max_words:
        reasons.append("word count")
    if n:
        mean_len = sum(map(len, words)) / n
        if not config.min_mean_word_len <= mean_len <= config.max_mean_word_len:
            reasons.append("mean word length")
        symbols = text.count("#") + text.count("...") + text.count("\u2026")
        if symbols / n > config.max_symbol_ratio:
            reasons.append("symbol ratio")
        alpha = sum(any(c.isalpha() for c in w) for w in words)
        if alpha / n < config.min_alpha_words:
            reasons.append("words without letters")
        stops = {w.lower().strip(".,;:!?\"'") for w in words} & STOP_WORDS
        if len(stops) < config.min_stop_words:
            reasons.append("no stop words")
    if lines:
        ellipsis = sum(line.endswith(("...", "\u2026")) for line in lines)
        if ellipsis / len(lines) > config.max_ellipsis_lines:
            reasons.append("ellipsis lines")
        terminal = sum(line.endswith((".", "!", "?", '"', "'", ":")) for line in lines)
        if terminal / len(lines) < config.min_terminal_punct_lines:
            reasons.append("terminal punctuation")
        # Gopher counts the *characters* in repeated lines: short repeats
        # (a speaker's name in a play) are normal, repeated paragraphs are not.
        seen: set[str] = set()
        repeated = 0
        for line in lines:
            if line in seen:
                repeated += len(line)
            seen.add(line)
        if repeated / sum(map(len, lines)) > config.max_repeated_line_chars:
            reasons.append("repeated lines")
    lower = text.lower()
    if any(p in lower for p in config.placeholders):
        reasons.append("placeholder text")
    if len(MOJIBAKE.findall(text)) * 1000 / max(len(text), 1) > (
        config.max_mojibake_per_1k_chars
    ):
        reasons.append("mojibake")
    return reasons

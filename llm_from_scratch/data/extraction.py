"""Scoring an HTML extractor against a reference extractor, page by page.

Web-extraction benchmarks compare an extractor's text with a reference text
as bags of words: precision is the share of the extractor's words that the
reference also has (how little junk it added), recall the share of the
reference's words it found (how little content it lost), F1 their harmonic
mean. Word order and line breaks do not count, which suits a comparison of two
extractors that format lists and tables differently.

The pages are the Debian Administrator's Handbook (the ``debian-handbook``
package, installed by ``make data``): real HTML from a publishing toolchain,
with navigation bars, banners and index anchors on every page. The reference
is resiliparse (the extractor of the DCLM pipeline) with its main-content
heuristics on, since both extractors are meant to drop page chrome.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from llm_from_scratch.data.html import decode_html, html_to_text

HANDBOOK = Path("/usr/share/doc/debian-handbook/html")
WORD = re.compile(r"\w+")


def handbook_pages(language: str = "en-US", root: Path = HANDBOOK) -> list[Path]:
    """The handbook's HTML pages in one language, sorted by name."""
    folder = Path(root) / language
    pages = sorted(folder.glob("*.html"))
    if not pages:
        raise FileNotFoundError(
            f"no HTML pages under {folder}: install Debian's debian-handbook package "
            "(`make data` does, as root; or `sudo apt-get install debian-handbook`)")
    return pages


def word_scores(candidate: str, reference: str) -> dict[str, float]:
    """Bag-of-words precision, recall and F1 of ``candidate`` against
    ``reference`` (lower-cased ``\\w+`` words, counted with multiplicity;
    1.0 for two empty texts)."""
    c = Counter(WORD.findall(candidate.lower()))
    r = Counter(WORD.findall(reference.lower()))
    overlap = sum((c & r).values())
    n_c, n_r = sum(c.values()), sum(r.values())
    precision = overlap / n_c if n_c else float(not n_r)
    recall = overlap / n_r if n_r else float(not n_c)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def resiliparse_text(html: str) -> str:
    """The reference: resiliparse's plain text, main content only, list bullets
    and line breaks kept."""
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(html, main_content=True, list_bullets=True,
                              preserve_formatting=True)


def compare_extractors(
    pages: Iterable[Path],
    ours: Callable[[str], str] = html_to_text,
    reference: Callable[[str], str] = resiliparse_text,
) -> list[dict]:
    """One row per page: its name, both texts' word counts, and ``word_scores``
    of ours against the reference (pages decoded by ``decode_html``)."""
    rows = []
    for page in pages:
        html, encoding = decode_html(Path(page).read_bytes())
        a, b = ours(html), reference(html)
        rows.append({"page": Path(page).name, "encoding": encoding,
                     "words": len(WORD.findall(a)), "reference_words": len(WORD.findall(b)),
                     **word_scores(a, b)})
    return rows


def only_in(candidate: str, reference: str, top: int | None = 8) -> list[tuple[str, int]]:
    """The words ``candidate`` has more often than ``reference``, most first
    (``top`` of them; all with ``None``): what to read when a page scores low."""
    extra = Counter(WORD.findall(candidate.lower())) - Counter(WORD.findall(reference.lower()))
    return extra.most_common(top)

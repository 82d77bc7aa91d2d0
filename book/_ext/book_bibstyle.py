"""The bibliography style of the book: entries labelled as they are cited.

Citations read "Vaswani et al. (2017)" (``bibtex_reference_style: author_year``), so the
bibliography labels its entries the same way ("Vaswani et al., 2017") instead of with
numbers, and sorts them by the name a reader sees: an organisation written as
``{{OpenAI}}`` sorts under O, not after Z (pybtex's default key keeps the braces).
Registered as the pybtex style ``book``; ``_config.yml`` selects it.
"""

from __future__ import annotations

import re
from collections import Counter

from pybtex.plugin import register_plugin
from pybtex.richtext import Text
from pybtex.style.formatting.plain import Style as PlainStyle
from pybtex.style.labels import BaseLabelStyle
from pybtex.style.sorting.author_year_title import SortingStyle as AuthorYearTitle

LATEX_BITS = re.compile(r"[{}\\]")


def _plain(latex: str) -> str:
    """``Kydl{\\'\\i}{\\v{c}}ek`` -> ``Kydlíček``; ``{OpenAI}`` -> ``OpenAI``."""
    try:
        return Text.from_latex(latex).render_as("text")
    except Exception:  # a name pybtex cannot parse is shown without its markup
        return LATEX_BITS.sub("", latex)


def _surname(person) -> str:
    return _plain(" ".join(person.prelast_names + person.last_names))


def _names(entry) -> list[str]:
    persons = entry.persons.get("author") or entry.persons.get("editor") or []
    return [_surname(p) for p in persons if str(p) != "others"]


def author_year_label(entry) -> str:
    names = _names(entry)
    year = entry.fields.get("year", "n.d.")
    others = any(str(p) == "others" for p in entry.persons.get("author", []))
    if not names:
        who = _plain(entry.fields.get("title", entry.key))
    elif len(names) == 1 and not others:
        who = names[0]
    elif len(names) == 2 and not others:
        who = f"{names[0]} and {names[1]}"
    else:
        who = f"{names[0]} et al."
    return f"{who}, {year}"


class AuthorYearLabels(BaseLabelStyle):
    """Labels ``Surname, 2017``, ``A and B, 2017``, ``A et al., 2017``; a, b on ties."""

    def format_labels(self, sorted_entries):
        entries = list(sorted_entries)
        labels = [author_year_label(e) for e in entries]
        counts = Counter(labels)
        seen: Counter = Counter()
        for label in labels:
            if counts[label] > 1:
                suffix = "abcdefghijklmnopqrstuvwxyz"[seen[label]]
                seen[label] += 1
                yield label + suffix
            else:
                yield label


class ReaderSorting(AuthorYearTitle):
    """author, year, title, comparing names as printed (no braces or accents markup)."""

    def person_key(self, person):
        return "  ".join((
            _surname(person),
            _plain(" ".join(person.first_names + person.middle_names)),
            _plain(" ".join(person.lineage_names)),
        )).lower()


class BookStyle(PlainStyle):
    default_label_style = AuthorYearLabels
    default_sorting_style = ReaderSorting


register_plugin("pybtex.style.formatting", "book", BookStyle)


def setup(app):
    return {"parallel_read_safe": True, "parallel_write_safe": True}

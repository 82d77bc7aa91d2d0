"""Tables for the book: a GitHub-style pipe table displayed as Markdown.

The book's configuration renders Markdown outputs with the MyST parser
(``nb_render_markdown_format: myst``), so the table becomes a real table in both the
HTML and the PDF. Numbers are formatted by the caller: every cell is printed with
``str``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

ALIGNMENTS = {"left": ":---", "right": "---:", "center": ":---:", None: "---"}


def _cell(value: Any) -> str:
    text = str(value)
    if "\n" in text:
        raise ValueError(f"table cell {text!r} contains a newline")
    return text.replace("|", "\\|")


def pipe_table(
    rows: Sequence[Sequence[Any]],
    headers: Sequence[Any],
    align: Sequence[str | None] | None = None,
) -> str:
    """The pipe-table text for ``rows`` under ``headers`` (one line per row).

    ``align`` gives one of ``"left"``, ``"right"``, ``"center"`` or ``None`` per column.
    """
    width = len(headers)
    if width == 0:
        raise ValueError("headers must name at least one column")
    if align is None:
        align = [None] * width
    if len(align) != width:
        raise ValueError(f"align has {len(align)} entries for {width} columns")
    for a in align:
        if a not in ALIGNMENTS:
            raise ValueError(f"align entry {a!r} is not one of left, right, center, None")
    lines = [
        "| " + " | ".join(_cell(h) for h in headers) + " |",
        "|" + "|".join(ALIGNMENTS[a] for a in align) + "|",
    ]
    for i, row in enumerate(rows):
        if len(row) != width:
            raise ValueError(f"row {i} has {len(row)} cells for {width} columns")
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return "\n".join(lines)


def latex_columns(widths: Sequence[int]) -> str:
    """A ``tabularcolumns`` directive: column ``i`` takes ``widths[i] / sum(widths)`` of
    the PDF's line, ragged right. Without it LaTeX sizes columns by how much text they
    hold, and a short column with long words (a name, a header) breaks them mid-word."""
    if not widths or any(w <= 0 for w in widths):
        raise ValueError(f"widths must be positive, got {list(widths)}")
    total = sum(widths)
    spec = "".join(r">{\raggedright\arraybackslash}\X{%d}{%d}" % (w, total) for w in widths)
    return "```{tabularcolumns} " + spec + "\n```\n\n"


def markdown_table(
    rows: Sequence[Sequence[Any]],
    headers: Sequence[Any],
    align: Sequence[str | None] | None = None,
    widths: Sequence[int] | None = None,
):
    """Display ``rows`` as a table: an ``IPython.display.Markdown`` pipe table.

    ``widths`` (one positive number per column) fixes the columns' shares of the line
    in the PDF (see ``latex_columns``); the HTML ignores it.
    """
    from IPython.display import Markdown

    text = pipe_table(rows, headers, align)
    if widths is not None:
        if len(widths) != len(headers):
            raise ValueError(f"widths has {len(widths)} entries for {len(headers)} columns")
        text = latex_columns(widths) + text
    return Markdown(text)

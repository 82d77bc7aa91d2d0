"""The book's figure style: readable in the PDF, consistent across chapters."""

from __future__ import annotations

import matplotlib as mpl

BOOK_STYLE: dict[str, object] = {
    "figure.figsize": (6.4, 3.6),
    "figure.dpi": 110,
    "savefig.dpi": 200,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "font.family": "DejaVu Sans",
}


def use_book_style() -> None:
    """Apply the book's matplotlib settings (call once at the top of a notebook)."""
    mpl.rcParams.update(BOOK_STYLE)

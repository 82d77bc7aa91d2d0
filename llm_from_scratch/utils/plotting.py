"""The book's figure style: readable in the PDF, consistent across chapters.

``use_book_style()`` sets matplotlib's rcParams and, inside IPython, asks the inline
backend to emit every figure twice: a 200-dpi PNG shown at half its pixel size (the
HTML build shows it) and a PDF
(myst-nb's LaTeX builder prefers ``application/pdf``, so the printed book gets vector
figures).
"""

from __future__ import annotations

import warnings

import matplotlib as mpl

# "retina" is a PNG at twice figure.dpi shown at half its pixel size: 200 dpi, sharp.
FIGURE_FORMATS: tuple[str, ...] = ("retina", "pdf")
PNG_DPI = 200

BOOK_STYLE: dict[str, object] = {
    "figure.figsize": (6.4, 3.6),
    "figure.dpi": PNG_DPI // 2,
    "savefig.dpi": PNG_DPI,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "font.family": "DejaVu Sans",
    # Text stays text in the PDF figures (searchable, and no Type 3 fonts).
    "pdf.fonttype": 42,
}


def _configure_inline_backend() -> bool:
    """Emit PNG + PDF for each inline figure; False when not running under IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    from matplotlib_inline.backend_inline import set_matplotlib_formats

    set_matplotlib_formats(*FIGURE_FORMATS, bbox_inches="tight")
    return True


def use_book_style() -> None:
    """Apply the book's matplotlib settings (call once at the top of a notebook).

    Under IPython, figures are also emitted as PNG (HTML) and PDF (LaTeX). The
    warning ``tqdm.auto`` gives on import when ipywidgets is absent (libraries such
    as transformers import it) is silenced: it is not about the book's code, and
    the book build treats text on stderr as an error.
    """
    mpl.rcParams.update(BOOK_STYLE)
    _configure_inline_backend()
    warnings.filterwarnings("ignore", message="IProgress not found")

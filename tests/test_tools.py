"""The build's own checks: the PDF checker and the notebook list used by `make`."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import check_pdf  # noqa: E402
from toc_notebooks import toc_notebooks  # noqa: E402


def make_latex_dir(tmp_path: Path, log: str) -> Path:
    (tmp_path / "book.pdf").write_bytes(b"%PDF-1.5")
    (tmp_path / "book.log").write_text(log)
    return tmp_path


def test_clean_log_passes(tmp_path):
    assert check_pdf.check(make_latex_dir(tmp_path, "Output written on book.pdf\n")) == []


def test_missing_glyph_fails(tmp_path):
    log = "Missing character: There is no \u4e2d (U+4E2D) in font DejaVu Sans Mono/OT:...!\n"
    problems = check_pdf.check(make_latex_dir(tmp_path, log))
    assert len(problems) == 1 and "missing glyph" in problems[0]


def test_undefined_citation_and_reference_fail(tmp_path):
    log = (
        "LaTeX Warning: Citation `nobody2020' on page 3 undefined on input line 9.\n"
        "LaTeX Warning: Reference `chapters/x:fig' on page 4 undefined on input line 2.\n"
    )
    kinds = {p.split(": ")[1] for p in check_pdf.check(make_latex_dir(tmp_path, log))}
    assert kinds == {"undefined citation", "undefined reference"}


def test_no_pdf_fails(tmp_path):
    assert check_pdf.check(tmp_path) == [f"no PDF was produced in {tmp_path}"]


def test_make_runs_every_notebook_in_toc_order():
    notebooks = toc_notebooks()
    assert notebooks and all(n.startswith("chapters/") for n in notebooks)
    assert notebooks == sorted(notebooks)


def test_text_running_off_the_page_fails_but_a_hairline_passes(tmp_path):
    log = (
        "Overfull \\hbox (3.1pt too wide) in paragraph at lines 10--12\n"
        "Overfull \\hbox (84.2pt too wide) in paragraph at lines 407--407\n"
        "Overfull \\hbox (25.0pt too wide) in alignment at lines 90--97\n"
    )
    problems = check_pdf.check(make_latex_dir(tmp_path, log))
    assert len(problems) == 2
    assert "84.2pt" in problems[0] and "lines 407--407" in problems[0]
    assert "book.tex" in problems[0]

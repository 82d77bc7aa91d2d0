"""The build's own checks: the PDF checker and the notebook list used by `make`."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import check_pdf  # noqa: E402
from notebook_times import notebook_seconds  # noqa: E402
from toc_notebooks import toc_notebooks  # noqa: E402


def make_latex_dir(tmp_path: Path, log: str) -> Path:
    (tmp_path / "book.tex").write_text("\\documentclass{book}")
    (tmp_path / "book.pdf").write_bytes(b"%PDF-1.5")
    (tmp_path / "book.log").write_text(log)
    return tmp_path


def test_a_figure_pdf_is_not_the_book(tmp_path):
    (tmp_path / "book.tex").write_text("\\documentclass{book}")
    (tmp_path / "0a1b.pdf").write_bytes(b"%PDF-1.5")  # a vector figure, no book.pdf
    assert check_pdf.check(tmp_path) == [f"no PDF was produced in {tmp_path}"]


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


# --- tools/book_report.py: what make book prints and fails on -----------------------
import book_report  # noqa: E402

TEX_OK = r"""\begin{document}
\sphinxtableofcontents
\chapter{Preface}
Front matter prose that is not counted.
\mainmatter
\chapter{Tokenization}
\sphinxAtStartPar
Byte pair encoding merges the most frequent pair of symbols, again and again, until
the vocabulary has the size we asked for. A real table follows.
\begin{savenotes}\sphinxattablestart
\begin{tabulary}{\linewidth}[t]{TT}
\sphinxstyletheadfamily\sphinxAtStartPar name&\sphinxAtStartPar value\\
\sphinxAtStartPar a&\sphinxAtStartPar 1\\
\end{tabulary}
\sphinxattableend\end{savenotes}
\begin{sphinxVerbatim}[commandchars=\\\{\}]
\PYG{k}{def}\PYG{+w}{ }\PYG{n+nf}{f}\PYG{p}{(}\PYG{n}{x}\PYG{p}{)}\PYG{p}{:}
\end{sphinxVerbatim}
\begin{figure}[htbp]
\centering
\noindent\sphinxincludegraphics{{abc123}.pdf}
\caption{Loss falls with steps.}\label{\detokenize{chapters/x:fig-x-loss}}
\end{figure}
\begin{figure}[htbp]
\centering
\noindent\sphinxincludegraphics{{def456}.png}
\end{figure}
\noindent\sphinxincludegraphics{{0789}.pdf}
\index{BPE@\spxentry{BPE}}
\backmatter
\chapter{Bibliography}
\begin{sphinxVerbatim}
a great deal of back matter code that must not be counted at all in the body share
\end{sphinxVerbatim}
\end{document}
"""

RAW_PARAGRAPH = r"""
\sphinxAtStartPar
\textbar{} metric \textbar{} n \textbar{}
\textbar{}\sphinxhyphen{}\sphinxhyphen{}\sphinxhyphen{}\textbar{}\sphinxhyphen{}\sphinxhyphen{}\sphinxhyphen{}\textbar{}
\textbar{} accuracy \textbar{} 220 \textbar{}
"""

RAW_VERBATIM = r"""
\begin{sphinxVerbatim}[commandchars=\\\{\}]
| stage | CPU s |
|---|---|
| SFT | 12.0 |
\end{sphinxVerbatim}
"""


def latex_dir_with(tmp_path: Path, tex: str, idx: str | None = None) -> Path:
    (tmp_path / "book.tex").write_text(tex)
    if idx is not None:
        (tmp_path / "book.idx").write_text(idx)
    return tmp_path


def test_report_counts_figures_captions_vectors_and_index(tmp_path):
    report = book_report.build_report(latex_dir_with(tmp_path, TEX_OK))
    assert report.raw_tables == []
    assert (report.figures, report.captioned, report.vector) == (3, 1, 2)
    assert report.index_entries == 1
    assert book_report.problems(report, limit=0.9) == []
    summary = "\n".join(book_report.summary(report))
    assert "captioned 1/3; vector 2/3" in summary and "index entries: 1" in summary


def test_code_share_counts_visible_body_characters_only(tmp_path):
    report = book_report.build_report(latex_dir_with(tmp_path, TEX_OK))
    # Code: "def f(x):" is 8 visible characters; the back matter block is not counted.
    assert report.code_chars == len("deff(x):")
    assert "Frontmatter" not in book_report.visible_text(book_report.body_of(TEX_OK))
    prose = book_report.count(
        "Byte pair encoding merges the most frequent pair of symbols, again and again,"
        " until the vocabulary has the size we asked for. A real table follows."
        " Tokenization name value a 1 Loss falls with steps."
    )
    assert abs(report.body_chars - report.code_chars - prose) <= 12
    assert book_report.problems(report, limit=0.01)[0].startswith("code share")


def test_index_entries_come_from_book_idx_when_it_exists(tmp_path):
    idx = "\\indexentry{BPE|hyperpage}{3}\n\\indexentry{RoPE|hyperpage}{40}\n"
    report = book_report.build_report(latex_dir_with(tmp_path, TEX_OK, idx))
    assert report.index_entries == 2


def test_a_raw_table_in_a_paragraph_or_a_code_block_fails(tmp_path):
    for raw in (RAW_PARAGRAPH, RAW_VERBATIM):
        tex = TEX_OK.replace("\\backmatter", raw + "\\backmatter")
        report = book_report.build_report(latex_dir_with(tmp_path, tex))
        assert report.raw_tables, raw
        found = book_report.problems(report, limit=1.0)
        assert found and found[0].startswith("raw table text: book.tex: |")


def test_code_that_builds_a_table_is_not_a_raw_table(tmp_path):
    code = (
        "\\begin{sphinxVerbatim}\n"
        "lines = [\"| \" + \" | \".join(headers) + \" |\"]\n"
        "x = a | b\n"
        "\\end{sphinxVerbatim}\n"
    )
    tex = TEX_OK.replace("\\backmatter", code + "\\backmatter")
    assert book_report.build_report(latex_dir_with(tmp_path, tex)).raw_tables == []


def test_html_raw_table_fails_and_a_rendered_table_passes(tmp_path):
    html_dir = tmp_path / "html"
    (html_dir / "chapters").mkdir(parents=True)
    (html_dir / "chapters" / "ok.html").write_text(
        "<html><body><main><table><tr><th>metric</th><th>n</th></tr>"
        "<tr><td>accuracy</td><td>220</td></tr></table>"
        "<p>A sentence with a | in it.</p></main></body></html>"
    )
    latex = latex_dir_with(tmp_path, TEX_OK)
    assert book_report.build_report(latex, html_dir).raw_tables == []
    (html_dir / "chapters" / "bad.html").write_text(
        "<html><body><main><div class=\"cell_output\"><p>| metric | n |\n"
        "|---|---|\n| accuracy | 220 |</p></div></main></body></html>"
    )
    raw = book_report.build_report(latex, html_dir).raw_tables
    assert raw and raw[0].startswith("chapters/bad.html: | metric | n |")


def test_main_exit_status(tmp_path, capsys):
    latex = latex_dir_with(tmp_path, TEX_OK.replace("\\backmatter", RAW_VERBATIM
                                                     + "\\backmatter"))
    assert book_report.main([str(latex)]) == 1
    assert "FAIL raw table text" in capsys.readouterr().err
    assert book_report.main([str(tmp_path / "missing")]) == 1


def test_notebook_times_sum_each_notebooks_cells(tmp_path):
    report = tmp_path / "nbval.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="chapters.01_big_picture.ipynb" name="Cell 0" time="1.5"/>'
        '<testcase classname="chapters.01_big_picture.ipynb" name="Cell 1" time="2.0"/>'
        '<testcase classname="chapters.07b_scaling_laws.ipynb" name="Cell 0" time="4"/>'
        "</testsuite></testsuites>"
    )
    assert notebook_seconds(report) == {"01_big_picture": 3.5, "07b_scaling_laws": 4.0}

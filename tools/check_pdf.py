"""Fail the PDF build on problems xelatex only logs: missing glyphs, broken references,
and text or code that runs off the page.

Usage: python tools/check_pdf.py _build/latex

An "Overfull \\hbox" is a line LaTeX could not fit into the text width. A few points
are invisible (they end in the margin); ``OVERFULL_LIMIT_PT`` and more is a line
that visibly runs off the page, usually code or a table.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

FATAL = {
    "missing glyph": re.compile(r"Missing character: There is no (.+?) in font ([^!\n]+)"),
    "undefined reference": re.compile(r"LaTeX Warning: Reference `(.+?)' .*undefined"),
    "undefined citation": re.compile(r"LaTeX Warning: Citation `(.+?)' .*undefined"),
}
OVERFULL = re.compile(
    r"Overfull \\hbox \((\d+(?:\.\d+)?)pt too wide\) (.*?lines? [\d-]+)"
)
OVERFULL_LIMIT_PT = 20.0


def check(latex_dir: Path) -> list[str]:
    problems = []
    # The book's PDF is named after its .tex; the other PDFs there are figures.
    pdfs = [t.with_suffix(".pdf") for t in latex_dir.glob("*.tex")
            if t.with_suffix(".pdf").exists()]
    if not pdfs:
        return [f"no PDF was produced in {latex_dir}"]
    for log in sorted(latex_dir.glob("*.log")):
        text = log.read_text(errors="replace")
        for kind, pattern in FATAL.items():
            hits = sorted(set(pattern.findall(text)))
            for hit in hits[:20]:
                detail = " in font ".join(hit) if isinstance(hit, tuple) else hit
                problems.append(f"{log.name}: {kind}: {detail}")
        for width, where in OVERFULL.findall(text):
            if float(width) >= OVERFULL_LIMIT_PT:
                problems.append(
                    f"{log.name}: runs off the page by {width}pt: {where} "
                    f"(of {log.with_suffix('.tex').name})"
                )
    return problems


def main() -> int:
    latex_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "_build/latex")
    problems = check(latex_dir)
    for problem in problems:
        print(f"PDF check: {problem}", file=sys.stderr)
    if problems:
        print(f"PDF check failed: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    pdf = next(t.with_suffix(".pdf") for t in latex_dir.glob("*.tex")
               if t.with_suffix(".pdf").exists())
    print(f"PDF check passed: {pdf} ({pdf.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

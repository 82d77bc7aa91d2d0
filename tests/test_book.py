"""Book-level invariants: the table of contents, the notebooks, the pins."""

import json
import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from toc_notebooks import toc_files  # noqa: E402

CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))


def test_toc_and_chapters_agree():
    listed = {f for f in toc_files() if f.startswith("chapters/")}
    on_disk = {f"chapters/{p.stem}" for p in CHAPTERS}
    assert on_disk - listed == set(), "notebooks missing from _toc.yml"
    assert listed - on_disk == set(), "_toc.yml lists notebooks that do not exist"


def test_every_toc_entry_exists():
    for entry in toc_files():
        candidates = [ROOT / f"{entry}{suffix}" for suffix in (".md", ".ipynb")]
        assert any(p.exists() for p in candidates), f"{entry} in _toc.yml has no file"


def test_chapters_are_listed_in_file_order():
    listed = [f for f in toc_files() if f.startswith("chapters/")]
    assert listed == sorted(listed)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_notebook_is_stored_without_outputs(path):
    nb = json.loads(path.read_text())
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert not cell.get("outputs"), f"{path.name} cell {i} stores outputs"
            assert cell.get("execution_count") is None, f"{path.name} cell {i}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_notebook_opens_with_a_plain_title(path):
    nb = json.loads(path.read_text())
    first = "".join(nb["cells"][0]["source"])
    assert first.startswith("# "), f"{path.name} must start with a '# Title' cell"
    assert not re.match(r"# (Chapter|Ch\.)\s*\d", first), "LaTeX numbers chapters itself"
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


def test_requirements_are_pinned():
    lines = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert "torch==2.13.0" in lines
    unpinned = [line for line in lines if "==" not in line]
    assert unpinned == []


def _failing_book(tmp_path: Path) -> Path:
    """A one-chapter copy of the book's build settings whose notebook raises."""
    book = tmp_path / "book"
    (book / "chapters").mkdir(parents=True)
    nb = {
        "cells": [
            {"cell_type": "markdown", "id": "t", "metadata": {}, "source": ["# Boom"]},
            {"cell_type": "code", "id": "c", "metadata": {}, "execution_count": None,
             "outputs": [], "source": ["raise RuntimeError('a cell that raises')"]},
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5,
    }
    (book / "chapters" / "99_broken.ipynb").write_text(json.dumps(nb))
    (book / "index.md").write_text("# Index\n")
    shutil.copytree(ROOT / "book" / "_ext", book / "book" / "_ext")  # local extensions
    config = (ROOT / "_config.yml").read_text()
    config = config.replace("bibtex_bibfiles:\n  - book/references.bib\n", "")
    (book / "_config.yml").write_text(config)
    (book / "_toc.yml").write_text(
        "format: jb-book\nroot: index\nchapters:\n  - file: chapters/99_broken\n"
    )
    return book


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_raising_cell_fails_the_tests_and_the_book_naming_the_notebook(tmp_path):
    """What `make notebooks` and `make book` run, on a notebook that raises."""
    import subprocess

    book = _failing_book(tmp_path)
    bin_dir = Path(sys.executable).parent
    nbval = subprocess.run(
        [str(bin_dir / "pytest"), "--nbval-lax", "--nbval-current-env", "-p",
         "no:randomly", "-p", "no:cacheprovider", "chapters/99_broken.ipynb"],
        cwd=book, capture_output=True, text=True, timeout=300,
    )
    assert nbval.returncode != 0
    assert "99_broken.ipynb" in nbval.stdout and "a cell that raises" in nbval.stdout
    makefile = (ROOT / "Makefile").read_text()
    flags = re.search(r"jupyter-book build \. (.+)", makefile).group(1).split()
    assert {"-W", "-n", "--keep-going"} <= set(flags)
    build = subprocess.run(
        [str(bin_dir / "jupyter-book"), "build", ".", *flags, "--builder", "html"],
        cwd=book, capture_output=True, text=True, timeout=300,
    )
    assert build.returncode != 0
    assert "99_broken" in build.stdout + build.stderr

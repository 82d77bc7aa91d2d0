"""Book-level invariants: the table of contents, the notebooks, the pins."""

import json
import re
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

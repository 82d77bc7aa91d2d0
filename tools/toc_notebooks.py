"""Print the chapter notebooks listed in _toc.yml, in reading order (used by `make`)."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def toc_files(toc_path: Path = ROOT / "_toc.yml") -> list[str]:
    """Every `file:` entry of the table of contents, root first, without suffixes."""
    toc = yaml.safe_load(toc_path.read_text())
    files = [toc["root"]]

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return files


def toc_notebooks(toc_path: Path = ROOT / "_toc.yml") -> list[str]:
    """The toc entries that are notebooks (paths relative to the repository root)."""
    notebooks = []
    for entry in toc_files(toc_path):
        path = ROOT / f"{entry}.ipynb"
        if path.exists():
            notebooks.append(f"{entry}.ipynb")
    return notebooks


if __name__ == "__main__":
    print(" ".join(toc_notebooks()))
    sys.exit(0)

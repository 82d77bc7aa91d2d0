"""Where curation's documents come from: the book's default corpus, or the
user's inputs, each read by its kind (JSONL, Parquet, WARC/WET, HTML folders, text
files)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

from llm_from_scratch.data.archives import is_warc
from llm_from_scratch.data.curation_config import CurationConfig
from llm_from_scratch.data.documents import Document, visible_files


def default_documents(config: CurationConfig) -> list[Document]:
    """The book's raw corpus: Shakespeare and the local crawl, with noise injected."""
    from llm_from_scratch.corpora import shakespeare
    from llm_from_scratch.data.crawl import local_crawl

    docs = []
    if config.shakespeare:
        docs += [Document(f"shakespeare/{w.name}", w.text, "shakespeare")
                 for w in shakespeare("modern")]
    if config.crawl:
        docs += local_crawl(**asdict(config.crawl))
    if config.noise:
        from llm_from_scratch.data.noise import inject_noise

        docs = inject_noise(docs, config.noise)
    return docs


# How an input is read: a .jsonl or .parquet file, a (gzipped) WARC or WET, a
# folder of HTML pages, any other file, or a folder of files of any name
# (sniffed as text).
INPUT_KINDS = ("*.jsonl, *.parquet, *.warc[.gz], *.wet[.gz], a folder of *.html, or "
               "files of text")


def check_inputs(config: CurationConfig) -> None:
    """Fail before any work: every input exists, and a folder holds a file."""
    for item in config.inputs:
        path = Path(item)
        if not path.exists():
            raise FileNotFoundError(f"input {path} does not exist")
        if path.is_dir() and not visible_files(path):
            raise ValueError(f"input folder {path} holds no files (looked for "
                             f"{INPUT_KINDS}, under **/*)")


def count_inputs(config: CurationConfig) -> int | None:
    """How many documents the inputs hold, when that is cheap to know (text
    files and folders only, no other source), for the progress line's ETA."""
    if config.shakespeare or config.crawl or config.hf:
        return None
    total = 0
    for item in config.inputs:
        path = Path(item)
        if path.suffix in (".jsonl", ".parquet") or is_warc(path):
            return None
        total += len(visible_files(path)) if path.is_dir() else 1
    return total


def input_documents(config: CurationConfig) -> Iterator[Document]:
    """Documents from ``config.inputs``, read by file type."""
    from llm_from_scratch.data.archives import read_parquet, read_warc
    from llm_from_scratch.data.documents import read_folder, read_html_files
    from llm_from_scratch.data.documents import read_jsonl, read_text_files

    check_inputs(config)
    for item in config.inputs:
        path = Path(item)
        if path.suffix == ".jsonl":
            yield from read_jsonl(path)
        elif path.suffix == ".parquet":
            yield from read_parquet(path)
        elif is_warc(path):
            yield from read_warc(path)
        elif path.is_dir() and any(path.glob("**/*.html")):
            yield from read_html_files(path)
        elif path.is_dir():
            yield from read_folder(path)
        else:
            yield from read_text_files(path)

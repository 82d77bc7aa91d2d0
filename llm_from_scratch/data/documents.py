"""Documents and the readers that make them: text files, JSONL and HTML.

Every stage of the pipeline passes ``Document`` records along. A reader never
crashes on bad input and never drops it: bytes that are not text become a
document with an ``error`` in its metadata, which the first stage rejects with
that reason, so the report can account for every input.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from llm_from_scratch.data.html import decode_html, html_to_text


@dataclass(frozen=True)
class Document:
    """One unit of text: an id unique in its corpus, where it came from, and notes.

    ``meta`` holds facts found on the way (a decoding error, the injected
    ground-truth labels, the detected language); stages add to it, never
    remove from it.
    """

    id: str
    text: str
    source: str
    meta: dict[str, Any] = field(default_factory=dict)

    def with_text(self, text: str, **meta: Any) -> Document:
        """A copy with new text and extra metadata (documents are immutable)."""
        return replace(self, text=text, meta={**self.meta, **meta})


def decode(raw: bytes, doc_id: str, source: str) -> Document:
    """Bytes to a document; undecodable or binary data is marked, not dropped."""
    if b"\x00" in raw[:8192]:
        return Document(doc_id, "", source, {"error": "binary"})
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        error = f"invalid utf-8 at byte {e.start}"
        return Document(doc_id, "", source, {"error": error})
    return Document(doc_id, text.replace("\r\n", "\n"), source)


def read_text_files(
    root: str | Path, pattern: str = "**/*.txt", source: str | None = None
) -> Iterator[Document]:
    """Every file under ``root`` matching ``pattern``, in sorted path order."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root} does not exist")
    paths = [root] if root.is_file() else sorted(p for p in root.glob(pattern))
    for path in paths:
        if path.is_file():
            doc_id = str(path.relative_to(root)) if path != root else path.name
            yield decode(path.read_bytes(), doc_id, source or str(root))


def visible_files(root: str | Path) -> list[Path]:
    """Files under ``root`` in sorted order, without hidden files or folders."""
    root = Path(root)
    return sorted(p for p in root.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(root).parts))


def read_folder(root: str | Path) -> Iterator[Document]:
    """Every visible file under ``root``, sniffed: text is read whatever its
    name (Debian's licence files have no extension), binary or non-UTF-8 files
    become marked documents that the validity stage rejects and the ledger
    lists. Hidden files and folders (``.git``) are skipped."""
    root = Path(root)
    for path in visible_files(root):
        yield decode(path.read_bytes(), str(path.relative_to(root)), str(root))


def read_jsonl(
    path: str | Path, text_field: str = "text", id_field: str | None = "id"
) -> Iterator[Document]:
    """One document per JSON line; a malformed line becomes a marked document.

    An id used twice in the file is an error naming the file and both lines.
    """
    path = Path(path)
    first_line: dict[str, int] = {}
    with path.open("rb") as f:
        for n, raw in enumerate(f, start=1):
            doc_id = f"{path.name}:{n}"
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                yield Document(doc_id, "", str(path), {"error": f"bad JSON line: {e}"})
                continue
            if not isinstance(record, dict) or not isinstance(
                record.get(text_field), str
            ):
                error = f"no string field {text_field!r}"
                yield Document(doc_id, "", str(path), {"error": error})
                continue
            if id_field and id_field in record:
                doc_id = str(record[id_field])
                if doc_id in first_line:
                    raise ValueError(
                        f"{path}:{n}: duplicate id {doc_id!r} (first on line "
                        f"{first_line[doc_id]}); ids must be unique"
                    )
                first_line[doc_id] = n
            meta = {k: v for k, v in record.items() if k not in (text_field, id_field)}
            yield Document(doc_id, record[text_field], str(path), meta)


def read_html_files(root: str | Path, pattern: str = "**/*.html") -> Iterator[Document]:
    """HTML pages under ``root`` as clean text: bytes decoded by ``decode_html``
    (byte-order mark, ``<meta charset>``, UTF-8, then a detector), markup,
    scripts and page chrome removed by ``html_to_text`` (``data/html.py``)."""
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{root} does not exist")
    paths = [root] if root.is_file() else sorted(p for p in root.glob(pattern))
    for path in paths:
        if path.is_file():
            doc_id = str(path.relative_to(root)) if path != root else path.name
            text, encoding = decode_html(path.read_bytes())
            yield Document(doc_id, html_to_text(text), str(root),
                           {"format": "html", "encoding": encoding})

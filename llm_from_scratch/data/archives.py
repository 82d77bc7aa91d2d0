"""Readers for crawl archives and columnar dumps: WARC, WET and Parquet, streamed.

Common Crawl publishes each crawl twice over: WARC files hold the raw HTTP
responses, WET files the text it extracted from them (``conversion`` records).
Both are read with ``warcio``, the reader the Common Crawl tooling uses, one
record at a time, gzipped or not. Parquet (the format Hugging Face datasets and
FineWeb are published in) is read with ``pyarrow`` one batch of rows at a time,
so a file larger than memory streams too. As every reader of the package does,
these never drop input silently: a record that cannot be read becomes a marked
``Document`` (``meta["error"]``) that the validity stage rejects and the ledger
lists, and a damaged archive ends with one such document naming the byte where
reading stopped.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llm_from_scratch.data.documents import Document, decode
from llm_from_scratch.data.html import decode_html, html_to_text

WARC_SUFFIXES = (".warc", ".warc.gz", ".wet", ".wet.gz", ".warc.wet", ".warc.wet.gz")
CHARSET = re.compile(r"charset\s*=\s*[\"']?([\w.:-]+)", re.IGNORECASE)


def is_warc(path: str | Path) -> bool:
    """A WARC or WET file, by its name (``.warc``, ``.wet``, optionally ``.gz``)."""
    return Path(path).name.lower().endswith(WARC_SUFFIXES)


def read_warc(path: str | Path) -> Iterator[Document]:
    """Pages of a WARC file (HTTP ``response`` records) or a WET file
    (``conversion`` records), as ``Document``s with the record id as id and the
    URL in ``meta["url"]``; other record types (requests, metadata) are skipped.

    A response's body is decoded by the charset of its HTTP ``Content-Type``,
    else as HTML pages are (``decode_html``) when it is HTML, else as text
    (``decode``: binary bodies are marked); HTML goes through ``html_to_text``.
    WET text is UTF-8 already.
    """
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    path = Path(path)
    # Python's gzip reads any sequence of members, including writers' multi-record
    # ones that warcio refuses; warcio then parses the plain stream.
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        records = ArchiveIterator(f)
        offset = 0
        try:
            for record in records:
                if not record.format.startswith("warc"):
                    raise ValueError("not a WARC record")
                if record.rec_headers.get_header("Content-Length") is None:
                    raise ValueError("a record header without Content-Length "
                                     "(cut short or malformed)")
                body = record.content_stream().read()
                truncated = getattr(record.raw_stream, "limit", 0)
                offset = _offset(records, offset)  # (reads to the record's end)
                if truncated:
                    raise ValueError("truncated: a record is shorter than declared")
                if record.rec_type in ("response", "conversion"):
                    yield _document(record, body, path)
        except (ArchiveLoadFailed, ValueError, OSError, EOFError, zlib.error) as e:
            # (offsets count bytes of the uncompressed stream)
            error = f"damaged archive in the record at byte {offset} or after it: {e}"
            yield Document(f"{path.name}:damaged", "", str(path), {"error": error})


def _offset(records: Any, previous: int) -> int:
    try:
        return int(records.get_record_offset())
    except (AttributeError, TypeError):
        return previous


def _document(record: Any, body: bytes, path: Path) -> Document:
    headers = record.rec_headers
    url = headers.get_header("WARC-Target-URI") or ""
    doc_id = headers.get_header("WARC-Record-ID") or url
    if record.rec_type == "conversion":  # WET: text extracted by the crawler
        doc = decode(body, doc_id, str(path))
        return doc.with_text(doc.text, url=url, format="wet")
    content_type = ""
    if record.http_headers is not None:
        content_type = (record.http_headers.get_header("Content-Type") or "").lower()
    declared = CHARSET.search(content_type)
    text = None
    if declared:
        try:
            text = body.decode(declared.group(1))
        except (LookupError, UnicodeDecodeError):
            text = None  # a wrong declaration: decide from the bytes below
    if "html" in content_type:
        encoding = declared.group(1) if declared and text is not None else None
        if text is None:
            text, encoding = decode_html(body)
        return Document(doc_id, html_to_text(text), str(path),
                        {"url": url, "content_type": content_type, "format": "html",
                         "encoding": encoding})
    doc = decode(body, doc_id, str(path)) if text is None else \
        Document(doc_id, text, str(path))
    return doc.with_text(doc.text, url=url, content_type=content_type)


def read_parquet(
    path: str | Path, text_field: str = "text", id_field: str | None = "id",
    batch_size: int = 1024,
) -> Iterator[Document]:
    """One document per row of a Parquet file, read ``batch_size`` rows at a time.

    Mirrors ``read_jsonl``: ids from ``id_field`` when the file has that column
    (``file.parquet:ROW`` otherwise, rows counted from 1), the other columns'
    values as metadata, and a row without a string text becomes a marked
    document. A missing text column is an error naming the file and the columns
    it has; an id used twice is an error naming both rows.
    """
    import pyarrow.parquet as pq

    path = Path(path)
    parquet = pq.ParquetFile(path)
    columns = parquet.schema_arrow.names
    if text_field not in columns:
        raise ValueError(f"{path}: no column {text_field!r} (columns: {columns})")
    first_row: dict[str, int] = {}
    row = 0
    for batch in parquet.iter_batches(batch_size=batch_size):
        for record in batch.to_pylist():
            row += 1
            doc_id = f"{path.name}:{row}"
            text = record.get(text_field)
            if not isinstance(text, str):
                error = f"no string field {text_field!r} (got {type(text).__name__})"
                yield Document(doc_id, "", str(path), {"error": error})
                continue
            if id_field and record.get(id_field) is not None:
                doc_id = str(record[id_field])
                if doc_id in first_row:
                    raise ValueError(f"{path}: row {row}: duplicate id {doc_id!r} "
                                     f"(first in row {first_row[doc_id]}); ids must "
                                     "be unique")
                first_row[doc_id] = row
            meta = {k: _scalar(v) for k, v in record.items()
                    if k not in (text_field, id_field)}
            yield Document(doc_id, text, str(path), meta)


def _scalar(value: Any) -> Any:
    """A metadata value the ledger can write as JSON: kept if it is one, else its
    ``str`` (a timestamp, bytes), lists and dicts kept when their items are."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, list):
        return [_scalar(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _scalar(v) for k, v in value.items()}
    return str(value)

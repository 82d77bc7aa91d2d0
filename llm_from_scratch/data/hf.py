"""Hugging Face ``datasets`` as a document source: the real web corpora, optional.

The book's default corpus is built offline, but the corpora that real models
train on are published on the Hugging Face Hub: FineWeb-Edu
{cite}`penedo2024fineweb` (web pages filtered for educational value) or
TinyStories (simple stories for very small models). ``read_hf_dataset``
streams any of them, or local JSON/Parquet/CSV files through the same
``datasets`` loaders, as ``Document`` records. Nothing is downloaded unless
it is called: the ``datasets`` package is imported inside the function, and
only then.

Like the other readers it never drops a record: one without usable text
becomes a document with an ``error`` in its metadata, which the pipeline's
first stage rejects with that reason.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llm_from_scratch.data.documents import Document

DataFiles = str | Sequence[str] | Mapping[str, str | Sequence[str]] | None
SCALARS = (str, int, float, bool)  # metadata kept; lists, dicts, dates are not


def _scalar_meta(record: Mapping[str, Any], skip: tuple[str | None, ...]) -> dict:
    """The record's scalar fields: JSON-safe notes for the ledger and report."""
    return {k: v for k, v in record.items()
            if k not in skip and isinstance(v, SCALARS)}


def _text_error(value: Any, text_field: str) -> str | None:
    """Why a record's text cannot be used (or None when it can)."""
    if value is None:
        return f"field {text_field!r} is missing"
    if not isinstance(value, str):
        return f"field {text_field!r} is {type(value).__name__}, not a string"
    if not value.strip():
        return f"field {text_field!r} is empty"
    return None


def read_hf_dataset(
    path: str,
    *,
    split: str = "train",
    text_field: str = "text",
    id_field: str | None = None,
    name: str | None = None,
    data_files: DataFiles = None,
    streaming: bool = True,
    limit: int | None = None,
    source: str | None = None,
) -> Iterator[Document]:
    """Records of a Hugging Face dataset as documents, lazily and in order.

    ``path``, ``name``, ``split`` and ``data_files`` go to
    ``datasets.load_dataset``; ``streaming=True`` (the default) reads records
    as they arrive instead of downloading the whole dataset first, which is
    what makes a terabyte corpus usable for a quick look. ``limit`` stops
    after that many records (good ones and malformed ones alike).

    Ids are stable across runs: the ``id_field`` value when there is one,
    else ``f"{path}:{split}:{index}"``. The record's other scalar fields become
    ``meta``. A record whose text is missing, not a string or empty is kept as
    a document marked with an ``error``; a ``text_field`` that is not a column
    of the dataset at all is a configuration mistake and raises ``ValueError``.

    Examples (these download, so nothing in the book runs them)::

        read_hf_dataset("HuggingFaceFW/fineweb-edu", name="sample-10BT",
                        id_field="id", limit=1000)
        read_hf_dataset("roneneldan/TinyStories", split="validation", limit=1000)
        read_hf_dataset("json", data_files="pages.jsonl")  # local files, offline
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0 or None, got {limit}")
    import datasets  # imported here: it is slow to import and only some need it

    files = list(data_files) if isinstance(data_files, tuple) else data_files
    ds = datasets.load_dataset(path, name=name, split=split, data_files=files,
                               streaming=streaming)
    _check_column(ds.column_names, text_field, path)
    source = source or f"hf:{path}" + (f"/{name}" if name else "")
    for index, record in enumerate(ds):
        if limit is not None and index >= limit:
            return
        if index == 0 and ds.column_names is None:
            _check_column(list(record), text_field, path)
        doc_id = f"{path}:{split}:{index}"
        if id_field is not None and record.get(id_field) is not None:
            doc_id = str(record[id_field])
        meta = _scalar_meta(record, (text_field, id_field))
        value = record.get(text_field)
        error = _text_error(value, text_field)
        if error:
            yield Document(doc_id, "", source, {**meta, "error": error})
        else:
            yield Document(doc_id, value.replace("\r\n", "\n"), source, meta)


def _check_column(columns: Sequence[str] | None, text_field: str, path: str) -> None:
    """A text field the dataset does not have: say which ones it has."""
    if columns is not None and text_field not in columns:
        raise ValueError(
            f"dataset {path!r} has no column {text_field!r}; "
            f"available columns: {sorted(columns)}"
        )


@dataclass(frozen=True)
class HFSource:
    """A Hugging Face dataset as a curation source (``CurationConfig.hf``).

    The fields are ``read_hf_dataset``'s arguments; set ``limit`` for a hub
    dataset, since the pipeline reads every record it is given.
    """

    path: str
    split: str = "train"
    text_field: str = "text"
    id_field: str | None = None
    name: str | None = None
    data_files: str | tuple[str, ...] | None = None
    streaming: bool = True
    limit: int | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 0:
            raise ValueError(f"HFSource.limit must be >= 0 or null, got {self.limit}")

    def documents(self) -> Iterator[Document]:
        """The source's documents (``read_hf_dataset`` with these settings)."""
        return read_hf_dataset(
            self.path, split=self.split, text_field=self.text_field,
            id_field=self.id_field, name=self.name, data_files=self.data_files,
            streaming=self.streaming, limit=self.limit, source=self.source,
        )

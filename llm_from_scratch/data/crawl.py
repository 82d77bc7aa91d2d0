"""A "local crawl": real, messy text that every machine with the book's venv has.

Web crawls are mostly not prose: READMEs full of badges and code, licence texts
copied thousands of times, pages in other languages. Rather than download
Common Crawl, the book assembles the same kinds of text from files already
installed next to Python:

* ``readme``   — long descriptions in installed packages' ``METADATA`` files
  (markdown, reStructuredText or HTML, with badges, links and code);
* ``license``  — their LICENSE files (heavy exact and near duplication);
* ``l10n``     — Sphinx's translated message catalogs (``.mo``), one page per
  language: natural non-English text;
* ``pydoc``    — module docstrings of the Python standard library (English
  technical prose), read with ``ast`` (parsed, never imported or executed).

Sources are pinned: only the distributions listed in ``crawl_sources`` are read
(the book's own package is not among them: its README changes with every edit of
the book, and the corpus must not), and files are sorted by name and capped, so
the pinned requirements always give the same crawl, whatever else is installed.
``/usr/share/doc`` copyright files (Debian only) are an optional extra.
"""

from __future__ import annotations

import ast
import gettext
import io
import sysconfig
from collections.abc import Iterator
from email.parser import BytesHeaderParser
from pathlib import Path

from llm_from_scratch.data.crawl_sources import CRAWL_DISTRIBUTIONS, dist_name
from llm_from_scratch.data.documents import Document, decode


def site_packages() -> Path:
    """The ``site-packages`` folder of the running interpreter."""
    return Path(sysconfig.get_paths()["purelib"])


def _metadata_body(raw: bytes) -> str:
    """The long description: the body after the RFC 822 headers of METADATA."""
    text = raw.decode("utf-8", errors="strict")
    head, sep, body = text.partition("\n\n")
    if not sep:
        return ""
    headers = BytesHeaderParser().parse(io.BytesIO(raw))
    description = headers.get("Description")
    return body if body.strip() else (description or "")


def _installed(site: Path, pattern: str) -> list[Path]:
    """Files matching ``pattern`` under site-packages, sorted, from the pinned
    distributions only (``crawl_sources``): installing another package, or the
    book's own, leaves the crawl unchanged."""
    return sorted(
        p for p in site.glob(pattern)
        if dist_name(p.relative_to(site).parts[0]) in CRAWL_DISTRIBUTIONS
    )


def readme_pages(site: Path, limit: int) -> Iterator[Document]:
    """Package READMEs from ``*.dist-info/METADATA``, sorted by package."""
    count = 0
    for meta in _installed(site, "*.dist-info/METADATA"):
        if count >= limit:
            return
        raw = meta.read_bytes()
        try:
            body = _metadata_body(raw)
        except UnicodeDecodeError:
            yield decode(raw, f"readme/{meta.parent.name}", "readme")
            count += 1
            continue
        if len(body.strip()) >= 200:
            yield Document(f"readme/{meta.parent.name}", body, "readme")
            count += 1


def license_pages(site: Path, limit: int) -> Iterator[Document]:
    """Licence files shipped in ``*.dist-info``, sorted by path."""
    paths = [
        p
        for p in _installed(site, "*.dist-info/**/*")
        if p.is_file() and any(k in p.name.upper() for k in ("LICEN", "COPYING"))
    ]
    for path in paths[:limit]:
        doc_id = "license/" + str(path.relative_to(site))
        yield decode(path.read_bytes(), doc_id, "license")


def l10n_pages(site: Path, limit: int, min_chars: int = 30) -> Iterator[Document]:
    """One page per language: Sphinx's translated messages, in catalogue order."""
    for mo in sorted(site.glob("sphinx/locale/*/LC_MESSAGES/sphinx.mo"))[:limit]:
        with mo.open("rb") as f:
            catalog = gettext.GNUTranslations(f)._catalog  # type: ignore[attr-defined]
        lines = [
            v for k, v in sorted(catalog.items(), key=lambda kv: str(kv[0]))
            if isinstance(v, str) and len(v) >= min_chars and k
        ]
        if lines:
            lang = mo.parent.parent.name
            yield Document(f"l10n/{lang}", "\n".join(lines), "l10n", {"lang": lang})


def pydoc_pages(limit: int, min_chars: int = 400) -> Iterator[Document]:
    """Module docstrings of the standard library, sorted by module path."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    count = 0
    for path in sorted(stdlib.glob("*.py")):
        if count >= limit:
            return
        try:
            tree = ast.parse(path.read_bytes())
        except (SyntaxError, ValueError):
            continue
        doc = ast.get_docstring(tree)
        if doc and len(doc) >= min_chars:
            yield Document(f"pydoc/{path.stem}", doc, "pydoc")
            count += 1


def debian_copyright_pages(
    limit: int, root: str = "/usr/share/doc"
) -> Iterator[Document]:
    """Optional extra: Debian's per-package copyright files (absent elsewhere)."""
    for path in sorted(Path(root).glob("*/copyright"))[:limit]:
        yield decode(path.read_bytes(), f"debian/{path.parent.name}", "debian")


def local_crawl(
    readmes: int = 120,
    licenses: int = 150,
    languages: int = 30,
    pydocs: int = 80,
    debian: int = 0,
) -> list[Document]:
    """The pinned local crawl: each source sorted and capped at the given count."""
    site = site_packages()
    docs = [
        *readme_pages(site, readmes),
        *license_pages(site, licenses),
        *l10n_pages(site, languages),
        *pydoc_pages(pydocs),
    ]
    if debian:
        docs += list(debian_copyright_pages(debian))
    return docs

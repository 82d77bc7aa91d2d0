"""Pass 1 of curation: the per-document stages, one pure function of a document.

validity → language → boilerplate lines → quality rules → PII masking, then
the document's exact-dedup key and MinHash signature. ``first_pass`` depends
on nothing but the document and the settings, which is what lets any executor
(a process pool, a Dask cluster) run it anywhere and in any order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from llm_from_scratch.data.curation_config import CurationConfig
from llm_from_scratch.data.dedup import MinHasher, shingle_hashes, text_hash
from llm_from_scratch.data.documents import Document
from llm_from_scratch.data.filters import (
    quality_reasons,
    remove_boilerplate_lines,
    validity_reason,
)
from llm_from_scratch.data.langid import language_reason
from llm_from_scratch.data.pii import mask_pii


@dataclass
class Outcome:
    """What pass 1 did to one document."""

    doc: Document
    sizes: list[tuple[str, int]]  # (stage, bytes after it) for stages passed
    stage: str | None = None  # the stage that rejected it
    reason: str | None = None
    signature: np.ndarray | None = None
    exact_key: str = ""


def utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8", errors="surrogatepass"))


def first_pass(doc: Document, config: CurationConfig) -> Outcome:
    """Validity, language, boilerplate, quality and PII for one document."""
    out = Outcome(doc, [])
    text = doc.text
    reason = validity_reason(text, doc.meta, config.validity)
    if reason:
        out.stage, out.reason = "validity", reason
        return out
    out.sizes.append(("validity", utf8_bytes(text)))
    if config.language:
        reason = language_reason(text, config.language)
        if reason:
            out.stage, out.reason = "language", reason
            return out
        out.sizes.append(("language", utf8_bytes(text)))
    if config.boilerplate:
        text, removed = remove_boilerplate_lines(text)
        out.doc = out.doc.with_text(text, boilerplate_lines_removed=removed)
        out.sizes.append(("boilerplate", utf8_bytes(text)))
    if config.quality:
        reasons = quality_reasons(text, config.quality)
        if reasons:
            out.stage, out.reason = "quality", reasons[0]
            out.doc = out.doc.with_text(text, quality_reasons=reasons)
            return out
        out.sizes.append(("quality", utf8_bytes(text)))
    if config.pii:
        text, counts = mask_pii(text)
        out.doc = out.doc.with_text(text, pii_masked=counts)
        out.sizes.append(("pii", utf8_bytes(text)))
    if config.exact_dedup:
        out.exact_key = text_hash(text)
    if config.near_dedup:
        nd = config.near_dedup
        hasher = _hasher(nd.num_perm, nd.ngram, nd.seed)
        out.signature = hasher.signature(shingle_hashes(text, nd.ngram))
    return out


_HASHERS: dict[tuple[int, int, int], MinHasher] = {}


def _hasher(num_perm: int, ngram: int, seed: int) -> MinHasher:
    key = (num_perm, ngram, seed)
    if key not in _HASHERS:
        _HASHERS[key] = MinHasher(num_perm, ngram, seed)
    return _HASHERS[key]

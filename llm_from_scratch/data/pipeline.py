"""The curation runner: every document through every stage, every fate recorded.

Two passes keep memory bounded by the signatures, not the text:

1. *Per-document stages*, in parallel worker processes (order preserved):
   validity → language → boilerplate lines → quality rules → PII masking,
   then exact dedup (a set of hashes) in the main process. Survivors are
   spilled to a JSONL file with their MinHash signature kept in memory
   (``num_perm`` × 4 bytes each).
2. *Corpus-level stages*: MinHash/LSH near-dedup over all signatures, then a
   streaming pass over the spill file: line dedup → toxicity → output (with
   ``line_dedup_keep="none"``, one more pass first counts the lines).

Nothing is dropped silently: each input ends as ``kept`` or with the stage and
reason that rejected it, in ``ledger.jsonl``; ``report.json`` has the funnel.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing as mp
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

# the settings and the inputs have modules of their own; their names stay
# importable from here, where ``curate`` uses them
from llm_from_scratch.data.curation_config import STAGES, CurationConfig  # noqa: F401
from llm_from_scratch.data.dedup import MinHasher, dedup_lines, near_duplicate_clusters
from llm_from_scratch.data.dedup import repeated_lines, shingle_hashes
from llm_from_scratch.data.dedup import text_hash
from llm_from_scratch.data.documents import Document
from llm_from_scratch.data.filters import (
    quality_reasons,
    remove_boilerplate_lines,
    validity_reason,
)
from llm_from_scratch.data.inputs import (  # noqa: F401
    check_inputs,
    count_inputs,
    default_documents,
    input_documents,
)
from llm_from_scratch.data.langid import language_reason
from llm_from_scratch.data.pii import mask_pii


# --- pass 1: per-document stages (run in worker processes) ----------------------


@dataclass
class Outcome:
    """What pass 1 did to one document."""

    doc: Document
    sizes: list[tuple[str, int]]  # (stage, bytes after it) for stages passed
    stage: str | None = None  # the stage that rejected it
    reason: str | None = None
    signature: np.ndarray | None = None
    exact_key: str = ""


def _nbytes(text: str) -> int:
    return len(text.encode("utf-8", errors="surrogatepass"))


def first_pass(doc: Document, config: CurationConfig) -> Outcome:
    """Validity, language, boilerplate, quality and PII for one document."""
    out = Outcome(doc, [])
    text = doc.text
    reason = validity_reason(text, doc.meta, config.validity)
    if reason:
        out.stage, out.reason = "validity", reason
        return out
    out.sizes.append(("validity", _nbytes(text)))
    if config.language:
        reason = language_reason(text, config.language)
        if reason:
            out.stage, out.reason = "language", reason
            return out
        out.sizes.append(("language", _nbytes(text)))
    if config.boilerplate:
        text, removed = remove_boilerplate_lines(text)
        out.doc = out.doc.with_text(text, boilerplate_lines_removed=removed)
        out.sizes.append(("boilerplate", _nbytes(text)))
    if config.quality:
        reasons = quality_reasons(text, config.quality)
        if reasons:
            out.stage, out.reason = "quality", reasons[0]
            out.doc = out.doc.with_text(text, quality_reasons=reasons)
            return out
        out.sizes.append(("quality", _nbytes(text)))
    if config.pii:
        text, counts = mask_pii(text)
        out.doc = out.doc.with_text(text, pii_masked=counts)
        out.sizes.append(("pii", _nbytes(text)))
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


_WORKER_CONFIG: CurationConfig | None = None


def _init_worker(config: CurationConfig) -> None:
    global _WORKER_CONFIG
    _WORKER_CONFIG = config


def _work(doc: Document) -> Outcome:
    assert _WORKER_CONFIG is not None
    return first_pass(doc, _WORKER_CONFIG)


def _first_pass_all(
    docs: Iterable[Document], config: CurationConfig
) -> Iterator[Outcome]:
    if config.workers == 1:
        for doc in docs:
            yield first_pass(doc, config)
        return
    ctx = mp.get_context("fork" if sys.platform == "linux" else "spawn")
    # Pool.imap reads its whole input ahead of the workers; feeding it one window of
    # documents at a time keeps memory bounded on inputs larger than RAM.
    window = 256 * config.workers
    docs = iter(docs)
    with ctx.Pool(config.workers, _init_worker, (config,)) as pool:
        while batch := list(itertools.islice(docs, window)):
            yield from pool.imap(_work, batch, chunksize=4)


def progress(
    items: Iterable[Any], desc: str, unit: str, total: int | None = None,
    every: float = 10.0,
) -> Iterator[Any]:
    """A progress bar on a terminal; in a log, one plain line every ``every``
    seconds (with the ETA when ``total`` is known) and a last one, instead of
    thousands of carriage-return frames."""
    if sys.stderr.isatty():
        from tqdm import tqdm

        yield from tqdm(items, desc=desc, unit=unit, total=total, file=sys.stderr)
        return
    import time

    began = last = time.monotonic()
    n = 0
    for n, item in enumerate(items, start=1):
        yield item
        now = time.monotonic()
        if now - last >= every:
            last = now
            rate = n / (now - began)
            line = f"{desc}: {n}" + (f"/{total}" if total else "") + f" {unit}s, "
            line += f"{rate:.1f} {unit}/s"
            if total:
                line += f", ETA {max(total - n, 0) / rate:.0f} s"
            print(line, file=sys.stderr, flush=True)
    print(f"{desc}: {n} {unit}s in {time.monotonic() - began:.1f} s",
          file=sys.stderr, flush=True)


# --- the report -----------------------------------------------------------------


@dataclass
class CurationReport:
    """The funnel, the reasons, examples, and where the outputs are."""

    stages: list[dict[str, Any]]
    reasons: dict[str, int]
    examples: dict[str, list[dict[str, str]]]
    docs_in: int
    docs_out: int
    bytes_in: int
    bytes_out: int
    curated: str
    ledger: str
    pii_masked: dict[str, int]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def load(cls, path: str | Path) -> CurationReport:
        """Read a ``report.json`` written by ``curate``."""
        return cls(**json.loads(Path(path).read_text()))

    def ledger_rows(self) -> list[dict[str, Any]]:
        """One row per input document: id, source, labels, stage, reason."""
        with open(self.ledger) as f:
            return [json.loads(line) for line in f]

    def curated_documents(self) -> Iterator[Document]:
        """The kept documents, in input order."""
        with open(self.curated) as f:
            for line in f:
                r = json.loads(line)
                yield Document(r["id"], r["text"], r["source"], r["meta"])


class _Funnel:
    def __init__(self, examples_per_reason: int) -> None:
        self.docs_in: Counter[str] = Counter()
        self.docs_out: Counter[str] = Counter()
        self.bytes_in: Counter[str] = Counter()
        self.bytes_out: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()
        self.examples: dict[str, list[dict[str, str]]] = defaultdict(list)
        self.k = examples_per_reason

    def passed(self, stage: str, before: int, after: int) -> None:
        self.docs_in[stage] += 1
        self.docs_out[stage] += 1
        self.bytes_in[stage] += before
        self.bytes_out[stage] += after

    def rejected(self, stage: str, reason: str, doc: Document, before: int) -> None:
        self.docs_in[stage] += 1
        self.bytes_in[stage] += before
        key = f"{stage}: {reason}"
        self.reasons[key] += 1
        if len(self.examples[key]) < self.k:
            snippet = doc.text[:160].replace("\n", " ")
            self.examples[key].append({"id": doc.id, "text": snippet})

    def stages(self) -> list[dict[str, Any]]:
        return [
            {"stage": s, "docs_in": self.docs_in[s], "docs_out": self.docs_out[s],
             "bytes_in": self.bytes_in[s], "bytes_out": self.bytes_out[s]}
            for s in STAGES if self.docs_in[s]
        ]


def _ledger_row(
    doc: Document, stage: str | None, reason: str | None,
    duplicate_of: str | None = None,
) -> str:
    row = {"id": doc.id, "source": doc.source, "labels": doc.meta.get("labels", []),
           "stage": stage, "reason": reason}
    if duplicate_of is not None:
        row["duplicate_of"] = duplicate_of
    return json.dumps(row) + "\n"


# --- the runner -----------------------------------------------------------------


def curate(
    config: CurationConfig, documents: Iterable[Document] | None = None
) -> CurationReport:
    """Run the pipeline; write ``curated.jsonl``, ``ledger.jsonl``, ``report.json``.

    ``documents`` overrides the configured sources (handy in tests and notebooks).
    """
    from llm_from_scratch.data.toxicity import document_toxicity, toxicity_classifier

    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    funnel = _Funnel(config.examples_per_reason)
    spill_path, ledger_path = out / "pass1.jsonl", out / "ledger.jsonl"
    seen_ids: dict[str, str] = {}  # id -> source it came from
    exact_seen: dict[str, str] = {}  # text hash -> id of the first document
    signatures: list[np.ndarray] = []
    spilled_ids: list[str] = []
    sizes_in, pii_total = 0, Counter()

    def checked(docs: Iterable[Document]) -> Iterator[Document]:
        for doc in docs:
            if doc.id in seen_ids:
                raise ValueError(
                    f"duplicate document id {doc.id!r} in {doc.source} (first in "
                    f"{seen_ids[doc.id]}): ids must be unique"
                )
            seen_ids[doc.id] = doc.source
            yield doc

    total = None
    if documents is None:
        # Chained lazily: files and streamed datasets are read as the first pass needs
        # them, so memory stays bounded by the pass's own state, not the input size.
        check_inputs(config)  # fail before any work, not midway through
        total = count_inputs(config)
        hf_docs = config.hf.documents() if config.hf else ()
        documents = itertools.chain(
            default_documents(config), input_documents(config), hf_docs
        )
    outcomes = _first_pass_all(checked(documents), config)
    if config.progress:
        outcomes = progress(outcomes, "curate pass 1", "doc", total=total)
    with open(spill_path, "w") as spill, open(ledger_path, "w") as ledger:
        for o in outcomes:
            before = _nbytes(o.doc.text) if o.stage == "validity" else None
            size = before if before is not None else (o.sizes[0][1] if o.sizes else 0)
            sizes_in += size
            for stage, after in o.sizes:
                funnel.passed(stage, size, after)
                size = after
            if o.stage:
                funnel.rejected(o.stage, o.reason or "", o.doc, size)
                ledger.write(_ledger_row(o.doc, o.stage, o.reason))
                continue
            pii_total.update(o.doc.meta.get("pii_masked", {}))
            if config.exact_dedup:
                if o.exact_key in exact_seen:
                    funnel.rejected("exact_dedup", "exact duplicate", o.doc, size)
                    ledger.write(_ledger_row(o.doc, "exact_dedup", "exact duplicate",
                                             exact_seen[o.exact_key]))
                    continue
                exact_seen[o.exact_key] = o.doc.id
                funnel.passed("exact_dedup", size, size)
            if o.signature is not None:
                signatures.append(o.signature)
            spilled_ids.append(o.doc.id)
            record = {"id": o.doc.id, "text": o.doc.text, "source": o.doc.source,
                      "meta": o.doc.meta}
            spill.write(json.dumps(record) + "\n")

    reps: list[int] = []
    if config.near_dedup and signatures:
        nd = config.near_dedup
        reps = near_duplicate_clusters(np.stack(signatures), nd.bands, nd.rows,
                                       nd.threshold)
    repeated = None
    if config.line_dedup_min_chars and config.line_dedup_keep == "none":
        with open(spill_path) as spill:  # pass 2a: count lines of the survivors
            texts = (json.loads(line)["text"] for i, line in enumerate(spill)
                     if not reps or reps[i] == i)
            repeated = repeated_lines(texts, config.line_dedup_min_chars)
    clf = toxicity_classifier() if config.toxicity_max_fraction is not None else None
    curated_path = out / "curated.jsonl"
    docs_out = bytes_out = 0
    with open(spill_path) as spill, open(curated_path, "w") as cur, \
            open(ledger_path, "a") as ledger:
        lines: Iterable[str] = spill
        if config.progress:
            lines = progress(spill, "curate pass 2", "doc", total=len(spilled_ids))
        survivors = _near_dedup_filter(lines, reps, spilled_ids, funnel, ledger)
        lines = _line_dedup(survivors, config, funnel, ledger, repeated)
        for rec, text, removed in lines:
            doc = Document(rec["id"], text, rec["source"],
                           {**rec["meta"], "lines_deduplicated": removed})
            size = _nbytes(text)
            if clf is not None:
                score = document_toxicity(clf, text)
                if score > config.toxicity_max_fraction:
                    funnel.rejected("toxicity", "toxic", doc, size)
                    ledger.write(_ledger_row(doc, "toxicity", "toxic"))
                    continue
                funnel.passed("toxicity", size, size)
            cur.write(json.dumps({"id": doc.id, "text": doc.text, "source": doc.source,
                                  "meta": doc.meta}) + "\n")
            ledger.write(_ledger_row(doc, None, None))
            docs_out += 1
            bytes_out += size
    spill_path.unlink()
    report = CurationReport(
        stages=funnel.stages(), reasons=dict(sorted(funnel.reasons.items())),
        examples=dict(funnel.examples), docs_in=len(seen_ids), docs_out=docs_out,
        bytes_in=sizes_in, bytes_out=bytes_out, curated=str(curated_path),
        ledger=str(ledger_path), pii_masked=dict(pii_total),
    )
    (out / "report.json").write_text(report.to_json() + "\n")
    return report


def _near_dedup_filter(
    spill: Iterable[str], reps: list[int], ids: list[str], funnel: _Funnel, ledger: Any
) -> Iterator[dict[str, Any]]:
    for i, line in enumerate(spill):
        rec = json.loads(line)
        size = _nbytes(rec["text"])
        if reps and reps[i] != i:
            doc = Document(rec["id"], rec["text"], rec["source"], rec["meta"])
            funnel.rejected("near_dedup", "near duplicate", doc, size)
            ledger.write(_ledger_row(doc, "near_dedup", "near duplicate", ids[reps[i]]))
            continue
        if reps:
            funnel.passed("near_dedup", size, size)
        yield rec


def _line_dedup(
    records: Iterable[dict[str, Any]], config: CurationConfig, funnel: _Funnel,
    ledger: Any, repeated: set[int] | None = None,
) -> Iterator[tuple[dict[str, Any], str, int]]:
    """Remove repeated lines; a page left with too few words is rejected.

    ``repeated`` is the first pass of ``line_dedup_keep="none"``.
    """
    if not config.line_dedup_min_chars:
        for rec in records:
            yield rec, rec["text"], 0
        return
    min_words = config.quality.min_words if config.quality else 1
    recs = iter(records)
    buffered: list[dict[str, Any]] = []

    def texts() -> Iterator[str]:
        for rec in recs:
            buffered.append(rec)
            yield rec["text"]

    deduped = dedup_lines(texts(), config.line_dedup_min_chars,
                          config.line_dedup_keep, repeated)
    for text, removed in deduped:
        rec = buffered.pop(0)
        before = _nbytes(rec["text"])
        if len(text.split()) < min_words:
            doc = Document(rec["id"], text, rec["source"], rec["meta"])
            funnel.rejected("line_dedup", "too little left after line dedup", doc,
                            before)
            ledger.write(_ledger_row(doc, "line_dedup",
                                     "too little left after line dedup"))
            continue
        funnel.passed("line_dedup", before, _nbytes(text))
        yield rec, text, removed

"""The curation runner: every document through every stage, every fate recorded.

Two passes keep memory bounded by the signatures, not the text:

1. *Per-document stages*, in parallel on an executor (order preserved):
   validity → language → boilerplate lines → quality rules → PII masking,
   then exact dedup (a set of hashes) in the main process. Survivors are
   spilled to a JSONL file with their MinHash signature kept in memory
   (``num_perm`` × 4 bytes each).
2. *Corpus-level stages*: MinHash/LSH near-dedup over all signatures, then a
   streaming pass over the spill file: line dedup → toxicity → output (with
   ``line_dedup_keep="none"``, one more pass first counts the lines).

Nothing is dropped silently: each input ends as ``kept`` or with the stage and
reason that rejected it, in ``ledger.jsonl``; ``report.json`` has the funnel
(``data/report.py``). The executor (``data/executors.py``: local processes or a
Dask cluster) runs the per-document stages, the near-dedup shuffle and the
toxicity scores; it changes where the work runs, never the output's bytes.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

# the settings and the inputs have modules of their own; their names stay
# importable from here, where ``curate`` uses them
from llm_from_scratch.data.curation_config import STAGES, CurationConfig  # noqa: F401
from llm_from_scratch.data.dedup import dedup_lines, repeated_lines
from llm_from_scratch.data.documents import Document
from llm_from_scratch.data.executors import LocalExecutor, open_executor
from llm_from_scratch.data.inputs import (  # noqa: F401
    check_inputs,
    count_inputs,
    default_documents,
    input_documents,
)
from llm_from_scratch.data.progress import progress  # noqa: F401
from llm_from_scratch.data.report import CurationReport, Funnel, ledger_row
from llm_from_scratch.data.stages import Outcome, first_pass, utf8_bytes


# --- the runner -----------------------------------------------------------------


def _first_pass_all(
    docs: Iterable[Document], config: CurationConfig, executor: Any = None
) -> Iterator[Outcome]:
    """``first_pass`` of every document, in order, on ``executor`` (default: the
    local one ``config.workers`` asks for)."""
    if executor is None:
        executor = LocalExecutor(config.workers)
    yield from executor.map(first_pass, docs, config)


def _toxicity(text: str, clf: Any) -> float:
    from llm_from_scratch.data.toxicity import document_toxicity

    return document_toxicity(clf, text)


def curate(
    config: CurationConfig, documents: Iterable[Document] | None = None,
    executor: Any = None,
) -> CurationReport:
    """Run the pipeline; write ``curated.jsonl``, ``ledger.jsonl``, ``report.json``.

    ``documents`` overrides the configured sources (handy in tests and notebooks).
    The work runs on ``executor`` if given (one already started, e.g. a
    ``DaskExecutor`` reused across runs), else on the one ``config.executor``
    names, opened and closed here; the outputs are the same bytes on any.
    """
    if documents is None:
        check_inputs(config)  # fail before any work (or a cluster), not midway
    if executor is not None:
        return _curate(config, documents, executor)
    with open_executor(config) as executor:
        return _curate(config, documents, executor)


def _curate(
    config: CurationConfig, documents: Iterable[Document] | None, executor: Any
) -> CurationReport:
    from llm_from_scratch.data.toxicity import toxicity_classifier

    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    funnel = Funnel(config.examples_per_reason)
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
        total = count_inputs(config)
        hf_docs = config.hf.documents() if config.hf else ()
        documents = itertools.chain(
            default_documents(config), input_documents(config), hf_docs
        )
    outcomes = _first_pass_all(checked(documents), config, executor)
    if config.progress:
        outcomes = progress(outcomes, "curate pass 1", "doc", total=total)
    with open(spill_path, "w") as spill, open(ledger_path, "w") as ledger:
        for o in outcomes:
            before = utf8_bytes(o.doc.text) if o.stage == "validity" else None
            size = before if before is not None else (o.sizes[0][1] if o.sizes else 0)
            sizes_in += size
            for stage, after in o.sizes:
                funnel.passed(stage, size, after)
                size = after
            if o.stage:
                funnel.rejected(o.stage, o.reason or "", o.doc, size)
                ledger.write(ledger_row(o.doc, o.stage, o.reason))
                continue
            pii_total.update(o.doc.meta.get("pii_masked", {}))
            if config.exact_dedup:
                if o.exact_key in exact_seen:
                    funnel.rejected("exact_dedup", "exact duplicate", o.doc, size)
                    ledger.write(ledger_row(o.doc, "exact_dedup", "exact duplicate",
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
        reps = executor.near_duplicate_clusters(np.stack(signatures), nd.bands,
                                                nd.rows, nd.threshold)
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
        survivors = _near_dedup_filter(lines, reps, spilled_ids, funnel)
        verdicts = _line_dedup(survivors, config, funnel, repeated)
        # Every document's fate is written in input order, whichever executor
        # scores toxicity and however far ahead it reads.
        for doc, rejected, score in _scored(verdicts, clf, executor):
            size = utf8_bytes(doc.text)
            if rejected is not None:
                ledger.write(rejected)
                continue
            if score is not None:
                if score > config.toxicity_max_fraction:
                    funnel.rejected("toxicity", "toxic", doc, size)
                    ledger.write(ledger_row(doc, "toxicity", "toxic"))
                    continue
                funnel.passed("toxicity", size, size)
            cur.write(json.dumps({"id": doc.id, "text": doc.text, "source": doc.source,
                                  "meta": doc.meta}) + "\n")
            ledger.write(ledger_row(doc, None, None))
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


Verdict = tuple[Document, str | None]  # the document, or its ledger row if rejected


def _scored(
    verdicts: Iterable[Verdict], clf: Any, executor: Any
) -> Iterator[tuple[Document, str | None, float | None]]:
    """Each verdict with its toxicity score (None when rejected or without a
    classifier). Only the survivors are sent to the executor; a queue keeps the
    rejected ones in their place, so the output order is the input order."""
    if clf is None:
        for doc, rejected in verdicts:
            yield doc, rejected, None
        return
    queue: deque[Verdict] = deque()

    def to_score() -> Iterator[str]:
        for doc, rejected in verdicts:
            queue.append((doc, rejected))
            if rejected is None:
                yield doc.text

    for score in executor.map(_toxicity, to_score(), clf):
        while queue[0][1] is not None:
            yield (*queue.popleft(), None)
        yield queue.popleft()[0], None, score
    while queue:
        yield (*queue.popleft(), None)


def _near_dedup_filter(
    spill: Iterable[str], reps: list[int], ids: list[str], funnel: Funnel
) -> Iterator[tuple[dict[str, Any], str | None]]:
    for i, line in enumerate(spill):
        rec = json.loads(line)
        size = utf8_bytes(rec["text"])
        if reps and reps[i] != i:
            doc = Document(rec["id"], rec["text"], rec["source"], rec["meta"])
            funnel.rejected("near_dedup", "near duplicate", doc, size)
            yield rec, ledger_row(doc, "near_dedup", "near duplicate", ids[reps[i]])
            continue
        if reps:
            funnel.passed("near_dedup", size, size)
        yield rec, None


def _line_dedup(
    records: Iterable[tuple[dict[str, Any], str | None]], config: CurationConfig,
    funnel: Funnel, repeated: set[int] | None = None,
) -> Iterator[Verdict]:
    """Remove repeated lines; a page left with too few words is rejected.

    Records already rejected pass through untouched (their lines are not
    counted). ``repeated`` is the first pass of ``line_dedup_keep="none"``.
    """
    def document(rec: dict[str, Any], text: str, removed: int) -> Document:
        return Document(rec["id"], text, rec["source"],
                        {**rec["meta"], "lines_deduplicated": removed})

    if not config.line_dedup_min_chars:
        for rec, rejected in records:
            yield document(rec, rec["text"], 0), rejected
        return
    q = config.quality
    min_words = q.min_words if q and q.min_words is not None else 1
    buffered: deque[tuple[dict[str, Any], str | None]] = deque()
    recs = iter(records)

    def texts() -> Iterator[str]:
        for rec, rejected in recs:
            buffered.append((rec, rejected))
            if rejected is None:
                yield rec["text"]

    deduped = dedup_lines(texts(), config.line_dedup_min_chars,
                          config.line_dedup_keep, repeated)
    for text, removed in deduped:
        while buffered[0][1] is not None:
            rec, rejected = buffered.popleft()
            yield document(rec, rec["text"], 0), rejected
        rec, _ = buffered.popleft()
        doc = document(rec, text, removed)
        before = utf8_bytes(rec["text"])
        if len(text.split()) < min_words:
            reason = "too little left after line dedup"
            funnel.rejected("line_dedup", reason, doc, before)
            yield doc, ledger_row(doc, "line_dedup", reason)
            continue
        funnel.passed("line_dedup", before, utf8_bytes(text))
        yield doc, None
    while buffered:
        rec, rejected = buffered.popleft()
        yield document(rec, rec["text"], 0), rejected

"""What curation tells: the funnel of every stage, the reasons, examples, the ledger.

Every input document ends as one ledger row, ``kept`` (stage ``None``) or with
the stage and reason that rejected it; ``report.json`` holds the funnel.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from llm_from_scratch.data.curation_config import STAGES
from llm_from_scratch.data.documents import Document


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


class Funnel:
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


def ledger_row(
    doc: Document, stage: str | None, reason: str | None,
    duplicate_of: str | None = None,
) -> str:
    row = {"id": doc.id, "source": doc.source, "labels": doc.meta.get("labels", []),
           "stage": stage, "reason": reason}
    if duplicate_of is not None:
        row["duplicate_of"] = duplicate_of
    return json.dumps(row) + "\n"

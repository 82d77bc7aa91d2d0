"""Scoring the stages that edit text (boilerplate lines, PII) against ground truth.

Rejecting stages are scored per document from the ledger (``stage_scores``).
Boilerplate-line removal and PII masking keep the document and change parts
of it, so they are scored per *item*: a removed line, a masked address. The
noise injector wrote down what it planted (the ``boilerplate`` label and its
known lines; ``pii_injected`` and ``pii_line``), and each stage function is
run on every readable raw document, as if each reached it. Anything matched
outside the planted items counts against precision, although some of it is
real (a README's genuine boilerplate, an author's address): precision here is
a lower bound, recall is exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from llm_from_scratch.data.documents import Document
from llm_from_scratch.data.filters import BOILERPLATE_LINE
from llm_from_scratch.data.noise import FOOTER, NAV
from llm_from_scratch.data.pii import mask_pii

PLANTED_LINES = (*NAV, *FOOTER)


def _readable(docs: Iterable[Document]) -> Iterable[Document]:
    for d in docs:
        if "error" not in d.meta and "malformed" not in d.meta.get("labels", []):
            yield d


def _row(name: str, planted: int, matched: int, tp: int,
         examples: list[str]) -> dict[str, Any]:
    return {"stage": name, "planted": planted, "matched": matched,
            "precision": tp / matched if matched else 1.0,
            "recall": tp / planted if planted else 1.0,
            "unplanted_examples": examples}


def boilerplate_line_scores(
    docs: Iterable[Document], examples: int = 3
) -> dict[str, Any]:
    """Line-level precision/recall of C4-style boilerplate-line removal, with
    up to ``examples`` distinct lines it removed that were not planted.

    A line is planted when its document carries the ``boilerplate`` label and
    the line holds one of the injector's navigation or footer lines (a
    mojibake prefix may precede it, hence "holds", not "equals").
    """
    planted = matched = tp = 0
    seen: list[str] = []
    for d in _readable(docs):
        has_label = "boilerplate" in d.meta.get("labels", [])
        for line in d.text.split("\n"):
            truth = has_label and any(p in line for p in PLANTED_LINES)
            hit = bool(BOILERPLATE_LINE.search(line))
            planted += truth
            matched += hit
            tp += truth and hit
            example = line.strip()[:70]
            if hit and not truth and len(seen) < examples and example not in seen:
                seen.append(example)
    return _row("boilerplate lines", planted, matched, tp, seen)


def pii_scores(docs: Iterable[Document]) -> list[dict[str, Any]]:
    """Item-level precision/recall of PII masking, one row per kind.

    On the planted line, up to ``pii_injected[kind]`` masks of a kind are true
    positives; every other mask is counted as unplanted. No examples are kept:
    unplanted matches may be real people's addresses.
    """
    kinds = ("email", "phone", "ip")
    planted = dict.fromkeys(kinds, 0)
    matched = dict.fromkeys(kinds, 0)
    tp = dict.fromkeys(kinds, 0)
    for d in _readable(docs):
        injected = d.meta.get("pii_injected", {})
        where = d.meta.get("pii_line")
        _, counts = mask_pii(d.text)
        _, on_line = mask_pii(d.text.split("\n")[where]) if injected else (0, {})
        for kind in kinds:
            matched[kind] += counts[kind]
            planted[kind] += injected.get(kind, 0)
            tp[kind] += min(on_line.get(kind, 0), injected.get(kind, 0))
    return [_row(f"pii: {k}", planted[k], matched[k], tp[k], []) for k in kinds]

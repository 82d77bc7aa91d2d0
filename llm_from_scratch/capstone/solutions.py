"""Solutions to the Capstone chapter's exercises."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from html.parser import HTMLParser

__all__ = ["downstream", "external_references", "split_budget"]

def split_budget(total: float, spent: float, reserve_seconds: float,
                 reserve_fraction: float) -> float:
    """Exercise 1 (★): seconds left for pretraining, eq. (eq-capstone-budget):
    ``total - spent - max(reserve_seconds, reserve_fraction * total)``.
    A non-positive result raises ValueError (there is nothing to train with)."""
    reserve = max(reserve_seconds, reserve_fraction * total)
    left = total - spent - reserve
    if left <= 0:
        raise ValueError(f"nothing left for pretraining: {total} s total, {spent} s "
                         f"spent, reserve {reserve} s")
    return left


def downstream(inputs: Mapping[str, Sequence[str]],
               changed: Iterable[str]) -> list[str]:
    """Exercise 2 (★★): the stages to redo when ``changed`` stages are redone:
    those stages and every stage that reads, directly or not, one of them; in
    an order where each stage comes after its inputs (a topological order,
    ties broken by the order of ``inputs``). An unknown stage, or an input
    that is not a stage, raises ValueError; so does a cycle."""
    names = list(inputs)
    for name, needs in inputs.items():
        for need in needs:
            if need not in inputs:
                raise ValueError(f"stage {name!r} reads {need!r}, which is not a stage")
    dirty = set(changed)
    unknown = sorted(dirty - set(inputs))
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; stages are {names}")
    order: list[str] = []
    placed: set[str] = set()
    while len(placed) < len(names):
        ready = [n for n in names if n not in placed and set(inputs[n]) <= placed]
        if not ready:
            raise ValueError(f"the stages {sorted(set(names) - placed)} form a cycle")
        for name in ready:
            placed.add(name)
            if name in dirty or dirty & set(inputs[name]):
                dirty.add(name)
                order.append(name)
    return order


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key in ("src", "href") and value is not None:
                self.found.append(value.strip())


def external_references(page: str) -> list[str]:
    """Exercise 3 (★★): every ``src``/``href`` in an HTML page that a browser
    would fetch from elsewhere: anything but a ``data:`` URI or an in-page
    ``#anchor``, in the order they appear. A self-contained report has none."""
    parser = _Links()
    parser.feed(page)
    return [v for v in parser.found if not (v.startswith("#") or
                                            v.lower().startswith("data:"))]

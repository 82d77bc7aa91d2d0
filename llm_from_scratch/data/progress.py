"""Progress for long passes: a bar on a terminal, a plain line now and then in a log."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import Any


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

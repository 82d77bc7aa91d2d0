"""Seconds each notebook took under nbval, from pytest's JUnit XML report.

``make notebooks`` writes the report and prints this table, so every test run
measures the per-chapter CPU times that the syllabus quotes (cold caches on a
fresh clone, warm ones after).

    python tools/notebook_times.py .cache/nbval-times.xml
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path


def notebook_seconds(report: Path) -> dict[str, float]:
    """Total seconds of the cells of each notebook, in the order they ran."""
    totals: dict[str, float] = defaultdict(float)
    for case in ET.parse(report).iter("testcase"):
        name = case.get("classname", "")  # "chapters.01_big_picture.ipynb"
        name = name.removesuffix(".ipynb").rsplit(".", 1)[-1]
        totals[name] += float(case.get("time", 0.0))
    return dict(totals)


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: notebook_times.py REPORT.xml")
    report = Path(sys.argv[1])
    if not report.is_file():
        raise SystemExit(f"no JUnit report at {report}")
    times = notebook_seconds(report)
    width = max(map(len, times), default=8)
    print("nbval seconds per notebook:")
    for name, seconds in times.items():
        print(f"  {name:<{width}} {seconds:7.0f} s")
    print(f"  {'all':<{width}} {sum(times.values()):7.0f} s")


if __name__ == "__main__":
    main()

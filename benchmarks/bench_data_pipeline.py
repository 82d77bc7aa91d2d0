"""Whole-pipeline throughput on the book's raw corpus: 1 and 2 local worker
processes against a Dask cluster of 2 workers, at several corpus sizes.

Runs ``curate`` on Shakespeare plus the noisy local crawl (~9 MB) and on evenly
spaced samples of it (every 4th and every 2nd document), for each executor, and
prints seconds and MB/s of raw input, the speed-ups against one local worker,
and whether every run wrote the same bytes as one local worker (it must). The
toxicity model is trained (or loaded) and the Dask cluster started before timing
starts (a cold local cluster takes a few seconds more).
Run: .venv/bin/python benchmarks/bench_data_pipeline.py [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from llm_from_scratch.data.pipeline import CurationConfig, curate, default_documents
from llm_from_scratch.data.toxicity import toxicity_classifier

RUNS = {"local, 1 worker": ("local", 1), "local, 2 workers": ("local", 2),
        "dask, 2 workers": ("dask", 2)}


def _digest(out: Path) -> str:
    h = hashlib.sha256()
    for name in ("curated.jsonl", "ledger.jsonl"):
        h.update((out / name).read_bytes())
    return h.hexdigest()


def measure(fractions: tuple[int, ...] = (4, 2, 1)) -> dict[str, Any]:
    """Seconds per (executor, size); ``fractions`` n take every n-th document."""
    from llm_from_scratch.data.dask_executor import DaskExecutor
    from llm_from_scratch.data.executors import LocalExecutor

    toxicity_classifier()
    docs = default_documents(CurationConfig())
    results: dict[str, Any] = {"runs": [], "identical": True}
    executors = {name: (DaskExecutor(None, w) if kind == "dask" else LocalExecutor(w))
                 for name, (kind, w) in RUNS.items()}
    try:
        for n in fractions:
            sample = docs[::n]
            mb = sum(len(d.text.encode("utf-8", "surrogatepass")) for d in sample) / 1e6
            digests = set()
            for name, ex in executors.items():
                with tempfile.TemporaryDirectory() as out:
                    cfg = replace(CurationConfig(), out_dir=out, progress=False,
                                  workers=RUNS[name][1])
                    start = time.perf_counter()
                    report = curate(cfg, sample, ex)
                    seconds = time.perf_counter() - start
                    digests.add(_digest(Path(out)))
                results["runs"].append({"executor": name, "docs": len(sample), "mb": mb,
                                        "seconds": seconds, "kept": report.docs_out})
            results["identical"] &= len(digests) == 1
    finally:
        for ex in executors.values():
            ex.close()
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    args = p.parse_args()
    results = measure()
    if args.json:
        print(json.dumps(results))
        return
    base = {r["docs"]: r["seconds"] for r in results["runs"]
            if r["executor"] == "local, 1 worker"}
    for r in results["runs"]:
        print(f"{r['executor']:<17} {r['docs']:>5} docs {r['mb']:5.1f} MB "
              f"{r['seconds']:6.1f} s {r['mb'] / r['seconds']:5.2f} MB/s "
              f"speed-up {base[r['docs']] / r['seconds']:.2f}x")
    print("every executor wrote the same bytes:", results["identical"])


if __name__ == "__main__":
    main()

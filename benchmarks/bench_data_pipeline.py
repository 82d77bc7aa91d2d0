"""Whole-pipeline throughput on the book's raw corpus: 1 worker vs 2 workers.

Runs ``curate`` on Shakespeare plus the noisy local crawl (~9 MB) and prints
MB/s of raw input for each worker count and the ratio between them; the
toxicity model is trained (or loaded) before timing starts.
Run: .venv/bin/python benchmarks/bench_data_pipeline.py
"""

from __future__ import annotations

import tempfile
import time

from llm_from_scratch.data.pipeline import CurationConfig, curate, default_documents
from llm_from_scratch.data.toxicity import toxicity_classifier


def main() -> None:
    toxicity_classifier()
    docs = default_documents(CurationConfig())
    mb = sum(len(d.text.encode("utf-8", "surrogatepass")) for d in docs) / 1e6
    times = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as out:
            cfg = CurationConfig(out_dir=out, workers=workers, progress=False)
            start = time.perf_counter()
            report = curate(cfg, docs)
            times[workers] = time.perf_counter() - start
        print(f"workers={workers}: {len(docs)} docs, {mb:.1f} MB in "
              f"{times[workers]:.1f} s = {mb / times[workers]:.2f} MB/s "
              f"({report.docs_out} docs kept)")
    print(f"speed-up with 2 workers: {times[1] / times[2]:.2f}x")


if __name__ == "__main__":
    main()

"""``llm-from-scratch curate``: run the curation pipeline from a config file."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path


def cmd_curate(args: argparse.Namespace) -> int:
    from llm_from_scratch.data.pipeline import CurationConfig, curate

    config = CurationConfig.from_file(args.config) if args.config else CurationConfig()
    overrides = {}
    if args.out:
        overrides["out_dir"] = args.out
    if args.workers:
        overrides["workers"] = args.workers
    if args.no_progress:
        overrides["progress"] = False
    if overrides:
        config = replace(config, **overrides)
    report = curate(config)
    if args.shards:
        from llm_from_scratch.data.corpus import split_documents
        from llm_from_scratch.data.shards import write_shards
        from llm_from_scratch.tokenizer import book_tokenizer

        tok = book_tokenizer()
        train, val = split_documents(report.curated_documents(), args.val_fraction)
        for name, docs in (("train", train), ("val", val)):
            out = Path(config.out_dir) / name
            path = write_shards((d.text for d in docs), tok, out)
            print(f"{name} shards: {path}")
    width = max(len(s["stage"]) for s in report.stages)
    for s in report.stages:
        print(f"{s['stage']:<{width}}  docs {s['docs_in']:>6} -> {s['docs_out']:<6} "
              f"bytes {s['bytes_in']:>10,} -> {s['bytes_out']:,}")
    print(json.dumps({"docs_in": report.docs_in, "docs_out": report.docs_out,
                      "report": str(Path(config.out_dir) / "report.json")}))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("curate", help="filter, deduplicate and shard a corpus")
    p.add_argument("--config", help="YAML or JSON settings (see CurationConfig)")
    p.add_argument("--out", help="output folder (overrides out_dir)")
    p.add_argument("--workers", type=int, help="worker processes (default 2)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--shards", action="store_true",
                   help="also tokenize with the book's tokenizer into train/val shards")
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.set_defaults(func=cmd_curate)

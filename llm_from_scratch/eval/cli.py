"""``llm-from-scratch eval``: score a checkpoint on a task, with error bars.

``--task`` is a built-in benchmark (``cloze``, ``parity``, ``quotes``) or a
JSON-lines file in the format of ``llm_from_scratch.eval.tasks``. The table
printed gives each metric with its standard error (a 95% bootstrap half-width
for bits per byte); ``--output`` writes the same as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _task(spec: str):  # -> Task
    from llm_from_scratch.eval.benchmarks import BENCHMARKS, benchmark
    from llm_from_scratch.eval.tasks import load_jsonl

    if spec.endswith(".jsonl") or Path(spec).is_file():
        return load_jsonl(spec)
    if spec not in BENCHMARKS:
        raise ValueError(f"unknown task {spec!r}: choose one of {sorted(BENCHMARKS)} "
                         "or give a .jsonl file")
    return benchmark(spec)


def cmd_eval(args: argparse.Namespace) -> int:
    from llm_from_scratch.eval.evaluate import evaluate_task, load_for_eval

    try:
        task = _task(args.task)
        model, tok = load_for_eval(args.checkpoint, args.tokenizer)
        result = evaluate_task(model, tok, task, args.batch_size, args.limit,
                               progress=not args.no_progress,
                               mutual_info=args.mutual_info)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"task {result.task}: {result.n_items} items"
          + (f", {len(result.skipped)} skipped" if result.skipped else ""))
    print("| metric | value | stderr |")
    print("|---|---|---|")
    for name, (value, se) in result.metrics.items():
        print(f"| {name} | {value:.4f} | {se:.4f} |")
    for item_id, reason in result.skipped:
        print(f"skipped {item_id}: {reason}")
    if args.output:
        out = {**result.to_json(), "checkpoint": str(args.checkpoint)}
        Path(args.output).write_text(json.dumps(out, indent=2) + "\n")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("eval", help="score a checkpoint on a benchmark")
    p.add_argument("--checkpoint", required=True, help="checkpoint or run directory")
    p.add_argument("--task", required=True,
                   help="cloze, parity, quotes, or a task .jsonl file")
    p.add_argument("--tokenizer", help="tokenizer file (default: the one the "
                   "checkpoint's data records)")
    p.add_argument("--limit", type=int, help="score only the first N items")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--output", help="write the results as JSON here")
    p.add_argument("--mutual-info", action="store_true",
                   help="also score multiple choice by mutual information "
                        "(acc_mutual_info)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_eval)

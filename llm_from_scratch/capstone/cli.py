"""``llm-from-scratch speedrun``: raw text to a chat model in one command.

    llm-from-scratch speedrun --out run                  # the book's corpus, 30 min
    llm-from-scratch speedrun --inputs ~/texts --out run --budget-minutes 60
    llm-from-scratch speedrun --out run-gpu --full       # the GPU size

Rerunning the same command resumes: finished stages are skipped, a killed
pretraining continues from its last checkpoint. ``OUT/report.md`` and
``OUT/report.html`` are written at the end (``speedrun-report OUT`` rewrites them).
"""

from __future__ import annotations

import argparse
import json


def cmd_speedrun(args: argparse.Namespace) -> int:
    from llm_from_scratch.capstone.report import write_report
    from llm_from_scratch.capstone.speedrun import SpeedrunConfig, speedrun

    config = SpeedrunConfig(
        inputs=tuple(args.inputs or ()), budget_minutes=args.budget_minutes,
        full=args.full, vocab_size=args.vocab_size, toxicity=not args.no_toxicity,
        eval_limit=args.eval_limit, train_set=tuple(args.set or ()),
    )
    state = speedrun(config, args.out, overwrite=args.overwrite,
                     echo=lambda line: print(line, flush=True))
    md, html = write_report(args.out)
    print(f"finished in {state.seconds / 60:.1f} min (budget "
          f"{config.budget_minutes:g} min); report: {md} and {html}")
    print(json.dumps({"out": args.out, "seconds": state.seconds,
                      "report_md": str(md), "report_html": str(html)}))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from llm_from_scratch.capstone.report import write_report

    md, html = write_report(args.out)
    print(json.dumps({"report_md": str(md), "report_html": str(html)}))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "speedrun", help="curate, tokenize, pretrain, align, evaluate: one command",
        description="Every stage of the book in order, within a time budget, "
                    "resumable; writes OUT/report.md and OUT/report.html.")
    p.add_argument("--inputs", nargs="+", metavar="PATH",
                   help="folders or files of text/HTML/JSONL (default: the book's "
                        "offline corpus)")
    p.add_argument("--out", default="speedrun",
                   help="output folder (default: speedrun)")
    p.add_argument("--budget-minutes", type=float, default=30.0,
                   help="wall-clock target for the whole run (default: 30)")
    p.add_argument("--full", action="store_true",
                   help="the GPU size: a 512-wide, 8-layer model in bfloat16 and the "
                        "full alignment recipe")
    p.add_argument("--vocab-size", type=int, default=2048)
    p.add_argument("--no-toxicity", action="store_true",
                   help="skip the toxicity filter (it trains on the book's corpus)")
    p.add_argument("--eval-limit", type=int, help="score only N items per task")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="a pretraining setting, as in `train --set`")
    p.add_argument("--overwrite", action="store_true",
                   help="start again in an --out that holds other settings")
    p.set_defaults(func=cmd_speedrun)
    r = subparsers.add_parser("speedrun-report", help="rewrite a speedrun's report")
    r.add_argument("out", help="the speedrun's output folder")
    r.set_defaults(func=cmd_report)

"""The ``llm-from-scratch`` command: a thin front door to each stage.

Each stage that has a command line owns a ``cli.py`` with a
``register(subparsers)`` function that adds its subcommand(s) and sets
``func`` on the parser; this file only lists them. Subcommands call one public
function of their stage, so the CLI, the notebooks and the tests share code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

import llm_from_scratch

# Stage modules with a ``register(subparsers)`` function, in pipeline order.
STAGE_CLIS: list[str] = [
    "llm_from_scratch.tokenizer.cli",
    "llm_from_scratch.data.cli",
    "llm_from_scratch.train.cli",
    "llm_from_scratch.parallel.cli",
    "llm_from_scratch.align.cli",
]


def cmd_info(args: argparse.Namespace) -> int:
    """Print the environment report (versions, threads, device)."""
    from llm_from_scratch.utils import environment_report

    report = environment_report()
    width = max(map(len, report))
    for key, value in report.items():
        print(f"{key:<{width}}  {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llm-from-scratch",
        description="Build a small modern LLM end to end: the command line of the book.",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {llm_from_scratch.__version__}"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    info = subparsers.add_parser("info", help="report versions, threads and device")
    info.set_defaults(func=cmd_info)
    for module_name in STAGE_CLIS:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

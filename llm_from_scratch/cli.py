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
    "llm_from_scratch.align.recipe_cli",
    "llm_from_scratch.eval.cli",
    "llm_from_scratch.serve.cli",
    "llm_from_scratch.capstone.cli",
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
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    info = subparsers.add_parser("info", help="report versions, threads and device")
    info.set_defaults(func=cmd_info)
    for module_name in STAGE_CLIS:
        importlib.import_module(module_name).register(subparsers)
    return parser


# Errors that come from the user's input (a config value, a missing or corrupt
# file): printed as one ``error:`` line, exit code 2, no traceback (``--debug``).
USER_ERRORS = (ValueError, OSError, ArithmeticError)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv  # accepted anywhere on the line
    argv = [a for a in argv if a != "--debug"]
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as err:
        if debug:
            raise
        message = str(err).strip().replace("\n", " ") or type(err).__name__
        if message.startswith("error: "):
            message = message[len("error: "):]
        print(f"error: {message}  (--debug shows the traceback)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

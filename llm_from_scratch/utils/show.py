"""Show package source inside a notebook, so the book and the code never drift.

Argument validation is machinery, not the idea: package source marks it with a line
``# region checks`` and a line ``# endregion``. ``show`` prints the marked region as a
single line ``...  # argument checks (see the package source)`` at the same indent.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from typing import Any

REGION_START = re.compile(r"^(\s*)# region checks\s*$")
REGION_END = re.compile(r"^\s*# endregion\s*$")
ELIDED = "...  # argument checks (see the package source)"


def source(obj: Any) -> str:
    """The source code of a function, class or module, dedented."""
    return textwrap.dedent(inspect.getsource(obj))


def hide_checks(code: str) -> str:
    """Replace each ``# region checks`` … ``# endregion`` block by one elision line."""
    out: list[str] = []
    start_line = 0
    indent: str | None = None
    for number, line in enumerate(code.splitlines(), start=1):
        start = REGION_START.match(line)
        if indent is None and start:
            indent, start_line = start.group(1), number
            out.append(indent + ELIDED)
        elif indent is not None:
            if REGION_START.match(line):
                raise ValueError(f"line {number}: nested '# region checks'")
            if REGION_END.match(line):
                indent = None
        elif REGION_END.match(line):
            raise ValueError(f"line {number}: '# endregion' without '# region checks'")
        else:
            out.append(line)
    if indent is not None:
        raise ValueError(f"line {start_line}: '# region checks' is never closed")
    return "\n".join(out) + ("\n" if code.endswith("\n") else "")


def strip_docstrings(code: str) -> str:
    """Remove the docstrings of the module, classes and functions in ``code``."""
    tree = ast.parse(code)
    drop: list[tuple[int, int]] = []
    for node in ast.walk(tree):
        if not isinstance(
            node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
        ):
            continue
        body = node.body
        if (
            body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            drop.append((body[0].lineno, body[0].end_lineno or body[0].lineno))
    lines = code.splitlines()
    keep = [
        line
        for number, line in enumerate(lines, start=1)
        if not any(a <= number <= b for a, b in drop)
    ]
    return "\n".join(keep) + ("\n" if code.endswith("\n") else "")


def show(*objects: Any, docstring: bool = True, checks: bool = False) -> Any:
    """Display the source of package objects as a highlighted code block.

    Notebooks call ``show(train_bpe)`` instead of copying code into a cell: the
    text printed in the book is always the code the package runs. Regions marked
    ``# region checks`` are elided unless ``checks=True``; ``docstring=False`` drops
    docstrings.
    """
    from IPython.display import Markdown

    blocks = []
    for obj in objects:
        code = source(obj)
        if not checks:
            code = hide_checks(code)
        if not docstring:
            code = strip_docstrings(code)
        blocks.append(f"```python\n{code.rstrip()}\n```")
    return Markdown("\n\n".join(blocks))

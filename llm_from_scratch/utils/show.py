"""Show package source inside a notebook, so the book and the code never drift."""

from __future__ import annotations

import inspect
import textwrap
from typing import Any


def source(obj: Any) -> str:
    """The source code of a function, class or module, dedented."""
    return textwrap.dedent(inspect.getsource(obj))


def show(*objects: Any) -> Any:
    """Display the source of package objects as a highlighted code block.

    Notebooks call ``show(train_bpe)`` instead of copying code into a cell: the
    text printed in the book is always the code the package runs.
    """
    from IPython.display import Markdown

    blocks = [f"```python\n{source(obj).rstrip()}\n```" for obj in objects]
    return Markdown("\n\n".join(blocks))

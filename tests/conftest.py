"""``--solutions PATH``: check your own exercise answers against the book's tests.

Every stage keeps its reference answers in ``llm_from_scratch/<stage>/solutions.py``
and the tests import them (``from llm_from_scratch.model.solutions import geglu``).
With ``pytest tests/test_model_solutions.py --solutions=mine.py`` each of those
modules is replaced, for this run only, by one built from ``mine.py``: a public name
of the reference (its ``__all__``, else its top-level public functions and classes)
is the student's object when ``mine.py`` defines it, otherwise a stand-in raising
``NotImplementedError("<name> is not defined in mine.py")`` when called. So exactly
the tests of the missing answers fail and the rest run. Other names in ``mine.py``
are ignored, and without the option nothing changes.

The reference names are read from the source (``ast``), not imported, and the
substitutes are served by a finder on ``sys.meta_path``: package code and the tests'
other imports are untouched, and ``mine.py`` itself may import the reference modules
(it is loaded before the finder is installed).
"""

from __future__ import annotations

import ast
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import traceback
import types
from pathlib import Path
from typing import Any, Callable

import pytest

# Found without importing the package: the conftest stays cheap for every test run.
_spec = importlib.util.find_spec("llm_from_scratch")
assert _spec is not None and _spec.origin is not None
PACKAGE_DIR = Path(_spec.origin).parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--solutions",
        metavar="PATH",
        help="check the exercise answers in PATH instead of the reference solutions "
        "(llm_from_scratch/<stage>/solutions.py)",
    )


def reference_names(path: Path) -> list[str]:
    """The public names of a reference solutions file: ``__all__`` when it sets one,
    else its top-level functions and classes not starting with ``_``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return list(ast.literal_eval(node.value))
    defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    return [
        n.name for n in tree.body if isinstance(n, defs) and not n.name.startswith("_")
    ]


def load_student_file(arg: str) -> types.ModuleType:
    """Import the student's file as a module of its own (``UsageError`` naming it)."""
    path = Path(arg).expanduser().resolve()
    if not path.is_file():
        resolved = "" if str(path) == arg else f" (resolved: {path})"
        raise pytest.UsageError(f"--solutions: {arg} does not exist{resolved}")
    spec = importlib.util.spec_from_file_location("_student_solutions", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        frames = traceback.extract_tb(exc.__traceback__)
        lines = [f.lineno for f in frames if f.filename == str(path)]
        where = f" (line {lines[-1]})" if lines else ""
        raise pytest.UsageError(
            f"--solutions: importing {arg} failed{where}: {type(exc).__name__}: {exc}"
        ) from exc
    return module


def missing(name: str, arg: str) -> Callable[..., Any]:
    def stand_in(*args: Any, **kwargs: Any) -> Any:
        __tracebackhide__ = True  # the failure points at the test's call
        raise NotImplementedError(f"{name} is not defined in {arg}")

    stand_in.__name__ = stand_in.__qualname__ = name
    return stand_in


class SubstituteFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves ``llm_from_scratch.<stage>.solutions`` from prepared contents, so the
    import system still imports the parent package and sets the attribute on it."""

    def __init__(self, contents: dict[str, dict[str, Any]]) -> None:
        self.contents = contents

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname in self.contents:
            return importlib.machinery.ModuleSpec(fullname, self)
        return None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # the default module object

    def exec_module(self, module: types.ModuleType) -> None:
        module.__dict__.update(self.contents[module.__name__])


def forget(names: list[str]) -> None:
    """Drop already imported modules (and their parent attributes), so that the next
    import of each goes through the finders again."""
    for name in names:
        if sys.modules.pop(name, None) is not None:
            parent, _, child = name.rpartition(".")
            if parent in sys.modules and hasattr(sys.modules[parent], child):
                delattr(sys.modules[parent], child)


def pytest_configure(config: pytest.Config) -> None:
    arg = config.getoption("solutions")
    if not arg:
        return
    student = load_student_file(arg)
    contents: dict[str, dict[str, Any]] = {}
    defined, total, stages = 0, 0, []
    for path in sorted(PACKAGE_DIR.glob("*/solutions.py")):
        name = f"llm_from_scratch.{path.parent.name}.solutions"
        items: dict[str, Any] = {"__doc__": f"{arg}, standing in for {name}"}
        names = reference_names(path)
        for attr in names:
            has = hasattr(student, attr)
            items[attr] = getattr(student, attr) if has else missing(attr, arg)
        contents[name] = items
        answered = sum(hasattr(student, attr) for attr in names)
        defined, total = defined + answered, total + len(names)
        if answered:
            stages.append(f"{path.parent.name} {answered}/{len(names)}")
    finder = SubstituteFinder(contents)
    forget(list(contents))  # mine.py may have imported the references
    sys.meta_path.insert(0, finder)
    config.stash[FINDER] = finder
    config.stash[HEADER] = (
        f"checking solutions from {arg}: {defined} names defined, "
        f"{total - defined} missing" + (f" ({', '.join(stages)})" if stages else "")
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    finder = config.stash.get(FINDER, None)
    if finder is not None:
        sys.meta_path.remove(finder)
        forget(list(finder.contents))


def pytest_report_header(config: pytest.Config) -> str | None:
    return config.stash.get(HEADER, None)


FINDER = pytest.StashKey[SubstituteFinder]()
HEADER = pytest.StashKey[str]()

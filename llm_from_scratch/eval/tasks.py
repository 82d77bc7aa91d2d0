"""The benchmark item format (JSON lines) and its loader.

One item per line, a JSON object with a ``type``:

* ``"multiple_choice"``: ``context`` (str), ``choices`` (list of >= 2 str) and
  ``gold`` (int, index into ``choices``); optional ``delimiter`` (str, default
  ``" "``) put between the context and each choice, as lm-evaluation-harness's
  ``target_delimiter``. Each option is scored as the continuation
  ``delimiter + choice``.
* ``"generate"``: ``prompt`` (str) or ``messages`` (a chat: list of objects
  with ``role`` and ``content``, rendered with the chat template and a
  generation prompt), and ``target`` (str); optional ``grader``: ``"exact"``
  (default: equal after stripping space, a final full stop and case),
  ``"gsm8k"`` (numbers compared, see ``parsing.parse_gsm8k``) or ``"choice"``
  (the option letter, see ``parsing.parse_choice``); optional ``stop`` (list of
  str) and ``max_new_tokens`` (int, default 16).
* ``"rolling"``: ``text`` (str), scored as bits per byte.

Every item may carry an ``id`` (str; default ``"<file>:<line>"``). A missing
or mistyped field is an error naming the file, the line and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TYPES = ("multiple_choice", "generate", "rolling")
GRADERS = ("exact", "gsm8k", "choice")


@dataclass(frozen=True)
class Item:
    """One benchmark item (fields as in the module docstring)."""

    id: str
    type: str
    context: str = ""
    choices: tuple[str, ...] = ()
    gold: int = 0
    delimiter: str = " "
    prompt: str = ""
    messages: tuple[tuple[str, str], ...] = ()
    target: str = ""
    grader: str = "exact"
    stop: tuple[str, ...] = ()
    max_new_tokens: int = 16
    text: str = ""
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"item {self.id}: type must be one of {TYPES}, "
                             f"got {self.type!r}")
        if self.type == "multiple_choice":
            if len(self.choices) < 2:
                raise ValueError(f"item {self.id}: choices needs >= 2 options")
            if not 0 <= self.gold < len(self.choices):
                raise ValueError(f"item {self.id}: gold {self.gold} is not an index "
                                 f"into {len(self.choices)} choices")
        if self.type == "generate":
            if not (self.prompt or self.messages):
                raise ValueError(f"item {self.id}: needs prompt or messages")
            if self.grader not in GRADERS:
                raise ValueError(f"item {self.id}: grader must be one of "
                                 f"{GRADERS}, got {self.grader!r}")
            if self.max_new_tokens < 1:
                raise ValueError(f"item {self.id}: max_new_tokens must be >= 1")

    def to_json(self) -> dict[str, Any]:
        """The item as its JSON-lines object (only the fields its type uses)."""
        out: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "multiple_choice":
            out.update(context=self.context, choices=list(self.choices),
                       gold=self.gold, delimiter=self.delimiter)
        elif self.type == "generate":
            if self.messages:
                out["messages"] = [{"role": r, "content": c} for r, c in self.messages]
            else:
                out["prompt"] = self.prompt
            out.update(target=self.target, grader=self.grader, stop=list(self.stop),
                       max_new_tokens=self.max_new_tokens)
        else:
            out["text"] = self.text
        if self.meta:
            out["meta"] = self.meta
        return out


@dataclass(frozen=True)
class Task:
    """A named list of items of one type, with its dataset card (Markdown)."""

    name: str
    items: tuple[Item, ...]
    card: str = ""

    def __post_init__(self) -> None:
        if not self.items:
            raise ValueError(f"task {self.name!r} has no items")
        kinds = {i.type for i in self.items}
        if len(kinds) != 1:
            raise ValueError(f"task {self.name!r} mixes item types {sorted(kinds)}")

    @property
    def type(self) -> str:
        return self.items[0].type


# field -> (types it applies to, Python type, required)
_FIELDS: dict[str, tuple[tuple[str, ...], type | tuple[type, ...], bool]] = {
    "context": (("multiple_choice",), str, True),
    "choices": (("multiple_choice",), list, True),
    "gold": (("multiple_choice",), int, True),
    "delimiter": (("multiple_choice",), str, False),
    "target": (("generate",), str, True),
    "grader": (("generate",), str, False),
    "stop": (("generate",), list, False),
    "max_new_tokens": (("generate",), int, False),
    "text": (("rolling",), str, True),
}


def item_from_json(obj: Any, where: str) -> Item:
    """An ``Item`` from one parsed JSON line; ``where`` ("file:line") names it in
    errors."""
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    kind = obj.get("type")
    if kind not in TYPES:
        raise ValueError(f"{where}: field 'type' must be one of {TYPES}, got {kind!r}")
    args: dict[str, Any] = {"id": str(obj.get("id", where)), "type": kind}
    for name, (types, py, required) in _FIELDS.items():
        if kind not in types:
            continue
        if name not in obj:
            if required:
                raise ValueError(f"{where}: {kind} item lacks field '{name}'")
            continue
        value = obj[name]
        if not isinstance(value, py) or isinstance(value, bool):
            raise ValueError(f"{where}: field '{name}' must be {py.__name__}, got "
                             f"{type(value).__name__}")
        if py is list:
            if not all(isinstance(v, str) for v in value):
                raise ValueError(f"{where}: field '{name}' must be a list of str")
            value = tuple(value)
        args[name] = value
    if kind == "generate":
        if "messages" in obj:
            msgs = obj["messages"]
            if not isinstance(msgs, list) or not all(
                isinstance(m, dict) and isinstance(m.get("role"), str)
                and isinstance(m.get("content"), str) for m in msgs
            ):
                raise ValueError(f"{where}: field 'messages' must be a list of "
                                 "{role: str, content: str} objects")
            args["messages"] = tuple((m["role"], m["content"]) for m in msgs)
        elif isinstance(obj.get("prompt"), str):
            args["prompt"] = obj["prompt"]
        else:
            raise ValueError(f"{where}: generate item lacks field 'prompt' (str) "
                             "or 'messages'")
    if isinstance(obj.get("meta"), dict):
        args["meta"] = obj["meta"]
    try:
        return Item(**args)
    except ValueError as e:
        raise ValueError(f"{where}: {e}") from None


def load_jsonl(path: str | Path, name: str | None = None) -> Task:
    """A task from a JSON-lines file (blank lines allowed); named after the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no task file at {path}")
    items = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{where}: not valid JSON ({e.msg})") from None
            items.append(item_from_json(obj, where))
    if not items:
        raise ValueError(f"{path}: no items")
    return Task(name or path.stem, tuple(items))


def save_jsonl(task: Task, path: str | Path) -> Path:
    """Write a task's items as JSON lines (the card goes next to it as .md)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for item in task.items:
            f.write(json.dumps(item.to_json(), ensure_ascii=False) + "\n")
    if task.card:
        path.with_suffix(".md").write_text(task.card, encoding="utf-8")
    return path

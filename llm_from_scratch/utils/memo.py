"""Cache a notebook experiment's result on disk, keyed by everything that made it.

``cached_json("payoff", key, compute)`` returns ``compute()``'s JSON-serialisable
result, from ``cache_dir("memo", "payoff")`` when a run with the same ``key`` stored
it before. The key is the content that determines the result (hashes of input files,
a config's fields, seeds), so changing any of them recomputes instead of showing a
stale number. Results are plain JSON: nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llm_from_scratch.utils.paths import cache_dir


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's bytes, to put the content of an input into a key."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def cached_json(namespace: str, key: Any, compute: Callable[[], Any]) -> Any:
    """``compute()``, stored as JSON under a digest of ``key`` and reused after."""
    # region checks
    if not namespace or "/" in namespace or namespace.startswith("."):
        raise ValueError(f"namespace must be a plain folder name, got {namespace!r}")
    # endregion
    blob = json.dumps(key, sort_keys=True, default=str)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:24]
    path = cache_dir("memo", namespace) / f"{digest}.json"
    if path.exists():
        stored = json.loads(path.read_text())
        if stored.get("key") == json.loads(blob):
            return stored["value"]
    value = compute()
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps({"key": json.loads(blob), "value": value}))
    tmp.replace(path)  # atomic: a reader never sees half a file
    return json.loads(json.dumps(value))  # the same types as a cache hit

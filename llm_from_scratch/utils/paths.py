"""Where derived artifacts (trained tokenizers, shards, checkpoints) are cached.

Notebooks build on each other's results: the data chapter tokenizes with the
tokenizer chapter's tokenizer, training reads the data chapter's shards. Each
stage therefore caches what it produces under one directory, keyed by the
settings that produced it, so a later chapter can recompute it when missing
and reuse it otherwise.

* ``LLMFS_CACHE`` sets the directory (default: ``~/.cache/llm_from_scratch``;
  the Makefile points it at ``.cache/`` inside the repository).
* ``LLMFS_FULL=1`` switches experiments from the small CPU-minutes default to
  their full size.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(*parts: str) -> Path:
    """Return (and create) a directory under the book's cache root."""
    root = os.environ.get("LLMFS_CACHE") or Path.home() / ".cache" / "llm_from_scratch"
    path = Path(root).expanduser().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def full_size() -> bool:
    """True when the reader asked for full-size experiments (``LLMFS_FULL=1``)."""
    value = os.environ.get("LLMFS_FULL", "0").strip().lower()
    if value in {"", "0", "false", "no", "off"}:
        return False
    if value in {"1", "true", "yes", "on"}:
        return True
    raise ValueError(f"LLMFS_FULL must be 0/1 (or true/false), got {value!r}")

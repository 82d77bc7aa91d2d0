"""Where derived artifacts (trained tokenizers, shards, checkpoints) are cached.

Notebooks build on each other's results: the data chapter tokenizes with the
tokenizer chapter's tokenizer, training reads the data chapter's shards. Each
stage therefore caches what it produces under one directory, keyed by the
settings that produced it, so a later chapter can recompute it when missing
and reuse it otherwise.

* ``LLMFS_CACHE`` sets the directory. Without it: ``.cache/`` of the checkout
  when the package runs from a source checkout (an editable install next to
  the ``Makefile``, so ``make`` and the command line share one cache), else
  ``~/.cache/llm_from_scratch`` (a regular install).
* ``LLMFS_FULL=1`` switches experiments from the small CPU-minutes default to
  their full size.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path


def checkout_root() -> Path | None:
    """The source checkout the package runs from (its folder holds the
    ``Makefile`` and ``pyproject.toml``), or None for a regular install."""
    root = Path(__file__).resolve().parents[2]
    if (root / "Makefile").is_file() and (root / "pyproject.toml").is_file():
        return root
    return None


def cache_root() -> Path:
    """``$LLMFS_CACHE``, else the checkout's ``.cache/``, else the user cache."""
    if os.environ.get("LLMFS_CACHE"):
        return Path(os.environ["LLMFS_CACHE"]).expanduser()
    checkout = checkout_root()
    if checkout is not None:
        return checkout / ".cache"
    return Path.home() / ".cache" / "llm_from_scratch"


def cache_dir(*parts: str) -> Path:
    """Return (and create) a directory under the book's cache root."""
    path = cache_root().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def cache_lock(directory: Path, name: str = ".build.lock"):
    """Hold an exclusive lock on ``directory`` (a file in it) while building a
    cached artefact, so two processes (torchrun ranks, a test and a notebook)
    asking for the same missing entry build it once instead of writing it
    together: the second waits, then finds it built. POSIX only."""
    with open(Path(directory) / name, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def full_size() -> bool:
    """True when the reader asked for full-size experiments (``LLMFS_FULL=1``)."""
    value = os.environ.get("LLMFS_FULL", "0").strip().lower()
    if value in {"", "0", "false", "no", "off"}:
        return False
    if value in {"1", "true", "yes", "on"}:
        return True
    raise ValueError(f"LLMFS_FULL must be 0/1 (or true/false), got {value!r}")

"""Small shared helpers: seeding, device detection, cache paths, plot style, tables."""

from llm_from_scratch.utils.device import detect_device, environment_report
from llm_from_scratch.utils.memo import cached_json, file_digest
from llm_from_scratch.utils.paths import cache_dir, cache_lock, full_size
from llm_from_scratch.utils.plotting import use_book_style
from llm_from_scratch.utils.seed import seed_everything
from llm_from_scratch.utils.show import hide_checks, show, source
from llm_from_scratch.utils.tables import markdown_table, pipe_table

__all__ = [
    "cache_dir",
    "cache_lock",
    "cached_json",
    "detect_device",
    "environment_report",
    "file_digest",
    "full_size",
    "hide_checks",
    "markdown_table",
    "pipe_table",
    "seed_everything",
    "show",
    "source",
    "use_book_style",
]

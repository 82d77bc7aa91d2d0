"""Small shared helpers: seeding, device detection, cache paths, plot style."""

from llm_from_scratch.utils.device import detect_device, environment_report
from llm_from_scratch.utils.paths import cache_dir, full_size
from llm_from_scratch.utils.plotting import use_book_style
from llm_from_scratch.utils.seed import seed_everything
from llm_from_scratch.utils.show import show, source

__all__ = [
    "cache_dir",
    "detect_device",
    "environment_report",
    "full_size",
    "seed_everything",
    "show",
    "source",
    "use_book_style",
]

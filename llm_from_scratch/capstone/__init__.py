"""The capstone: every stage of the book in one resumable command, and its report."""

from llm_from_scratch.capstone.config import STAGES, SpeedrunConfig, SpeedrunState
from llm_from_scratch.capstone.report import (
    collect,
    render_html,
    render_markdown,
    write_report,
)
from llm_from_scratch.capstone.speedrun import Speedrun, speedrun

__all__ = ["STAGES", "Speedrun", "SpeedrunConfig", "SpeedrunState", "collect",
           "render_html", "render_markdown", "speedrun", "write_report"]

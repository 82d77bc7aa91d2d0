"""Settings files: a mapping of names to values in YAML or JSON, read as data only."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def read_settings(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML or JSON file (``yaml.safe_load``: data only)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"{path} is not valid YAML/JSON: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the config must be a mapping of settings")
    return data

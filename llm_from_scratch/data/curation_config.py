"""The curation settings: which sources, which stages, with what thresholds.

``CurationConfig`` is the one object ``curate`` takes; each stage's own settings
are the small configs of its module (``filters``, ``langid``, ``noise``), and
``from_dict``/``from_file`` build it from plain data (YAML or JSON, never code),
naming the key that is wrong.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from llm_from_scratch.data.dedup import LineKeep
from llm_from_scratch.data.filters import QualityConfig, ValidityConfig
from llm_from_scratch.data.hf import HFSource
from llm_from_scratch.data.langid import LanguageConfig
from llm_from_scratch.data.noise import NoiseConfig
from llm_from_scratch.utils.settings import read_settings

EXECUTORS = ("local", "dask")
BOOK_QUALITY = QualityConfig(max_bullet_lines=None)

STAGES = (
    "validity", "language", "boilerplate", "quality", "pii",
    "exact_dedup", "near_dedup", "line_dedup", "toxicity",
)


@dataclass(frozen=True)
class NearDedupConfig:
    """MinHash/LSH settings.

    The S-curve's midpoint, about (1/bands)**(1/rows) = 0.55 here, sits well
    below ``threshold``: LSH is tuned for recall (a pair at J = 0.8 becomes a
    candidate with probability 0.9996) and the signature estimate of J then
    removes the false candidates.
    """

    num_perm: int = 128
    ngram: int = 5
    bands: int = 20
    rows: int = 5
    threshold: float = 0.7
    seed: int = 1

    def __post_init__(self) -> None:
        if self.bands * self.rows > self.num_perm:
            raise ValueError("NearDedupConfig: bands * rows must be <= num_perm")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError("NearDedupConfig.threshold must be in (0, 1]")


@dataclass(frozen=True)
class CrawlConfig:
    """How many pages of each local-crawl source (0 turns a source off)."""

    readmes: int = 120
    licenses: int = 150
    languages: int = 30
    pydocs: int = 80
    debian: int = 0


@dataclass(frozen=True)
class CurationConfig:
    """Everything that shapes the curated corpus (and nothing else)."""

    out_dir: str = "curated"
    shakespeare: bool = True
    crawl: CrawlConfig | None = field(default_factory=CrawlConfig)
    inputs: tuple[str, ...] = ()  # extra .txt folders/files, .jsonl, .html folders
    hf: HFSource | None = None  # a Hugging Face dataset (read_hf_dataset); off
    noise: NoiseConfig | None = field(default_factory=NoiseConfig)
    validity: ValidityConfig = field(default_factory=ValidityConfig)
    language: LanguageConfig | None = field(default_factory=LanguageConfig)
    # The book's corpus keeps the rules it was curated with: Gopher's bullet-line
    # rule would drop one licence and so retrain every model downstream. A
    # config that brings its own data (``from_dict`` with inputs or hf) gets all
    # of Gopher's defaults, the bullet rule included.
    quality: QualityConfig | None = field(default_factory=lambda: BOOK_QUALITY)
    boilerplate: bool = True
    pii: bool = True
    exact_dedup: bool = True
    near_dedup: NearDedupConfig | None = field(default_factory=NearDedupConfig)
    line_dedup_min_chars: int = 40  # 0 turns line dedup off
    # "first": keep the first copy of a repeated line (one pass); "none": remove
    # every copy of a line that occurs more than once (an extra counting pass)
    line_dedup_keep: LineKeep = "first"
    toxicity_max_fraction: float | None = 0.1  # of sentences; None = off
    workers: int = 2
    # where the work runs (the output is the same bytes): "local" processes, or
    # "dask": the cluster at dask_address, or a local one of `workers` workers
    executor: str = "local"
    dask_address: str | None = None
    examples_per_reason: int = 3
    progress: bool = True

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"CurationConfig.workers must be >= 1, got {self.workers}")
        if self.executor not in EXECUTORS:
            raise ValueError(f"CurationConfig.executor must be one of {EXECUTORS}, "
                             f"got {self.executor!r}")
        if self.dask_address is not None and self.executor != "dask":
            raise ValueError("CurationConfig.dask_address needs executor='dask', got "
                             f"executor={self.executor!r}")
        if not isinstance(self.validity, ValidityConfig):
            raise ValueError("CurationConfig.validity cannot be turned off (null)")
        if self.line_dedup_min_chars < 0:
            raise ValueError("CurationConfig.line_dedup_min_chars must be >= 0")
        if self.line_dedup_keep not in ("first", "none"):
            raise ValueError("CurationConfig.line_dedup_keep must be 'first' or "
                             f"'none', got {self.line_dedup_keep!r}")
        t = self.toxicity_max_fraction
        if t is not None and not 0.0 <= t <= 1.0:
            raise ValueError("CurationConfig.toxicity_max_fraction must be in [0, 1]")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CurationConfig:
        """Build from plain data (parsed YAML/JSON); unknown keys are errors.

        With the user's own data (``inputs`` or ``hf``), the book's default
        corpus, the crawl and the noise injector are off unless the data names
        them: a reader's corpus is curated as it is.
        """
        if data.get("inputs") or data.get("hf"):
            data = {**USER_DATA_DEFAULTS, **data}
        return _from_dict(cls, data, "config")

    @classmethod
    def from_file(cls, path: str | Path) -> CurationConfig:
        """Read a YAML or JSON file as data (``yaml.safe_load``: nothing executed)."""
        return cls.from_dict(read_settings(path))

    def key(self) -> dict[str, Any]:
        """The settings that shape the output (no paths, executor or progress)."""
        d = asdict(self)
        for k in ("out_dir", "workers", "executor", "dask_address", "progress",
                  "examples_per_reason"):
            d.pop(k)
        if d["hf"] is None:  # an unused source leaves existing cache keys as they were
            d.pop("hf")
        return d


# What ``from_dict`` turns off (or resets) when the config brings its own data.
USER_DATA_DEFAULTS: dict[str, Any] = {
    "shakespeare": False, "crawl": None, "noise": None, "quality": {},
}

_NESTED = {
    "crawl": CrawlConfig, "noise": NoiseConfig, "validity": ValidityConfig,
    "language": LanguageConfig, "quality": QualityConfig, "near_dedup": NearDedupConfig,
    "hf": HFSource,
}


def _from_dict(cls: type, data: dict[str, Any], where: str) -> Any:
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(
            f"{where}: unknown setting(s) {unknown}; allowed: {sorted(names)}"
        )
    kwargs = {}
    for key, value in data.items():
        if key in _NESTED and cls is CurationConfig and value is not None:
            if not isinstance(value, dict):
                raise ValueError(f"{where}.{key} must be a mapping or null")
            value = _from_dict(_NESTED[key], value, f"{where}.{key}")
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)

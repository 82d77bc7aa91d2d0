"""The local crawl reads only the pinned distributions: adding a package (or
editing the book's own README) must not change the corpus."""

from __future__ import annotations

from pathlib import Path

from llm_from_scratch.data.crawl import license_pages, readme_pages
from llm_from_scratch.data.crawl_sources import CRAWL_DISTRIBUTIONS, dist_name

README = "A package that does useful things. " * 10


def _dist(site: Path, folder: str) -> None:
    info = site / folder
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: x\n\n{README}")
    (info / "LICENSE").write_text("MIT License\nPermission is hereby granted.")


def test_dist_name_normalises_like_pep_503():
    assert dist_name("Jinja2-3.1.6.dist-info") == "jinja2"
    assert dist_name("python_dateutil-2.9.0.post0.dist-info") == "python-dateutil"
    assert dist_name("ruamel.yaml-0.18.dist-info") == "ruamel-yaml"
    assert dist_name("lm_eval-0.4.13.dist-info") == "lm-eval"


def test_only_pinned_distributions_are_crawled(tmp_path):
    assert "numpy" in CRAWL_DISTRIBUTIONS
    assert "llm-from-scratch" not in CRAWL_DISTRIBUTIONS
    _dist(tmp_path, "numpy-2.4.6.dist-info")
    before = [d.id for d in readme_pages(tmp_path, 100)]
    licences = [d.id for d in license_pages(tmp_path, 100)]
    # a newly installed package and the book's own are both left out
    _dist(tmp_path, "brand_new_pkg-1.0.dist-info")
    _dist(tmp_path, "llm_from_scratch-0.1.0.dist-info")
    assert [d.id for d in readme_pages(tmp_path, 100)] == before == [
        "readme/numpy-2.4.6.dist-info"
    ]
    assert [d.id for d in license_pages(tmp_path, 100)] == licences
    assert licences == ["license/numpy-2.4.6.dist-info/LICENSE"]

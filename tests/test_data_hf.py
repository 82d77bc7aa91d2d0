"""The Hugging Face ``datasets`` reader, offline, on small local JSONL and Parquet."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from llm_from_scratch.data import (
    CurationConfig,
    Document,
    HFSource,
    curate,
    read_hf_dataset,
)
from llm_from_scratch.data.filters import QualityConfig

datasets = pytest.importorskip("datasets")

PROSE = [
    "The river ran past the old mill and the children watched the wheel turn. "
    "In the evening the farmers came back from the fields and talked about the "
    "rain, and a letter arrived from the city with news nobody had expected.",
    "She opened the window, and the smell of bread from the bakery filled the "
    "room. Her brother was still asleep, so she made the tea herself and sat by "
    "the stove with a book that her grandmother had given to her years ago.",
    "They walked to the harbour to see the ships that had come in during the "
    "night. The sailors were tired but cheerful, and one of them told a long "
    "story about a storm off the coast and a lighthouse that had gone dark.",
]
RECORDS = [
    {"id": "a", "text": PROSE[0], "score": 3.5, "lang": "en", "tags": ["x", "y"]},
    {"id": "b", "text": PROSE[1], "score": 2.0, "lang": "en"},
    {"id": "c", "text": "", "score": 1.0, "lang": "en"},  # empty
    {"id": "d", "score": 0.5, "lang": "en"},  # no text at all
    {"id": "e", "text": 42, "score": 0.1, "lang": "en"},  # not a string
    {"id": "f", "text": PROSE[2], "score": 4.0, "lang": "en"},
]


@pytest.fixture(autouse=True)
def offline(tmp_path, monkeypatch):
    """No network and no home directory: caches live in tmp_path."""
    home = tmp_path / "hf_home"
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_DATASETS_CACHE", str(home / "datasets"))
    # datasets reads these once, at import; an earlier import must not leak
    cfg = datasets.config
    monkeypatch.setattr(cfg, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(cfg, "HF_DATASETS_OFFLINE", True)
    monkeypatch.setattr(cfg, "HF_CACHE_HOME", str(home))
    monkeypatch.setattr(cfg, "HF_DATASETS_CACHE", home / "datasets")
    monkeypatch.setattr(cfg, "HF_MODULES_CACHE", home / "modules")
    monkeypatch.setattr(cfg, "HF_UPDATE_DOWNLOAD_COUNTS", False)


def write_jsonl(path: Path, records: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


def write_parquet(path: Path, records: list[dict]) -> str:
    import pandas as pd

    rows = [{"id": r["id"], "text": r.get("text") if isinstance(r.get("text"), str)
             else None, "score": r["score"]} for r in records]
    pd.DataFrame(rows).to_parquet(path)
    return str(path)


@pytest.mark.parametrize("streaming", [True, False])
def test_jsonl_records_become_documents(tmp_path, streaming):
    files = write_jsonl(tmp_path / "pages.jsonl", RECORDS)
    docs = list(read_hf_dataset("json", data_files=files, id_field="id",
                                streaming=streaming, source="local"))
    assert [d.id for d in docs] == ["a", "b", "c", "d", "e", "f"]
    assert all(isinstance(d, Document) and d.source == "local" for d in docs)
    assert docs[0].text == RECORDS[0]["text"]
    assert docs[0].meta == {"score": 3.5, "lang": "en"}  # the list is not scalar
    assert "error" not in docs[1].meta and "error" not in docs[5].meta
    assert docs[2].meta["error"] == "field 'text' is empty"
    assert docs[3].meta["error"] == "field 'text' is missing"
    assert docs[4].meta["error"] == "field 'text' is int, not a string"
    assert docs[4].meta["score"] == 0.1 and docs[4].text == ""


@pytest.mark.parametrize("streaming", [True, False])
def test_parquet_ids_limit_and_default_source(tmp_path, streaming):
    files = write_parquet(tmp_path / "pages.parquet", RECORDS)
    docs = list(read_hf_dataset("parquet", data_files=[files], streaming=streaming))
    assert [d.id for d in docs] == [f"parquet:train:{i}" for i in range(6)]
    assert {d.source for d in docs} == {"hf:parquet"}
    assert docs[0].meta == {"id": "a", "score": 3.5}
    assert docs[3].meta["error"] == "field 'text' is missing"
    again = list(read_hf_dataset("parquet", data_files=[files], streaming=streaming,
                                 limit=2))
    assert again == docs[:2]  # stable ids and content, and the limit
    assert list(read_hf_dataset("parquet", data_files=files, limit=0)) == []


def test_other_text_field_and_split(tmp_path):
    records = [{"story": "Once upon a time.", "n": 1}, {"story": "The end.", "n": 2}]
    files = {"validation": write_jsonl(tmp_path / "v.jsonl", records)}
    docs = list(read_hf_dataset("json", data_files=files, split="validation",
                                text_field="story"))
    assert [(d.id, d.text, d.meta) for d in docs] == [
        ("json:validation:0", "Once upon a time.", {"n": 1}),
        ("json:validation:1", "The end.", {"n": 2}),
    ]


@pytest.mark.parametrize("streaming", [True, False])
def test_missing_text_column_names_the_columns(tmp_path, streaming):
    files = write_jsonl(tmp_path / "p.jsonl", [{"body": "x", "id": 1}])
    with pytest.raises(ValueError, match=r"no column 'text'.*\['body', 'id'\]"):
        list(read_hf_dataset("json", data_files=files, streaming=streaming))
    with pytest.raises(ValueError, match="limit"):
        list(read_hf_dataset("json", data_files=files, limit=-1))


def test_package_import_does_not_import_datasets():
    import subprocess

    code = "import llm_from_scratch.data, sys; print('datasets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"


def fast_config(tmp_path, **kw) -> CurationConfig:
    """Only the given documents; short pages (about 45 words) are fine here."""
    return CurationConfig(out_dir=str(tmp_path / "out"), progress=False, workers=1,
                          shakespeare=False, crawl=None, noise=None,
                          quality=QualityConfig(min_words=20),
                          toxicity_max_fraction=None, **kw)


def test_documents_go_through_the_pipeline(tmp_path):
    files = write_jsonl(tmp_path / "pages.jsonl", RECORDS)
    docs = list(read_hf_dataset("json", data_files=files, id_field="id"))
    report = curate(fast_config(tmp_path), docs)
    rows = {r["id"]: r for r in report.ledger_rows()}
    assert report.docs_in == len(RECORDS) == len(rows)
    assert report.docs_out + sum(report.reasons.values()) == report.docs_in
    assert rows["c"]["reason"] == "malformed: field 'text' is empty"
    assert rows["d"]["reason"] == "malformed: field 'text' is missing"
    assert rows["e"]["reason"] == "malformed: field 'text' is int, not a string"
    assert report.reasons["validity: malformed: field 'text' is missing"] == 1
    kept = {d.id for d in report.curated_documents()}
    assert kept == {"a", "b", "f"}


def test_hf_source_in_the_config(tmp_path):
    files = write_jsonl(tmp_path / "pages.jsonl", RECORDS)
    base = fast_config(tmp_path)
    cfg = CurationConfig.from_dict({
        "out_dir": base.out_dir, "progress": False, "workers": 1,
        "shakespeare": False, "crawl": None, "noise": None,
        "toxicity_max_fraction": None, "quality": {"min_words": 20},
        "hf": {"path": "json", "data_files": [files], "id_field": "id", "limit": 4},
    })
    assert cfg.hf == HFSource("json", data_files=(files,), id_field="id", limit=4)
    report = curate(cfg)
    assert report.docs_in == 4
    assert [r["id"] for r in report.ledger_rows() if r["stage"] is None] == ["a", "b"]
    assert "hf" in cfg.key() and "hf" not in base.key()  # old cache keys unchanged
    with pytest.raises(ValueError, match="unknown setting"):
        CurationConfig.from_dict({"hf": {"path": "json", "colum": "x"}})

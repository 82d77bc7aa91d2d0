"""The curation runner: accounting, determinism, configs, CLI, and book_shards."""

from __future__ import annotations

import json
import random
import time
from collections import Counter

import numpy as np
import pytest

from llm_from_scratch.cli import main as cli_main
from llm_from_scratch.data import (
    CurationConfig,
    Document,
    TokenShards,
    book_shards,
    curate,
    split_documents,
    write_shards,
)
from llm_from_scratch.data.dedup import jaccard, word_shingles
from llm_from_scratch.data.noise import NoiseConfig, inject_noise
from llm_from_scratch.data.pipeline import STAGES

SENTENCES = [
    "The river ran past the old mill and the children watched the wheel turn.",
    "In the evening the farmers came back from the fields and talked about the rain.",
    "A letter arrived from the city with news that nobody in the village had expected.",
    "She opened the window, and the smell of bread from the bakery filled the room.",
    "They walked to the harbour to see the ships that had come in during the night.",
    "The teacher read a story aloud and the class was quiet until the very last page.",
]


def prose(rng: random.Random, n: int) -> str:
    return "\n".join(" ".join(rng.sample(SENTENCES, 3))
                     + f" Day {rng.randint(1, 10**6)}."
                     for _ in range(n))


def small_corpus(seed: int = 0) -> list[Document]:
    rng = random.Random(seed)
    clean = [Document(f"doc/{i}", prose(rng, 12), "test") for i in range(30)]
    clean.append(Document("fr/0", "Le chat dort sur la table. " * 30, "test",
                          {"lang": "fr"}))
    cfg = NoiseConfig(spam_pages=5, low_quality_pages=3, toxic_pages=0,
                      malformed_pages=4, seed=seed)
    return inject_noise(clean, cfg)


def fast_config(tmp_path, **kw) -> CurationConfig:
    return CurationConfig(out_dir=str(tmp_path), progress=False, workers=1,
                          toxicity_max_fraction=None, **kw)


def test_every_document_is_accounted_for(tmp_path):
    docs = small_corpus()
    report = curate(fast_config(tmp_path), docs)
    rows = report.ledger_rows()
    assert sorted(r["id"] for r in rows) == sorted(d.id for d in docs)
    kept = [r for r in rows if r["stage"] is None]
    assert len(kept) == report.docs_out == len(list(report.curated_documents()))
    assert report.docs_in == len(docs)
    assert sum(report.reasons.values()) + report.docs_out == len(docs)
    for s in report.stages:
        assert s["stage"] in STAGES and s["docs_out"] <= s["docs_in"]
    for a, b in zip(report.stages, report.stages[1:]):
        assert a["docs_out"] == b["docs_in"] or b["stage"] == "near_dedup"
    by_label = Counter()
    for r in rows:
        for label in r["labels"]:
            by_label[label, r["stage"]] += 1
    assert by_label["malformed", "validity"] == 4
    assert by_label["spam", None] == 0 and by_label["foreign", None] == 0
    assert (tmp_path / "report.json").is_file()
    assert not (tmp_path / "pass1.jsonl").exists()


def test_planted_duplicates_are_removed(tmp_path):
    docs = small_corpus()
    report = curate(fast_config(tmp_path), docs)
    kept_text = [d.text for d in report.curated_documents()]
    assert len(kept_text) == len(set(kept_text))
    rows = {r["id"]: r for r in report.ledger_rows()}
    text = {d.id: d.text for d in docs}
    checked = 0
    for d in docs:
        if "dup_of" in d.meta:
            original = text[d.meta["dup_of"]]
            similarity = jaccard(word_shingles(d.text), word_shingles(original))
            if similarity >= 0.8:  # clearly above the 0.7 threshold, so never missed
                pair = [rows[d.id]["stage"], rows[d.meta["dup_of"]]["stage"]]
                assert pair.count(None) <= 1, (d.id, similarity)
                checked += 1
    assert checked >= 2


def test_workers_do_not_change_results(tmp_path):
    docs = small_corpus(1)
    one = curate(fast_config(tmp_path / "a"), docs)
    two = curate(CurationConfig(**{**fast_config(tmp_path / "b").__dict__,
                                   "workers": 2}), docs)
    a = (tmp_path / "a" / "curated.jsonl").read_bytes()
    assert a == (tmp_path / "b" / "curated.jsonl").read_bytes()
    assert one.reasons == two.reasons


def test_pii_is_masked_in_output(tmp_path):
    docs = [Document("a", "\n".join([SENTENCES[0]] * 1 + SENTENCES[1:]) +
                     " Write to jane.doe@example.com or call (555) 123-4567.", "t")]
    report = curate(fast_config(tmp_path, quality=None, language=None), docs)
    (out,) = report.curated_documents()
    assert "jane.doe" not in out.text and "|||EMAIL_ADDRESS|||" in out.text
    assert report.pii_masked == {"email": 1, "ip": 0, "phone": 1}


def test_line_dedup_keep_none_removes_every_copy(tmp_path):
    rng = random.Random(6)
    banner = "Read our guide to the harbour festival at the town hall this weekend."
    docs = [Document(f"d{i}", f"{banner}\n{prose(rng, 8)}", "t") for i in range(3)]
    runs = {}
    for keep in ("first", "none"):
        report = curate(fast_config(tmp_path / keep, line_dedup_keep=keep,
                                    near_dedup=None), docs)
        runs[keep] = [d.text for d in report.curated_documents()]
    assert [t.count(banner) for t in runs["first"]] == [1, 0, 0]
    assert [t.count(banner) for t in runs["none"]] == [0, 0, 0]
    assert [t.replace(banner + "\n", "") for t in runs["first"]] == runs["none"]
    with pytest.raises(ValueError, match="line_dedup_keep"):
        CurationConfig(line_dedup_keep="last")


def test_duplicate_ids_are_an_error(tmp_path):
    docs = [Document("x", "a", "t"), Document("x", "b", "t")]
    with pytest.raises(ValueError, match="duplicate document id 'x'"):
        curate(fast_config(tmp_path), docs)


def test_config_from_yaml_and_unknown_keys(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("workers: 1\nquality:\n  min_words: 10\nnear_dedup: null\n"
                    "inputs: [a, b]\n")
    cfg = CurationConfig.from_file(path)
    assert cfg.quality.min_words == 10 and cfg.near_dedup is None
    assert cfg.inputs == ("a", "b")
    path.write_text("quality:\n  min_wordz: 10\n")
    match = r"config.quality: unknown setting\(s\) \['min_wordz'\]"
    with pytest.raises(ValueError, match=match):
        CurationConfig.from_file(path)
    path.write_text("!!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(Exception, match="could not determine a constructor"):
        CurationConfig.from_file(path)
    with pytest.raises(ValueError, match="workers"):
        CurationConfig(workers=0)
    with pytest.raises(ValueError, match="validity cannot be turned off"):
        CurationConfig.from_dict({"validity": None})


def test_cli_curates_input_files(tmp_path, capsys):
    rng = random.Random(5)
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(4):
        (folder / f"{i}.txt").write_text(prose(rng, 10))
    (folder / "bad.txt").write_bytes(b"\x00\x01\x02")
    (tmp_path / "c.json").write_text(json.dumps({
        "shakespeare": False, "crawl": None, "noise": None, "inputs": [str(folder)],
        "toxicity_max_fraction": None}))
    out = tmp_path / "out"
    assert cli_main(["curate", "--config", str(tmp_path / "c.json"), "--out", str(out),
                     "--workers", "1", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert '"docs_in": 5' in printed and '"docs_out": 4' in printed
    report = json.loads((out / "report.json").read_text())
    assert report["reasons"] == {"validity: malformed: binary": 1}


def test_split_is_stable_and_disjoint():
    docs = [Document(f"d{i}", "x", "t") for i in range(1000)]
    train, val = split_documents(docs, 0.1)
    assert 60 < len(val) < 140 and len(train) + len(val) == 1000
    assert split_documents(docs, 0.1) == (train, val)
    with pytest.raises(ValueError, match="val_fraction"):
        split_documents(docs, 1.5)


class ByteTokenizer:
    vocab_size, eot_id = 257, 256

    def encode_ordinary(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))


def test_rerun_gives_byte_identical_shards(tmp_path):
    docs = small_corpus(2)
    paths = []
    for run in ("a", "b"):
        report = curate(fast_config(tmp_path / run), docs)
        texts = [d.text for d in report.curated_documents()]
        out = tmp_path / run / "shards"
        paths.append(write_shards(texts, ByteTokenizer(), out, 500))
    files = sorted(p.name for p in paths[0].parent.iterdir())
    for name in files:
        a, b = paths[0].parent / name, paths[1].parent / name
        assert a.read_bytes() == b.read_bytes()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_book_shards_default_corpus():
    shards = book_shards()
    train, val = TokenShards(shards.train), TokenShards(shards.val)
    # documents go to validation by a hash with val_fraction 0.1: about a tenth of
    # the tokens, not exactly (documents differ in length)
    assert 0.04 < val.num_tokens / (train.num_tokens + val.num_tokens) < 0.2
    assert train.vocab_size == shards.tokenizer.vocab_size
    train_docs = set(train.manifest["metadata"]["documents"])
    assert not train_docs & set(val.manifest["metadata"]["documents"])
    x, y = train.sample_batch(4, 64, np.random.default_rng(0) and __import__("torch")
                              .Generator().manual_seed(0))
    assert x.shape == (4, 64)
    again = book_shards()  # cached: same paths, instant
    assert again.train == shards.train
    report = json.loads(shards.report.read_text())
    assert report["docs_out"] < report["docs_in"]


@pytest.mark.parametrize("workers", [1, 2])
def test_first_pass_reads_input_lazily(workers):
    """Documents are pulled as the pass needs them, never the whole input up front."""
    from llm_from_scratch.data.pipeline import _first_pass_all

    pulled = 0

    def stream():
        nonlocal pulled
        for i in range(5000):
            pulled += 1
            yield Document(f"d{i}", "The river ran past the old mill. " * 20, "t")

    config = CurationConfig(progress=False, workers=workers, toxicity_max_fraction=None)
    outcomes = _first_pass_all(stream(), config)
    next(outcomes)
    time.sleep(0.5)  # time for a read-ahead thread, if there were one, to run away
    assert pulled <= 256 * workers
    assert 1 + sum(1 for _ in outcomes) == 5000 == pulled


def test_missing_input_fails_before_any_work(tmp_path):
    config = CurationConfig(out_dir=str(tmp_path / "out"), progress=False, workers=1,
                            shakespeare=False, crawl=None, noise=None,
                            inputs=[str(tmp_path / "nope")])
    with pytest.raises(FileNotFoundError, match="nope"):
        curate(config)
    assert not (tmp_path / "out" / "ledger.jsonl").exists()


def test_crawl_leaves_out_the_books_own_package(tmp_path):
    """The book's README is in its own METADATA: crawling it would make the
    corpus, and every number downstream, change with each README edit."""
    from llm_from_scratch.data.crawl import license_pages, readme_pages

    site = tmp_path / "site"
    for dist in ("llm_from_scratch-0.1.0", "numpy-1.0"):
        info = site / f"{dist}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text("Name: x\n\n" + "A readme line. " * 20)
        (info / "LICENSE").write_text("MIT License " * 10)
    ids = [d.id for d in readme_pages(site, 10)] + [d.id for d in license_pages(site, 10)]
    assert ids == ["readme/numpy-1.0.dist-info", "license/numpy-1.0.dist-info/LICENSE"]

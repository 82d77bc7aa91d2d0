"""Curation on Dask: a local cluster of 2 workers (loopback, started and stopped
here) gives the same bytes as the local executor, and its pieces are exact."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from llm_from_scratch.cli import main as cli_main
from llm_from_scratch.data import CurationConfig, Document, curate
from llm_from_scratch.data.dask_executor import DaskExecutor, bucket_edges, bucket_records
from llm_from_scratch.data.dedup import MinHasher, near_duplicate_clusters, shingle_hashes
from llm_from_scratch.data.executors import LocalExecutor
from llm_from_scratch.data.noise import NoiseConfig, inject_noise

from test_data_pipeline import prose

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def dask2():
    ex = DaskExecutor(workers=2)
    yield ex
    ex.close()


def corpus(seed: int = 0) -> list[Document]:
    """Prose with exact copies, near copies (one line changed), spam, malformed
    and toxic pages: every stage has something to do."""
    rng = random.Random(seed)
    docs = [Document(f"doc/{i}", prose(rng, 12), "test") for i in range(40)]
    for i in range(0, 40, 5):
        lines = docs[i].text.split("\n")
        lines[3] = prose(rng, 1)
        docs.append(Document(f"near/{i}", "\n".join(lines), "test"))
    docs += [Document(f"copy/{i}", docs[i].text, "test") for i in range(0, 40, 7)]
    cfg = NoiseConfig(spam_pages=4, low_quality_pages=3, toxic_pages=4,
                      malformed_pages=3, seed=seed)
    return inject_noise(docs, cfg)


def outputs(out) -> tuple[bytes, bytes, dict]:
    report = json.loads((out / "report.json").read_text())
    report.pop("curated"), report.pop("ledger")
    return (out / "curated.jsonl").read_bytes(), (out / "ledger.jsonl").read_bytes(), report


def test_dask_gives_the_local_executors_bytes(tmp_path):
    docs = corpus()
    runs = {}
    for name, kw in {"local1": dict(workers=1), "local2": dict(workers=2),
                     "dask2": dict(workers=2, executor="dask")}.items():
        config = CurationConfig(out_dir=str(tmp_path / name), progress=False, **kw)
        curate(config, docs)
        runs[name] = outputs(tmp_path / name)
    assert runs["dask2"] == runs["local1"] == runs["local2"]
    curated, ledger, report = runs["dask2"]
    rows = [json.loads(line) for line in ledger.decode().splitlines()]
    assert sorted(r["id"] for r in rows) == sorted(d.id for d in docs)  # adds up
    stages = {r["stage"] for r in rows}
    assert {"near_dedup", "exact_dedup", "toxicity", "validity", None} <= stages
    assert report["docs_out"] == len(curated.decode().splitlines())
    assert sum(report["reasons"].values()) + report["docs_out"] == len(docs)


def test_lsh_shuffle_finds_the_same_clusters(dask2):
    rng = random.Random(1)
    words = "the of and a to in is was he for it with as his on be at by".split()
    base = [" ".join(rng.choice(words) for _ in range(120)) for _ in range(30)]
    texts = list(base)
    for i in range(60):  # chains of edits: clusters that only union-find joins
        t = texts[rng.randrange(len(texts))].split()
        t[rng.randrange(len(t))] = "zebra"
        texts.append(" ".join(t))
    rng.shuffle(texts)
    hasher = MinHasher(128, 5, 1)
    sigs = np.stack([hasher.signature(shingle_hashes(t, 5)) for t in texts])
    for bands, rows, threshold in ((20, 5, 0.7), (16, 8, 0.9), (4, 2, 0.3)):
        ours = dask2.near_duplicate_clusters(sigs, bands, rows, threshold)
        assert ours == near_duplicate_clusters(sigs, bands, rows, threshold)
        assert len(set(ours)) < len(texts)  # there was something to find
    with pytest.raises(ValueError, match="bands\\*rows <= num_perm"):
        dask2.near_duplicate_clusters(sigs, 20, 7, 0.7)


def test_bucket_edges_split_colliding_keys():
    """Two buckets that share a 64-bit key are still two buckets."""
    sig = np.arange(8, dtype=np.uint32)
    members = [(3, b"band-a", sig), (1, b"band-b", sig), (2, b"band-a", sig)]
    assert bucket_edges(members, 0.5) == [(2, 3)]
    records = bucket_records(10, np.stack([sig, sig]), bands=2, rows=4)
    assert len(records) == 4 and {r[1][0] for r in records} == {10, 11}
    assert records[0][0] == records[1][0] != records[2][0]  # same band value, same key


def test_map_is_ordered_lazy_and_shares_once(dask2):
    pulled = 0

    def items():
        nonlocal pulled
        for i in range(2000):
            pulled += 1
            yield i

    results = dask2.map(pow, items(), 2)
    assert next(results) == 0
    assert pulled <= 16 * 4 * dask2.workers + 16  # a bounded window in flight
    assert [0, *results] == [i * i for i in range(2000)]
    assert list(LocalExecutor(2).map(pow, range(50), 3)) == [i ** 3 for i in range(50)]


def test_config_names_the_executor_field():
    with pytest.raises(ValueError, match="executor must be one of"):
        CurationConfig(executor="spark")
    with pytest.raises(ValueError, match="dask_address needs executor='dask'"):
        CurationConfig(dask_address="tcp://127.0.0.1:8786")
    # where the work runs is not part of what the output is
    assert CurationConfig(executor="dask").key() == CurationConfig().key()


def test_cli_curates_on_dask(tmp_path, capsys):
    rng = random.Random(2)
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(12):
        (folder / f"{i}.txt").write_text(prose(rng, 10))
    (folder / "copy.txt").write_text((folder / "3.txt").read_text())
    code = cli_main(["curate", "--input", str(folder), "--out", str(tmp_path / "out"),
                     "--executor", "dask", "--workers", "2", "--no-toxicity",
                     "--no-progress"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["docs_in"] == 13 and summary["docs_out"] == 12

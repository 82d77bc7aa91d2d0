"""Content-addressed caches: keys follow the exact inputs, not only the settings."""

from __future__ import annotations

import numpy as np

from llm_from_scratch.data import CurationConfig
from llm_from_scratch.data import corpus, toxicity
from llm_from_scratch.data.toxicity import ToxicityConfig, toxicity_key


def user_config(path) -> CurationConfig:
    return CurationConfig.from_dict({"inputs": [str(path)], "progress": False})


def test_inputs_digest_follows_the_bytes_of_every_input(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "_DIGESTS", {})
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "a.txt").write_text("The river ran past the old mill.\n")
    (folder / "b.txt").write_text("A letter arrived from the city.\n")
    config = user_config(folder)
    first = corpus.inputs_digest(config)
    assert corpus.inputs_digest(config) == first  # same bytes, same key
    monkeypatch.setattr(corpus, "_DIGESTS", {})
    (folder / "b.txt").write_text("A letter arrived from the town.\n")
    second = corpus.inputs_digest(config)
    assert second != first  # one word changed in one file
    monkeypatch.setattr(corpus, "_DIGESTS", {})
    (folder / "b.txt").rename(folder / "c.txt")
    assert corpus.inputs_digest(config) not in (first, second)  # a renamed file


def test_inputs_digest_hashes_the_default_corpus_as_read(monkeypatch):
    from llm_from_scratch.data.documents import Document

    docs = [Document("x/1", "some text", "x")]
    monkeypatch.setattr(corpus, "default_documents", lambda config: docs)
    config = CurationConfig(crawl=None, noise=None, progress=False)
    monkeypatch.setattr(corpus, "_DIGESTS", {})
    first = corpus.inputs_digest(config)
    docs[0] = Document("x/1", "some other text", "x")  # other packages, other text
    monkeypatch.setattr(corpus, "_DIGESTS", {})
    assert corpus.inputs_digest(config) != first


def test_toxicity_key_follows_its_training_labels(monkeypatch):
    config = ToxicityConfig(clean_sentences=40, generated_sentences=30)
    texts = [f"sentence number {i}" for i in range(10)]
    labels = np.zeros(10, dtype=np.int64)
    monkeypatch.setattr(toxicity, "_DATASETS", {config: (texts, labels)})
    first = toxicity_key(config)
    flipped = labels.copy()
    flipped[3] = 1  # another version of the teacher labels one sentence otherwise
    monkeypatch.setattr(toxicity, "_DATASETS", {config: (texts, flipped)})
    assert toxicity_key(config) != first
    monkeypatch.setattr(toxicity, "_DATASETS", {config: (texts, labels)})
    assert toxicity_key(config) == first
    assert toxicity_key(ToxicityConfig(clean_sentences=40, generated_sentences=30,
                                       seed=1)) != first


def test_the_books_corpus_pins_its_rules_and_user_data_gets_gophers():
    assert CurationConfig().quality.max_bullet_lines is None
    mine = CurationConfig.from_dict({"inputs": ["texts"]})
    assert mine.quality.max_bullet_lines == 0.9 and mine.quality.max_words == 100_000
    tuned = CurationConfig.from_dict({"inputs": ["texts"], "quality": {"min_words": 5}})
    assert tuned.quality.min_words == 5 and tuned.quality.max_bullet_lines == 0.9

"""The payoff experiment: held-out text is clean for both arms; evaluation is fixed."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
import torch

from llm_from_scratch.data import Document, TokenShards, book_shards, write_shards
from llm_from_scratch.data.corpus import is_validation
from llm_from_scratch.data.decontam import decontaminate, max_overlap
from llm_from_scratch.data.noise import near_copy
from llm_from_scratch.data.payoff import (
    PayoffConfig,
    eval_windows,
    payoff_documents,
    payoff_shards,
    train_many,
    train_tiny,
)
from llm_from_scratch.data.pipeline import CurationConfig, default_documents

WORDS = ("river mill wheel children farmer field rain letter city village news "
         "window bread bakery harbour ship night teacher story class page").split()


def prose(rng: random.Random, n: int = 400) -> str:
    return " ".join(rng.choice(WORDS) + str(rng.randint(0, 99)) for _ in range(n))


def ids_with_split(prefix: str, validation: bool, k: int) -> list[str]:
    found = (f"{prefix}/{i}" for i in range(10_000))
    return [i for i in found if is_validation(i, 0.1) == validation][:k]


def test_overlap_catches_copies_both_ways_and_spares_others():
    rng = random.Random(0)
    a, b = prose(rng), prose(rng)
    inside = " ".join(a.split()[100:160])  # a quotation of a
    around = prose(rng, 200) + " " + a + " " + prose(rng, 200)  # a inside more
    scores = max_overlap([near_copy(a, rng, 0.02), inside, around, b, ""], [a])
    assert scores[0] > 0.6 and scores[1] == 1.0 and scores[2] == 1.0
    assert scores[3] < 0.05 and scores[4] == 0.0
    docs = [Document(str(i), t, "t") for i, t in enumerate([a, b])]
    kept, removed = decontaminate(docs, [Document("v", a, "t")])
    assert [d.id for d in kept] == ["1"] and removed == ["0"]
    with pytest.raises(ValueError, match="threshold"):
        decontaminate(docs, docs, threshold=0.0)


def test_neither_arm_trains_on_a_copy_of_validation_text():
    """The audit's case: near-dedup kept the planted copy of a validation play
    (the copy has a training id) and dropped the original. The old payoff
    removed planted copies from the raw arm only, by their labels."""
    rng = random.Random(1)
    (val_id,) = ids_with_split("shakespeare", True, 1)
    (copy_id,) = ids_with_split("noise/near_dup", False, 1)
    others = ids_with_split("shakespeare", False, 3)
    play = Document(val_id, prose(rng), "shakespeare", {"labels": []})
    copy = Document(copy_id, near_copy(play.text, rng), "noise",
                    {"labels": ["near_dup"], "dup_of": val_id})
    rest = [Document(i, prose(rng), "shakespeare", {"labels": []}) for i in others]
    raw = [copy, play, *rest]
    curated = [copy, *rest]  # what dedup kept: the copy, not the original
    data = payoff_documents(raw, curated)
    assert [d.id for d in data.clean_val] == [val_id]
    for arm in (data.raw, data.curated):
        assert {d.id for d in arm} == set(others)
    assert data.removed == {"raw": [copy_id], "curated": [copy_id]}


class Bytes:
    vocab_size, eot_id = 257, 256

    def encode_ordinary(self, text: str) -> list[int]:
        return list(text.encode())


TINY = PayoffConfig(steps=4, eval_every=2, eval_batches=3, batch_size=4, seq_len=16,
                    d_model=16, n_layers=1, n_heads=2)


def tiny_shards(tmp_path):
    rng = random.Random(2)
    texts = [prose(rng, 300) for _ in range(6)]
    val = write_shards(texts, Bytes(), tmp_path / "val", 4096)
    train = write_shards(texts[::-1], Bytes(), tmp_path / "tr", 4096)
    return train, val


def test_evaluation_windows_cover_all_validation_text(tmp_path):
    train_path, val_path = tiny_shards(tmp_path)
    train, val = TokenShards(train_path), TokenShards(val_path)
    batches = eval_windows(val, TINY)
    x = torch.cat([b[0] for b in batches])
    assert x.shape == (12, 16) and len(batches) == 3
    first, last = x[0, 0].item(), x[-1, -1].item()
    assert first == val.tokens(0, 1)[0]  # from the start ...
    end = val.num_windows(16) * 16
    assert last == val.tokens(end - 1, end)[0]  # ... to the end
    a, b = train_tiny(train, val, TINY), train_tiny(train, val, TINY)
    assert a == b and [s for s, _ in a] == [0, 2, 4]
    with pytest.raises(ValueError, match="eval_batches"):
        PayoffConfig(eval_batches=0)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_train_many_in_processes_equals_one_by_one(tmp_path):
    train, val = tiny_shards(tmp_path)
    jobs = [(train, val, replace(TINY, seed=s)) for s in (0, 1)]
    one = train_many(jobs, workers=1)
    assert train_many(jobs, workers=2) == one and one[0] != one[1]
    with pytest.raises(ValueError, match="workers"):
        train_many(jobs, workers=0)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_book_payoff_arms_hold_no_planted_copy_of_validation_plays():
    shards = book_shards()
    paths = payoff_shards(shards)
    meta = {k: TokenShards(p).manifest["metadata"] for k, p in paths.items()}
    val_ids = set(meta["clean_val"]["documents"])
    assert val_ids and all(i.startswith("shakespeare/") for i in val_ids)
    planted = [d.id for d in default_documents(CurationConfig(progress=False))
               if d.meta.get("dup_of") in val_ids]
    assert planted  # the corpus does hold copies of validation plays
    for arm in ("raw", "curated"):
        docs = set(meta[arm]["documents"])
        assert not docs & val_ids
        assert not docs & set(planted), arm

"""Packed SFT data (align/packing.py): the windows are the packed stream, the
labels are shifted by one, shuffling is seeded, and leftovers are counted."""

from __future__ import annotations

import pytest
import torch

from llm_from_scratch.align import PackedSFTDataset, iterate_batches

EOS = 0


class Bytes:
    """A stand-in tokenizer: one id per byte, shifted so that 0 stays EOS."""

    def encode(self, text: str) -> list[int]:
        return [b + 1 for b in text.encode()]


EXAMPLES = [{"prompt": f"q{i}", "response": "a" * i} for i in range(1, 9)]


def test_windows_are_the_packed_stream_with_shifted_labels():
    ds = PackedSFTDataset(Bytes(), EXAMPLES, seq_len=7, eos_id=EOS, shuffle=False,
                          template="{prompt}:{response}")
    stream = []
    for ex in EXAMPLES:
        stream += Bytes().encode(f"{ex['prompt']}:{ex['response']}") + [EOS]
    assert ds.tokens.tolist() == stream
    assert len(ds) == (len(stream) - 1) // 7
    assert ds.dropped_tokens == len(stream) - 1 - 7 * len(ds)
    joined = torch.cat([ds[i]["input_ids"] for i in range(len(ds))])
    assert joined.tolist() == stream[: 7 * len(ds)]
    for i in range(len(ds)):
        item = ds[i]
        assert item["input_ids"].shape == item["labels"].shape == (7,)
        assert item["input_ids"].dtype == torch.long
        assert item["labels"].tolist() == stream[7 * i + 1 : 7 * i + 8]
    assert ds[-1]["input_ids"].tolist() == ds[len(ds) - 1]["input_ids"].tolist()
    with pytest.raises(IndexError):
        ds[len(ds)]


def test_shuffle_is_seeded_and_keeps_every_example():
    a = PackedSFTDataset(Bytes(), EXAMPLES, 5, EOS, seed=1)
    b = PackedSFTDataset(Bytes(), EXAMPLES, 5, EOS, seed=1)
    c = PackedSFTDataset(Bytes(), EXAMPLES, 5, EOS, seed=2)
    assert torch.equal(a.tokens, b.tokens) and not torch.equal(a.tokens, c.tokens)
    assert sorted(a.tokens.tolist()) == sorted(c.tokens.tolist())
    assert int((a.tokens == EOS).sum()) == len(EXAMPLES)


def test_iterate_batches_covers_every_window_once_in_a_seeded_order():
    ds = PackedSFTDataset(Bytes(), EXAMPLES, 4, EOS, shuffle=False)
    batches = list(iterate_batches(ds, batch_size=3, seed=0))
    assert [b["input_ids"].shape[0] for b in batches[:-1]] == [3] * (len(batches) - 1)
    seen = torch.cat([b["input_ids"] for b in batches])
    expected = torch.stack([ds[i]["input_ids"] for i in range(len(ds))])
    assert sorted(map(tuple, seen.tolist())) == sorted(map(tuple, expected.tolist()))
    again = list(iterate_batches(ds, batch_size=3, seed=0))
    assert all(torch.equal(x["labels"], y["labels"]) for x, y in zip(batches, again))
    in_order = list(iterate_batches(ds, batch_size=len(ds), shuffle=False))
    assert torch.equal(in_order[0]["input_ids"], expected)


def test_bad_input_names_the_problem():
    with pytest.raises(ValueError, match="seq_len"):
        PackedSFTDataset(Bytes(), EXAMPLES, 0, EOS)
    with pytest.raises(ValueError, match="at least one example"):
        PackedSFTDataset(Bytes(), [], 4, EOS)
    with pytest.raises(ValueError, match="example 1: field 'response'"):
        PackedSFTDataset(Bytes(), [EXAMPLES[0], {"prompt": "x"}], 4, EOS)
    with pytest.raises(ValueError, match="template must contain"):
        PackedSFTDataset(Bytes(), EXAMPLES, 4, EOS, template="{prompt}")
    with pytest.raises(ValueError, match="do not fill one window"):
        PackedSFTDataset(Bytes(), EXAMPLES[:1], 1000, EOS)
    with pytest.raises(ValueError, match="batch_size"):
        next(iterate_batches(PackedSFTDataset(Bytes(), EXAMPLES, 4, EOS), 0))

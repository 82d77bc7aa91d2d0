"""The trainer's merges are pinned: a faster trainer must learn exactly these.

The book's cached tokenizer, and every chapter's numbers after it, depend on
the exact merge order (ties included). The hashes below were computed by the
trainer as of commit 4939f01, before any speed work on it (issue 18).
"""

from __future__ import annotations

import hashlib

import pytest

from llm_from_scratch.tokenizer import (
    BOOK_SPECIAL_TOKENS,
    GPT2_PATTERN,
    GPT4_PATTERN,
    train_bpe,
)

PINNED = {
    "gpt4": "1c65f686f15cf0fbb87a67c52c8e4b9d5eb1f8c22eed1597cc4834de02d72b1a",
    "gpt2": "f4f4ec304ad11a16130167aab9c6a5e4998124d823c28803b29596736f6cbf33",
}


def merges_hash(merges: list[tuple[bytes, bytes]]) -> str:
    """One digest of the ordered merges (separators keep pairs unambiguous)."""
    data = b"".join(a + b"\x00" + b + b"\x01" for a, b in merges)
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def corpus() -> str:
    from llm_from_scratch.corpora import shakespeare

    docs = shakespeare()[:3]
    return "<|endoftext|>".join(d.text for d in docs)[:300_000]


@pytest.mark.parametrize(
    ("name", "pattern"), [("gpt4", GPT4_PATTERN), ("gpt2", GPT2_PATTERN)]
)
def test_merges_equal_the_pinned_ones(corpus: str, name: str, pattern: str) -> None:
    _, merges = train_bpe(corpus, 1024, BOOK_SPECIAL_TOKENS, pattern, num_workers=1)
    assert len(merges) == 1024 - 256 - len(BOOK_SPECIAL_TOKENS)
    assert merges_hash(merges) == PINNED[name]

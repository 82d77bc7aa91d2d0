"""The chapter's exercise solutions do what they claim."""

from __future__ import annotations

import pytest

from llm_from_scratch.tokenizer import Tokenizer, book_tokenizer, train_bpe
from llm_from_scratch.tokenizer.solutions import (
    recover_merges,
    streaming_counterexample,
    unused_tokens,
)


@pytest.fixture(scope="module")
def sample() -> str:
    from llm_from_scratch.corpora import shakespeare

    return shakespeare()[1].text[:40_000]


def test_recover_merges_gives_back_the_training_merges(sample: str) -> None:
    vocab, merges = train_bpe(sample, 700)
    assert recover_merges(Tokenizer.from_vocab(vocab).ranks) == merges


def test_recover_merges_rejects_ranks_that_are_not_bpe() -> None:
    ranks = {bytes([i]): i for i in range(256)} | {b"abc": 256}
    with pytest.raises(ValueError, match="not one merge"):
        recover_merges(ranks)


def test_streaming_counterexample_breaks_naive_streaming() -> None:
    tok = book_tokenizer()
    chunks, whole = streaming_counterexample()
    naive = [i for chunk in chunks for i in tok.encode(chunk)]
    assert naive != tok.encode(whole)
    assert list(tok.encode_iterable(chunks, buffer_chars=1)) == tok.encode(whole)


def test_unused_tokens_finds_intermediate_merges() -> None:
    text = "abc abc abc"
    vocab, merges = train_bpe(text, 259)
    assert merges == [(b"b", b"c"), (b"a", b"bc"), (b" ", b"abc")]
    tok = Tokenizer.from_vocab(vocab)
    assert unused_tokens(tok, text) == [tok.ranks[b"bc"]]  # "abc" starts the text
    seen = set(tok.encode_ordinary(text))
    assert all(i in seen for i in tok.ranks.values() if i >= 256
               and i not in unused_tokens(tok, text))

"""BPE training: the fast trainer equals the naive oracle; bad input fails clearly."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_from_scratch.tokenizer import (
    GPT2_PATTERN,
    GPT4_PATTERN,
    bpe_merges,
    count_pretokens,
    pretokenize,
    train_bpe,
)
from llm_from_scratch.tokenizer.naive import naive_bpe_merges
from llm_from_scratch.tokenizer.pretokenize import chunk_at_specials

@pytest.fixture(scope="module")
def shakespeare_sample() -> str:
    from llm_from_scratch.corpora import shakespeare

    return shakespeare()[0].text[:20_000]


TEXT = (
    "low lower lowest newer newest wider widest, low low low! "
    "The 1234567 cats' tails aren't wagging.\n\n  Indented\tline\r\n"
) * 3


def test_toy_merges_match_the_classic_example() -> None:
    # Sennrich et al.'s example: "es" then "est" are learned first.
    words = Counter({b"low": 5, b"lower": 2, b"newest": 6, b"widest": 3})
    merges = bpe_merges(words, 3)
    assert merges[:2] == [(b"s", b"t"), (b"e", b"st")]
    assert merges == naive_bpe_merges(words, 3)


def test_tie_break_takes_the_greatest_bytes_pair() -> None:
    # "ab" and "cd" are equally frequent: (c, d) > (a, b) wins.
    assert bpe_merges(Counter({b"ab": 1, b"cd": 1}), 1) == [(b"c", b"d")]


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    st.dictionaries(st.binary(min_size=1, max_size=8), st.integers(1, 20), max_size=30)
)
def test_fast_trainer_equals_naive_oracle(words: dict[bytes, int]) -> None:
    assert bpe_merges(words, 40) == naive_bpe_merges(words, 40)


def test_fast_trainer_equals_naive_on_real_text(shakespeare_sample: str) -> None:
    counts = count_pretokens(shakespeare_sample, GPT4_PATTERN)
    assert bpe_merges(counts, 150) == naive_bpe_merges(counts, 150)


def test_vocab_layout() -> None:
    specials = ["<|endoftext|>", "<|end|>"]
    vocab, merges = train_bpe(TEXT, 256 + 20 + 2, specials)
    assert len(vocab) == 278 and len(merges) == 20
    assert all(vocab[i] == bytes([i]) for i in range(256))
    assert [vocab[256 + k] for k in range(20)] == [a + b for a, b in merges]
    assert [vocab[276], vocab[277]] == [s.encode() for s in specials]


def test_special_tokens_are_never_counted_or_merged() -> None:
    text = "<|endoftext|>" * 50 + "ab ab"
    counts = count_pretokens(text, GPT4_PATTERN, ["<|endoftext|>"])
    assert counts == Counter({b"ab": 1, b" ab": 1})
    vocab, merges = train_bpe(text, 258, ["<|endoftext|>"])
    assert all(b"|" not in a + b for a, b in merges)


def test_inputs_path_text_and_iterable_agree(tmp_path: Path) -> None:
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    expected = train_bpe(TEXT, 300)
    assert train_bpe(path, 300) == expected
    # one document per item: the same as documents joined by a special token
    docs = TEXT.split("\n\n")
    _, merges = train_bpe(docs, 300)
    _, joined = train_bpe("<|endoftext|>".join(docs), 301, ["<|endoftext|>"])
    assert merges == joined


@pytest.mark.timeout(120)
def test_parallel_counting_equals_serial(shakespeare_sample: str) -> None:
    text = "<|endoftext|>".join([shakespeare_sample[i::3] for i in range(3)] * 4)
    serial = count_pretokens(text, GPT4_PATTERN, ["<|endoftext|>"], num_workers=1)
    chunks = chunk_at_specials(text, ["<|endoftext|>"], 5)
    assert "".join(chunks) == text and len(chunks) > 1
    parallel = count_pretokens(
        text, GPT4_PATTERN, ["<|endoftext|>"], num_workers=2, min_parallel_chars=0
    )
    assert parallel == serial


def test_patterns_split_like_gpt2_and_gpt4() -> None:
    text = "I'LL pay 12345 dollars!!\n\n  ok"
    assert pretokenize(text, GPT2_PATTERN) == [
        "I", "'", "LL", " pay", " 12345", " dollars", "!!", "\n\n ", " ok"
    ]
    assert pretokenize(text, GPT4_PATTERN) == [
        "I", "'LL", " pay", " ", "123", "45", " dollars", "!!\n\n", " ", " ok"
    ]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"input": "", "vocab_size": 300}, ValueError, "empty"),
        ({"input": "<|endoftext|>", "vocab_size": 300,
          "special_tokens": ["<|endoftext|>"]}, ValueError, "empty"),
        ({"input": "abc", "vocab_size": 257, "special_tokens": ["<a>", "<b>"]},
         ValueError, "258"),
        ({"input": "abc", "vocab_size": 300.0}, TypeError, "vocab_size"),
        ({"input": b"abc", "vocab_size": 300}, TypeError, "bytes"),
        ({"input": 42, "vocab_size": 300}, TypeError, "input"),
        ({"input": ["ok", 3], "vocab_size": 300}, TypeError, "str"),
        ({"input": "abc", "vocab_size": 300}, ValueError, "supports only"),
        ({"input": "abc", "vocab_size": 300, "special_tokens": ["x", "x"]},
         ValueError, "duplicate"),
        ({"input": "abc", "vocab_size": 300, "special_tokens": "<s>"},
         TypeError, "list"),
    ],
)
def test_bad_input_fails_clearly(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        train_bpe(**kwargs)


def test_missing_file_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        train_bpe(tmp_path / "nope.txt", 300)
    (tmp_path / "ok.txt").write_text(TEXT)
    with pytest.raises(FileNotFoundError, match="nope.txt does not exist"):
        train_bpe([tmp_path / "ok.txt", tmp_path / "nope.txt"], 300)


def test_several_files_are_one_document_each(tmp_path: Path) -> None:
    docs = TEXT.split("\n\n")
    paths = [tmp_path / f"{i}.txt" for i in range(len(docs))]
    for path, doc in zip(paths, docs):
        path.write_text(doc, encoding="utf-8")
    assert train_bpe(paths, 300) == train_bpe(docs, 300)
    assert train_bpe(tuple(paths), 300) == train_bpe(docs, 300)


def test_patterns_are_tiktokens_own() -> None:
    import inspect

    from tiktoken_ext import openai_public

    source = inspect.getsource(openai_public)
    assert GPT2_PATTERN == openai_public.r50k_pat_str
    assert f'r"""{GPT4_PATTERN}"""' in source  # cl100k_base's pat_str


ASCII_TEXT = st.text(st.characters(max_codepoint=127), max_size=40) | st.lists(
    st.sampled_from(["'s", "'LL", " ", "  ", "\n", "\r\n", "\t", "ab", "12345",
                     "!?", "\x0b", "\x1c", "x "]), max_size=10
).map("".join)


@pytest.mark.parametrize("pattern", [GPT2_PATTERN, GPT4_PATTERN])
@settings(max_examples=300, deadline=None, derandomize=True)
@given(text=ASCII_TEXT)
def test_ascii_fast_path_splits_like_the_unicode_pattern(
    pattern: str, text: str
) -> None:
    import regex

    from llm_from_scratch.tokenizer.pretokenize import ascii_regex

    fast = ascii_regex(pattern)
    assert fast is not None
    assert fast.findall(text) == regex.findall(pattern, text)


def test_ascii_fast_path_on_the_corpus(shakespeare_sample: str) -> None:
    import regex

    from llm_from_scratch.tokenizer.pretokenize import ascii_regex

    for pattern in (GPT2_PATTERN, GPT4_PATTERN):
        expected = regex.findall(pattern, shakespeare_sample)
        assert ascii_regex(pattern).findall(shakespeare_sample) == expected


@pytest.mark.timeout(120)
def test_files_are_streamed_in_pieces_cut_at_special_tokens(tmp_path: Path) -> None:
    from llm_from_scratch.tokenizer.pretokenize import read_chunks

    docs = [TEXT[i:] for i in range(0, 300, 7)]
    text = "<|endoftext|>".join(docs)
    path = tmp_path / "docs.txt"
    path.write_text(text, encoding="utf-8")
    pieces = list(read_chunks(path, ["<|endoftext|>"], block_chars=100))
    assert "".join(pieces) == text and len(pieces) > 10
    assert all(p.startswith("<|endoftext|>") for p in pieces[1:])
    assert list(read_chunks(path, [], block_chars=100)) == [text]  # no safe cut
    specials = ["<|endoftext|>"]
    assert train_bpe(path, 320, specials) == train_bpe(text, 320, specials)
    serial = count_pretokens(text, GPT4_PATTERN, specials, num_workers=1)
    batched = count_pretokens(read_chunks(path, specials, 100), GPT4_PATTERN,
                              specials, num_workers=2, min_parallel_chars=0,
                              batch_chars=500)
    assert batched == serial


def test_non_utf8_file_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\u00e9 au lait".encode("latin-1"))
    with pytest.raises(ValueError, match="not valid UTF-8"):
        train_bpe(path, 300)

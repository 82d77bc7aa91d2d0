"""Encoding and decoding: exact parity with tiktoken, round trips, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_from_scratch.tokenizer import (
    BOOK_SPECIAL_TOKENS,
    GPT2_PATTERN,
    Tokenizer,
    book_tokenizer,
    load_gpt2_files,
    train_bpe,
)
from llm_from_scratch.tokenizer.book import book_corpus
from llm_from_scratch.tokenizer.bpe import Merger, _bpe_encode_heap, bpe_encode

ADVERSARIAL = [
    "",
    " ",
    "\n\n\n",
    "   leading and trailing   ",
    "tabs\tand\r\nwindows\rnewlines\x0b\x0c",
    "digits 1 12 123 1234 12345678901234567890 3.14159 1,000,000",
    "I'm you'RE he'LL they've we'd it's 'tis",
    "caf\u00e9 na\u0308ive \u00c5ngstr\u00f6m",  # precomposed and combining marks
    "\u4e2d\u6587\u5b57\u7b26 \u65e5\u672c\u8a9e \ud55c\uad6d\uc5b4",  # CJK
    "emoji \U0001F600\U0001F469\u200d\U0001F4BB flags \U0001F1EB\U0001F1F7",
    "\x00\x01\x7f control \u200b zero width \ufeff bom",
    "<|endoftext|>",
    "<|endoftext|><|endoftext|>x<|end|><|user|>",
    "<|endof <|end|>text|> <|endoftext",
    " " * 300 + "x" + "\n" * 200,
    "a" * 500,
    "\U0001F600" * 80,
]
HYPO = settings(max_examples=150, deadline=None, derandomize=True)
CHARS = st.characters(blacklist_categories=("Cs",))
PIECES = st.text(CHARS, max_size=8) | st.sampled_from(
    ["<|endoftext|>", "<|end|>", "<|user|>", " ", "\n", "'s", "<|", "|>", "123456"]
)
TEXTS = st.lists(PIECES, max_size=12).map("".join)


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return book_tokenizer()


@pytest.fixture(scope="module")
def enc(tok: Tokenizer) -> tiktoken.Encoding:
    return tok.to_tiktoken()


def test_book_tokenizer_layout(tok: Tokenizer) -> None:
    assert tok.vocab_size == 4096
    expected = {t: 4091 + i for i, t in enumerate(BOOK_SPECIAL_TOKENS)}
    assert tok.special_tokens == expected
    assert tok.eot_id == 4091
    assert len(set(tok.vocab.values())) == 4096  # no two ids share bytes
    assert book_tokenizer().ranks == tok.ranks  # cached, identical


def test_identical_ids_to_tiktoken_on_whole_corpus(
    tok: Tokenizer, enc: tiktoken.Encoding
) -> None:
    text = book_corpus()
    ids = tok.encode(text)
    assert ids == enc.encode(text, allowed_special="all")
    assert tok.decode(ids) == text
    assert len(text) / len(ids) > 3.0  # Shakespeare compresses to > 3 bytes/token


@pytest.mark.parametrize("text", ADVERSARIAL)
def test_identical_ids_to_tiktoken_on_adversarial_strings(
    tok: Tokenizer, enc: tiktoken.Encoding, text: str
) -> None:
    assert tok.encode(text) == enc.encode(text, allowed_special="all")
    assert tok.encode_ordinary(text) == enc.encode_ordinary(text)
    assert tok.decode(tok.encode(text)) == text


@HYPO
@given(TEXTS)
def test_round_trip_and_parity_on_arbitrary_unicode(
    tok: Tokenizer, enc: tiktoken.Encoding, text: str
) -> None:
    assert tok.decode(tok.encode(text)) == text
    assert tok.decode(tok.encode_ordinary(text)) == text
    assert tok.encode(text) == enc.encode(text, allowed_special="all")
    assert tok.encode_ordinary(text) == enc.encode_ordinary(text)


@HYPO
@given(TEXTS, st.lists(st.integers(0, 60), max_size=6))
def test_encode_iterable_equals_encode(
    tok: Tokenizer, text: str, cuts: list[int]
) -> None:
    bounds = [0, *sorted(c for c in cuts if c <= len(text)), len(text)]
    chunks = [text[a:b] for a, b in zip(bounds, bounds[1:])]
    assert list(tok.encode_iterable(chunks, buffer_chars=1)) == tok.encode(text)


def test_encode_iterable_streams_a_file(tok: Tokenizer, tmp_path: Path) -> None:
    text = book_corpus()[:200_000]
    path = tmp_path / "play.txt"
    path.write_text(text, encoding="utf-8")
    with path.open(encoding="utf-8") as lines:
        assert list(tok.encode_iterable(lines, buffer_chars=4096)) == tok.encode(text)


def test_special_tokens_allowed_or_ordinary(tok: Tokenizer) -> None:
    text = "Hi<|user|>there<|endoftext|>"
    assert tok.encode(text).count(tok.eot_id) == 1
    assert tok.eot_id not in tok.encode_ordinary(text)
    only_user = tok.encode(text, allowed_special={"<|user|>"})
    assert tok.special_tokens["<|user|>"] in only_user and tok.eot_id not in only_user
    assert tok.encode(text, allowed_special=set()) == tok.encode_ordinary(text)
    with pytest.raises(ValueError, match="unknown special"):
        tok.encode(text, allowed_special={"<|nope|>"})


def test_overlapping_special_tokens_take_the_longest() -> None:
    ranks = {bytes([i]): i for i in range(256)}
    tok = Tokenizer(ranks, {"<|end|>": 256, "<|end|>!": 257, "d|>!": 258})
    assert tok.encode("<|end|>!?") == [257, ord("?")]
    assert tok.encode("<|end|>?") == [256, ord("?")]


def test_decode_replaces_invalid_utf8(tok: Tokenizer) -> None:
    ids = tok.encode("\u00e9")  # two bytes; one of them alone is invalid UTF-8
    assert tok.decode([tok.ranks[b"\xc3"]]) == "\ufffd"
    assert tok.decode(ids) == "\u00e9"


def test_errors_are_clear(tok: Tokenizer) -> None:
    with pytest.raises(TypeError, match="str"):
        tok.encode(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="str"):
        tok.encode_ordinary(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown token id 99999"):
        tok.decode([1, 99999])
    with pytest.raises(ValueError, match="single-byte"):
        Tokenizer({b"a": 0})
    with pytest.raises(ValueError, match="distinct"):
        Tokenizer({bytes([i]): i for i in range(256)}, {"<s>": 3})
    no_eot = Tokenizer({bytes([i]): i for i in range(256)})
    with pytest.raises(ValueError, match="endoftext"):
        no_eot.eot_id


def test_lone_surrogates_are_replaced_like_tiktoken(
    tok: Tokenizer, enc: tiktoken.Encoding
) -> None:
    text = "a\ud800b"
    assert tok.encode(text) == enc.encode(text)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.binary(min_size=65, max_size=300))
def test_heap_merge_equals_simple_merge(tok: Tokenizer, data: bytes) -> None:
    ranks = tok.ranks
    simple = bpe_encode(data[:64], ranks)
    assert _bpe_encode_heap(data[:64], ranks) == simple
    assert b"".join(tok.token_bytes(i) for i in bpe_encode(data, ranks)) == data


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.binary(max_size=80) | TEXTS.map(lambda t: t.encode("utf-8")))
def test_merge_table_equals_reference_merge(tok: Tokenizer, data: bytes) -> None:
    """``Merger`` (ids, merge table) = ``bpe_encode`` (bytes), also when the
    byte tokens are not numbered 0-255 in byte order, as in GPT-2."""
    ranks = tok.ranks
    assert Merger(ranks)(data) == bpe_encode(data, ranks)
    shuffled = {t: (i * 97 + 5) % 256 if i < 256 else i for t, i in ranks.items()}
    merger = Merger(shuffled)
    assert merger.byte_ids is not None
    assert merger(data) == bpe_encode(data, shuffled)


def test_cache_is_bounded_and_optional(tok: Tokenizer) -> None:
    text = book_corpus()[:20_000]
    expected = tok.encode(text)
    small = Tokenizer(tok.ranks, tok.special_tokens, tok.pattern)
    small._cache.limit = 50  # starts over many times within one call
    assert small.encode(text) == expected
    assert 0 < len(small._cache) <= 50
    small.clear_cache()
    assert len(small._cache) == 0 and small.encode(text) == expected


def test_save_load_round_trip(tok: Tokenizer, tmp_path: Path) -> None:
    path = tok.save(tmp_path / "book.tok")
    loaded = Tokenizer.load(path)
    assert loaded.ranks == tok.ranks and loaded.special_tokens == tok.special_tokens
    assert loaded.pattern == tok.pattern
    text = book_corpus()[:5000]
    assert loaded.encode(text) == tok.encode(text)


@pytest.mark.parametrize(
    ("corrupt", "match"),
    [
        (lambda lines: ["not a tokenizer", *lines[1:]], "line 1"),
        (lambda lines: [lines[0], "{oops", *lines[2:]], "line 2"),
        (lambda lines: [*lines[:10], "@@@ 5", *lines[11:]], "line 11"),
        (lambda lines: [*lines[:10], "QQ==", *lines[11:]], "line 11"),
        (lambda lines: [*lines, lines[50]], "two lines"),
        (lambda lines: lines[:100], "promises 4091 token lines, the file has 98"),
        (lambda lines: ["llm-from-scratch-bpe 3", *lines[1:]], "version 3"),
    ],
)
def test_corrupt_file_fails_clearly(
    tok: Tokenizer, tmp_path: Path, corrupt, match: str
) -> None:
    path = tok.save(tmp_path / "book.tok")
    lines = path.read_text().splitlines()
    path.write_text("\n".join(corrupt(lines)) + "\n")
    with pytest.raises(ValueError, match=match):
        Tokenizer.load(path)


@pytest.mark.parametrize("kept", [0, 1, 255, 256, 300, 2048, 4090])
def test_file_cut_at_a_line_boundary_fails_clearly(
    tok: Tokenizer, tmp_path: Path, kept: int
) -> None:
    """A cut after the header would otherwise load a smaller vocabulary."""
    path = tok.save(tmp_path / "book.tok")
    lines = path.read_text().splitlines()
    assert len(lines) == 2 + 4091
    path.write_text("\n".join(lines[: 2 + kept]) + "\n")
    with pytest.raises(ValueError, match="truncated") as error:
        Tokenizer.load(path)
    assert str(path) in str(error.value) and f"has {kept} (" in str(error.value)


def test_file_cut_inside_the_header_fails_clearly(
    tok: Tokenizer, tmp_path: Path
) -> None:
    path = tok.save(tmp_path / "book.tok")
    first = path.read_text().splitlines()[0]
    for text in ["", first, first + "\n", first + '\n{"name": "bo']:
        path.write_text(text)
        with pytest.raises(ValueError, match=f"{path.name}: line [12]"):
            Tokenizer.load(path)


def test_edited_token_line_fails_the_checksum(tok: Tokenizer, tmp_path: Path) -> None:
    path = tok.save(tmp_path / "book.tok")
    lines = path.read_text().splitlines()
    token, rank = lines[-1].split(" ")
    lines[-1] = f"{token} {int(rank) + 10_000}"  # still parses, wrong id
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="sha256 of the token lines does not match"):
        Tokenizer.load(path)


def test_windows_line_endings_still_load(tok: Tokenizer, tmp_path: Path) -> None:
    path = tok.save(tmp_path / "book.tok")
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))  # git autocrlf
    assert Tokenizer.load(path).ranks == tok.ranks


def test_version_1_files_still_load(tok: Tokenizer, tmp_path: Path) -> None:
    """Files saved before counts and checksums existed (e.g. old caches)."""
    path = tok.save(tmp_path / "book.tok")
    lines = path.read_text().splitlines()
    header = json.loads(lines[1])
    assert header["tokens"] == 4091 and len(header["sha256"]) == 64
    del header["tokens"], header["sha256"]
    old = ["llm-from-scratch-bpe 1", json.dumps(header), *lines[2:]]
    path.write_text("\n".join(old) + "\n")
    loaded = Tokenizer.load(path)
    assert loaded.ranks == tok.ranks and loaded.special_tokens == tok.special_tokens
    path.write_text("\n".join(["llm-from-scratch-bpe 2", *old[1:]]) + "\n")
    with pytest.raises(ValueError, match="lacks 'tokens' and 'sha256'"):
        Tokenizer.load(path)


def test_tiktoken_round_trip(tok: Tokenizer) -> None:
    back = Tokenizer.from_tiktoken(tok.to_tiktoken())
    assert back.ranks == tok.ranks and back.special_tokens == tok.special_tokens


@pytest.mark.timeout(120)
def test_encode_batch_in_processes_equals_serial(tok: Tokenizer) -> None:
    docs = book_corpus().split("<|endoftext|>")[:8]
    expected = [tok.encode_ordinary(d) for d in docs]
    assert tok.encode_batch(docs, num_workers=2) == expected


def test_gpt2_files_from_hugging_face_match_its_encoder(tmp_path: Path) -> None:
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import decoders, models, pre_tokenizers, trainers

    text = book_corpus()[:300_000]
    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=800,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    hf.train_from_iterator([text], trainer)
    vocab_json, merges_txt = hf.model.save(str(tmp_path))
    ours = load_gpt2_files(vocab_json, merges_txt, ("<|endoftext|>",), GPT2_PATTERN)
    sample = book_corpus()[300_000:400_000]
    assert ours.encode(sample) == hf.encode(sample).ids
    with pytest.raises(ValueError, match="merges.txt: line"):
        Path(merges_txt).write_text("#version: 0.2\n\u0120 zz\n")
        load_gpt2_files(vocab_json, merges_txt)


def test_train_then_tokenize_small_corpus() -> None:
    text = "the cat sat on the mat; the cat ate the rat. " * 20
    vocab, merges = train_bpe(text, 270, ["<|endoftext|>"])
    tok = Tokenizer.from_vocab(vocab, ["<|endoftext|>"])
    assert tok.encode_ordinary(" the cat") == [tok.ranks[b" the"], tok.ranks[b" cat"]]
    assert tok.to_tiktoken().encode(text) == tok.encode(text)


def test_from_vocab_rejects_ambiguous_or_incomplete_vocabularies() -> None:
    vocab = {i: bytes([i]) for i in range(256)}
    with pytest.raises(ValueError, match="same bytes"):
        Tokenizer.from_vocab(vocab | {256: b"ab", 257: b"ab"})
    with pytest.raises(ValueError, match="not in the vocabulary"):
        Tokenizer.from_vocab(vocab, ["<|endoftext|>"])


def test_gpt2_files_reject_non_byte_level_tokens(tmp_path: Path) -> None:
    import json

    from llm_from_scratch.tokenizer.serialization import bytes_to_unicode

    table = bytes_to_unicode()
    assert sorted(table) == list(range(256)) and len(set(table.values())) == 256
    assert table[ord(" ")] == "\u0120"  # GPT-2's visible space
    encoder = {c: b for b, c in table.items()}
    vocab, merges = tmp_path / "vocab.json", tmp_path / "merges.txt"
    vocab.write_text(json.dumps(encoder | {"\u0120a": 256}))
    merges.write_text("#version: 0.2\n\u0120 a\n")
    tok = load_gpt2_files(vocab, merges, ())
    assert tok.encode(" a a") == [256, 256]
    vocab.write_text(json.dumps(encoder | {"\u4e2d": 256}))
    with pytest.raises(ValueError, match="not byte-level"):
        load_gpt2_files(vocab, merges, ())

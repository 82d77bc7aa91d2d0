"""Tokenization: byte-level BPE from scratch, with exact parity with tiktoken.

Public entry points: ``train_bpe`` (learn merges), ``Tokenizer`` (encode and
decode, save and load, convert to and from tiktoken) and ``book_tokenizer``
(the tokenizer every later chapter uses).
"""

from llm_from_scratch.tokenizer.book import (
    BOOK_SPECIAL_TOKENS,
    book_corpus,
    book_tokenizer,
)
from llm_from_scratch.tokenizer.bpe import Merger, bpe_encode
from llm_from_scratch.tokenizer.naive import naive_bpe_merges
from llm_from_scratch.tokenizer.pretokenize import (
    GPT2_PATTERN,
    GPT4_PATTERN,
    count_pretokens,
    pretokenize,
)
from llm_from_scratch.tokenizer.serialization import load_gpt2_files
from llm_from_scratch.tokenizer.tokenizer import EOT, PieceCache, Tokenizer
from llm_from_scratch.tokenizer.train import bpe_merges, train_bpe

__all__ = [
    "BOOK_SPECIAL_TOKENS",
    "EOT",
    "GPT2_PATTERN",
    "GPT4_PATTERN",
    "Merger",
    "PieceCache",
    "Tokenizer",
    "book_corpus",
    "book_tokenizer",
    "bpe_encode",
    "bpe_merges",
    "count_pretokens",
    "load_gpt2_files",
    "naive_bpe_merges",
    "pretokenize",
    "train_bpe",
]

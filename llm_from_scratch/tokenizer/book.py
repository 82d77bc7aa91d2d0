"""The book's tokenizer: trained once on Shakespeare, cached, reused by every chapter.

Later chapters call ``book_tokenizer()`` and get the same tokenizer whether or
not this chapter ran first: the file name records every setting that shapes
the result and a hash of the corpus, so a changed setting or corpus retrains
instead of silently reusing a stale file.
"""

from __future__ import annotations

import hashlib

from llm_from_scratch.corpora import shakespeare_text
from llm_from_scratch.tokenizer.pretokenize import GPT4_PATTERN
from llm_from_scratch.tokenizer.tokenizer import EOT, Tokenizer
from llm_from_scratch.tokenizer.train import train_bpe
from llm_from_scratch.utils.paths import cache_dir, cache_lock

BOOK_SPECIAL_TOKENS = [
    "<|endoftext|>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|end|>",
]
ALGORITHM_VERSION = 1  # bump when training changes in a way that changes merges


def book_corpus() -> str:
    """The modern-spelling works, one document each, separated by end-of-text."""
    return shakespeare_text("modern", separator=EOT)


def _short_hash(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:12]


def book_tokenizer(vocab_size: int = 4096, progress: bool = False) -> Tokenizer:
    """Byte-level BPE with the GPT-4 pattern, trained on Shakespeare (cached).

    ``vocab_size`` counts the five special tokens (end-of-text and the chat
    markers), which take the last five ids.
    """
    corpus = book_corpus()
    settings = _short_hash(
        str(ALGORITHM_VERSION), GPT4_PATTERN, *BOOK_SPECIAL_TOKENS, corpus
    )
    path = cache_dir("tokenizer") / f"book-bpe-{vocab_size}-{settings}.tok"
    with cache_lock(path.parent, path.name + ".lock"):  # one trainer at a time
        if path.is_file():
            return Tokenizer.load(path)
        vocab, _ = train_bpe(
            corpus, vocab_size, BOOK_SPECIAL_TOKENS, GPT4_PATTERN, progress=progress
        )
        tokenizer = Tokenizer.from_vocab(
            vocab, BOOK_SPECIAL_TOKENS, GPT4_PATTERN, name=f"book-bpe-{vocab_size}"
        )
        tokenizer.save(path)
    return tokenizer

"""Solutions to the exercises of the Tokenization chapter (checked by pytest)."""

from __future__ import annotations

from collections.abc import Mapping

from llm_from_scratch.tokenizer.serialization import merges_from_ranks
from llm_from_scratch.tokenizer.tokenizer import Tokenizer


def recover_merges(ranks: Mapping[bytes, int]) -> list[tuple[bytes, bytes]]:
    """Exercise 1: rebuild the ordered merges from ranks alone.

    tiktoken stores no merge list. Each multi-byte token was made by merging
    two earlier tokens; encoding its bytes with only the earlier merges must
    stop at exactly those two parts. The package needs this too, to write
    merge lists for other tools: ``serialization.merges_from_ranks``.
    """
    return merges_from_ranks(ranks)


def streaming_counterexample() -> tuple[list[str], str]:
    """Exercise 2: chunks whose separate encodings differ from the whole's.

    Cutting inside a word makes two pre-tokens out of one; ``encode_iterable``
    avoids this by holding back the pre-tokens at the end of its buffer.
    """
    chunks = ["To be, or not to be: that is the ques", "tion"]
    return chunks, "".join(chunks)


def unused_tokens(tokenizer: Tokenizer, text: str) -> list[int]:
    """Exercise 3: ordinary tokens that never appear when encoding ``text``.

    A token that was only ever an intermediate step of a longer merge (``"bc"``
    in ``"abc"``) is in the vocabulary but never produced: its embedding
    receives no gradient in training. Such under-trained tokens are how
    "glitch tokens" arise.
    """
    seen = set(tokenizer.encode_ordinary(text))
    return sorted(i for i in tokenizer.ranks.values() if i not in seen and i >= 256)

"""The ``Tokenizer``: text to ids and back, with special tokens.

A tokenizer is three things: the split pattern, the *ranks* (token bytes to
id; a lower id was merged earlier) and the special tokens (string to id).
That is exactly what ``tiktoken.Encoding`` holds, so converting either way is
lossless and both give identical ids.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cached_property
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import regex

from llm_from_scratch.tokenizer.bpe import Merger
from llm_from_scratch.tokenizer.pretokenize import (
    GPT4_PATTERN,
    Splitter,
    check_special_tokens,
    default_workers,
    resolve_pattern,
    special_regex,
    split_special,
)

if TYPE_CHECKING:
    import tiktoken

EOT = "<|endoftext|>"
CACHE_LIMIT = 1 << 18  # distinct pre-tokens remembered by ``encode``


class PieceCache(dict[str, tuple[int, ...]]):
    """Pre-token -> its ids. A hit is a C-level lookup; a miss runs BPE once.

    ``dict`` calls ``__missing__`` only for absent keys, so
    ``map(cache.__getitem__, pieces)`` encodes a whole text with no Python
    loop over its pieces: text repeats, and most pieces are hits. At ``limit``
    entries the cache starts over, bounding memory on endless new text.
    """

    def __init__(self, ranks: dict[bytes, int], limit: int = CACHE_LIMIT) -> None:
        super().__init__()
        self.ranks, self.limit = ranks, limit

    @cached_property
    def merger(self) -> Merger:
        return Merger(self.ranks)  # built on the first miss, not on load

    def __missing__(self, piece: str) -> tuple[int, ...]:
        if len(self) >= self.limit:
            self.clear()
        data = piece.encode("utf-8")
        rank = self.ranks.get(data)  # a whole word is often one token
        ids = (rank,) if rank is not None else tuple(self.merger(data))
        self[piece] = ids
        return ids


class Tokenizer:
    """Byte-level BPE with tiktoken's semantics (same ranks => same ids)."""

    def __init__(
        self,
        ranks: Mapping[bytes, int],
        special_tokens: Mapping[str, int] | None = None,
        pattern: str = GPT4_PATTERN,
        name: str = "llm-from-scratch-bpe",
    ) -> None:
        self.name = name
        self.pattern = resolve_pattern(pattern)
        self._pat = regex.compile(self.pattern)
        self._splitter = Splitter(self.pattern)
        self._ranks = dict(ranks)
        self.special_tokens = dict(special_tokens or {})
        self._check()
        self._decoder = {i: b for b, i in self._ranks.items()}
        for token, i in self.special_tokens.items():
            self._decoder[i] = token.encode("utf-8")
        self._special_all = special_regex(self.special_tokens)
        self._cache = PieceCache(self._ranks)

    def _check(self) -> None:
        """Reject vocabularies that cannot round-trip every string."""
        missing = [i for i in range(256) if bytes([i]) not in self._ranks]
        if missing:
            raise ValueError(f"ranks lack single-byte tokens, e.g. byte {missing[0]}")
        ids = list(self._ranks.values()) + list(self.special_tokens.values())
        if any(not isinstance(i, int) or i < 0 for i in ids):
            raise ValueError("token ids must be non-negative ints")
        if len(set(ids)) != len(ids):
            raise ValueError("token ids must be distinct (ranks and special tokens)")
        check_special_tokens(self.special_tokens)

    # --- construction -------------------------------------------------------
    @classmethod
    def from_vocab(
        cls,
        vocab: Mapping[int, bytes],
        special_tokens: Iterable[str] = (),
        pattern: str = GPT4_PATTERN,
        name: str = "llm-from-scratch-bpe",
    ) -> Tokenizer:
        """From ``train_bpe``'s vocabulary: special tokens are found by bytes."""
        specials = check_special_tokens(special_tokens)
        by_bytes: dict[bytes, int] = {}
        for i, token in vocab.items():
            if token in by_bytes:
                raise ValueError(
                    f"ids {by_bytes[token]} and {i} have the same bytes {token!r}"
                )
            by_bytes[token] = i
        special_ids = {}
        for token in specials:
            if token.encode("utf-8") not in by_bytes:
                raise ValueError(f"special token {token!r} is not in the vocabulary")
            special_ids[token] = by_bytes.pop(token.encode("utf-8"))
        return cls(by_bytes, special_ids, pattern, name)

    @classmethod
    def from_tiktoken(cls, enc: tiktoken.Encoding) -> Tokenizer:
        """Wrap the ranks, specials and pattern of a ``tiktoken.Encoding``."""
        return cls(enc._mergeable_ranks, enc._special_tokens, enc._pat_str, enc.name)

    def to_tiktoken(self) -> tiktoken.Encoding:
        """The same tokenizer run by tiktoken's Rust engine."""
        import tiktoken

        return tiktoken.Encoding(
            self.name,
            pat_str=self.pattern,
            mergeable_ranks=dict(self._ranks),
            special_tokens=dict(self.special_tokens),
        )

    # --- vocabulary ---------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        """One more than the largest id: the embedding table's row count."""
        return max(self._decoder) + 1

    @property
    def eot_id(self) -> int:
        """Id of ``<|endoftext|>``, the document separator."""
        if EOT not in self.special_tokens:
            raise ValueError(f"this tokenizer has no {EOT} special token")
        return self.special_tokens[EOT]

    @property
    def vocab(self) -> dict[int, bytes]:
        """Id to bytes, special tokens included."""
        return dict(self._decoder)

    @property
    def ranks(self) -> dict[bytes, int]:
        """Bytes to id for the ordinary (mergeable) tokens."""
        return dict(self._ranks)

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes of one token (special tokens as their UTF-8)."""
        return self.decode_bytes([token_id])

    # --- encoding -----------------------------------------------------------
    def encode_ordinary(self, text: str) -> list[int]:
        """Encode treating special-token text as plain text (untrusted input).

        Split into pre-tokens, then look each up in the cache, which runs BPE
        only on pieces never seen before (see ``PieceCache``).
        """
        pieces = self._splitter.findall(_as_text(text))
        return list(chain.from_iterable(map(self._cache.__getitem__, pieces)))

    def clear_cache(self) -> None:
        """Forget the pre-tokens seen so far, e.g. to time a cold start."""
        self._cache.clear()

    def encode(
        self, text: str, allowed_special: Literal["all"] | Iterable[str] = "all"
    ) -> list[int]:
        """Encode, turning allowed special-token text into its special id.

        Special tokens that are not allowed are encoded as ordinary text
        (tiktoken would raise instead; pass ``disallowed_special=()`` to it).
        """
        return self._encode_with(_as_text(text), self._allowed(allowed_special))

    def _allowed(self, allowed: Literal["all"] | Iterable[str]) -> regex.Pattern | None:
        if allowed == "all":
            return self._special_all
        if isinstance(allowed, str):
            raise ValueError(f"allowed_special must be 'all' or a set, got {allowed!r}")
        allowed = set(allowed)
        unknown = allowed - set(self.special_tokens)
        if unknown:
            raise ValueError(f"unknown special tokens in allowed_special: {unknown}")
        return special_regex(allowed)

    def encode_iterable(
        self,
        texts: Iterable[str],
        allowed_special: Literal["all"] | Iterable[str] = "all",
        buffer_chars: int = 1 << 16,
    ) -> Iterator[int]:
        """Lazily encode a stream of text (e.g. a file's lines) in bounded memory.

        The result equals ``encode("".join(texts))``: the last two pre-tokens
        of the buffer, and a possible start of a special token, are held back
        until the next chunk shows how they continue.
        """
        special = self._allowed(allowed_special)
        prefixes = {t[:k] for t in self.special_tokens for k in range(1, len(t))}
        buffer = ""
        for chunk in texts:
            buffer += _as_text(chunk)
            if len(buffer) >= buffer_chars:
                ids, buffer = self._drain(buffer, special, prefixes)
                yield from ids
        yield from self._encode_with(buffer, special)

    def _drain(
        self, buffer: str, special: regex.Pattern | None, prefixes: set[str]
    ) -> tuple[list[int], str]:
        """Encode what no later text can change; return the ids and the rest."""
        limit = len(buffer)
        for k in range(min(len(buffer), max(map(len, prefixes), default=0)), 0, -1):
            if buffer[-k:] in prefixes:  # maybe the start of a special token
                limit = len(buffer) - k
                break
        start = 0
        if special is not None:
            for match in special.finditer(buffer, 0, limit):
                start = match.end()
        ids = self._encode_with(buffer[:start], special)  # complete segments
        pieces = list(self._pat.finditer(buffer, start, limit))
        if len(pieces) < 2:
            return ids, buffer[start:]
        for piece in pieces[:-2]:  # exactly the pieces of the whole text
            ids.extend(self._cache[piece.group()])
        return ids, buffer[pieces[-2].start() :]

    def _encode_with(self, text: str, special: regex.Pattern | None) -> list[int]:
        ids: list[int] = []
        for segment, is_special in split_special(text, special):
            if is_special:
                ids.append(self.special_tokens[segment])
            else:
                ids.extend(self.encode_ordinary(segment))
        return ids

    def encode_batch(
        self, texts: Sequence[str], num_workers: int | None = None
    ) -> list[list[int]]:
        """``encode_ordinary`` over many documents, in several processes.

        Worth it for large corpora only: each result is pickled back to the
        parent, which costs a good part of what the workers save.
        """
        texts = [_as_text(t) for t in texts]
        workers = default_workers() if num_workers is None else num_workers
        if workers <= 1 or len(texts) < 2 * workers:
            return [self.encode_ordinary(t) for t in texts]
        context = mp.get_context("fork" if os.name == "posix" else "spawn")
        chunksize = max(1, min(64, len(texts) // (4 * workers)))
        with context.Pool(workers, _init_worker, (self,)) as pool:
            return pool.map(_worker_encode, texts, chunksize=chunksize)

    # --- decoding -----------------------------------------------------------
    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The raw bytes of a sequence of ids."""
        try:
            return b"".join(self._decoder[i] for i in ids)
        except KeyError as err:
            raise ValueError(f"unknown token id {err.args[0]!r}") from None

    def decode(self, ids: Iterable[int]) -> str:
        """Text of a sequence of ids; invalid UTF-8 becomes U+FFFD."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    # --- files --------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write the documented plain-text format (see ``serialization``)."""
        from llm_from_scratch.tokenizer.serialization import save_tokenizer

        return save_tokenizer(self, Path(path))

    @classmethod
    def load(cls, path: str | os.PathLike) -> Tokenizer:
        """Read a file written by ``save``; a corrupt file raises ValueError."""
        from llm_from_scratch.tokenizer.serialization import load_tokenizer

        return load_tokenizer(Path(path))

    def __repr__(self) -> str:
        return (
            f"Tokenizer(name={self.name!r}, vocab_size={self.vocab_size}, "
            f"special_tokens={len(self.special_tokens)})"
        )


def _as_text(text: object) -> str:
    """Check the type, and replace lone surrogates as tiktoken does."""
    if not isinstance(text, str):
        raise TypeError(f"text must be str, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


_WORKER_TOKENIZER: Tokenizer | None = None


def _init_worker(tokenizer: Tokenizer) -> None:
    global _WORKER_TOKENIZER
    _WORKER_TOKENIZER = tokenizer


def _worker_encode(text: str) -> list[int]:
    assert _WORKER_TOKENIZER is not None
    return _WORKER_TOKENIZER.encode_ordinary(text)

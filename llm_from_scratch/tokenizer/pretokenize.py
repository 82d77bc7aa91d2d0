"""Pre-tokenization: cut text into pieces that BPE never merges across.

Without it BPE happily learns tokens like ``"dog."`` and ``"dog!"`` as separate
units and wastes the vocabulary on punctuation glued to words. A regular
expression first splits the text into words, numbers, punctuation runs and
whitespace; BPE then works *inside* each piece. Special tokens such as
``<|endoftext|>`` are cut out before that, so they are never split, never
merged and never counted in training.

The two patterns are exactly the ones tiktoken ships for GPT-2 (``r50k``) and
GPT-4 (``cl100k``); identical patterns are the first half of exact parity.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator

import regex

# GPT-2: optional leading space + letters / digits / other; whitespace runs.
GPT2_PATTERN = (
    r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|"""
    r"""\s++$|\s+(?!\S)|\s"""
)
# GPT-4: case-insensitive contractions, digits in groups of at most 3,
# newlines kept apart from other whitespace.
GPT4_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+|"""
    r""" ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
PATTERNS = {"gpt2": GPT2_PATTERN, "gpt4": GPT4_PATTERN}

# The same patterns for pure-ASCII text, where a letter is [A-Za-z], a number
# [0-9] and whitespace the six ASCII spaces (re.ASCII). The standard library's
# ``re`` runs these about three times faster than ``regex`` runs the Unicode
# patterns; tests check both split every ASCII string identically.
ASCII_PATTERNS = {
    GPT2_PATTERN: (
        r"""'(?:[sdmt]|ll|ve|re)| ?[A-Za-z]++| ?[0-9]++| ?[^\sA-Za-z0-9]++|"""
        r"""\s++$|\s+(?!\S)|\s"""
    ),
    GPT4_PATTERN: (
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\nA-Za-z0-9]?+[A-Za-z]++|[0-9]{1,3}+|"""
        r""" ?[^\sA-Za-z0-9]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
    ),
}


def resolve_pattern(pattern: str) -> str:
    """Accept a pattern's short name ("gpt2", "gpt4") or a regex string."""
    if not isinstance(pattern, str) or not pattern:
        raise TypeError(f"pattern must be a non-empty str, got {pattern!r}")
    return PATTERNS.get(pattern, pattern)


def ascii_regex(pattern: str) -> re.Pattern[str] | None:
    """The fast ASCII-only version of a known pattern (None if there is none).

    Possessive quantifiers need Python 3.11's ``re``; older versions get None.
    """
    ascii_pattern = ASCII_PATTERNS.get(resolve_pattern(pattern))
    if ascii_pattern is None:
        return None
    try:
        return re.compile(ascii_pattern, re.ASCII)
    except re.error:
        return None


class Splitter:
    """A compiled pattern that takes the ASCII fast path when it can."""

    def __init__(self, pattern: str) -> None:
        self.pattern = resolve_pattern(pattern)
        self.unicode = regex.compile(self.pattern)
        self.ascii = ascii_regex(self.pattern)

    def findall(self, text: str) -> list[str]:
        if self.ascii is not None and text.isascii():
            return self.ascii.findall(text)
        return self.unicode.findall(text)


def check_special_tokens(special_tokens: Iterable[str]) -> list[str]:
    """Validate special tokens: non-empty, distinct strings, order kept."""
    if isinstance(special_tokens, str):
        raise TypeError("special_tokens must be a list of str, not a single str")
    tokens = list(special_tokens)
    for token in tokens:
        if not isinstance(token, str) or not token:
            raise ValueError(f"special tokens must be non-empty str, got {token!r}")
    duplicates = sorted({t for t in tokens if tokens.count(t) > 1})
    if duplicates:
        raise ValueError(f"duplicate special tokens: {duplicates}")
    return tokens


def special_regex(special_tokens: Iterable[str]) -> regex.Pattern[str] | None:
    """One alternation of the special tokens, longest first.

    A regex alternation takes the first alternative that matches at the
    leftmost position, so sorting by length makes overlapping tokens
    (``<|end|>`` inside ``<|end|>x``-style families) resolve to the longest.
    """
    tokens = sorted(set(special_tokens), key=lambda t: (-len(t), t))
    if not tokens:
        return None
    return regex.compile("|".join(regex.escape(t) for t in tokens))


def split_special(
    text: str, special: regex.Pattern[str] | None
) -> Iterator[tuple[str, bool]]:
    """Yield ``(segment, is_special)``: ordinary text between special tokens."""
    if special is None:
        if text:
            yield text, False
        return
    start = 0
    for match in special.finditer(text):
        if match.start() > start:
            yield text[start : match.start()], False
        yield match.group(), True
        start = match.end()
    if start < len(text):
        yield text[start:], False


def pretokenize(text: str, pattern: str = GPT4_PATTERN) -> list[str]:
    """Split ordinary text (no special tokens) into pre-tokens."""
    return Splitter(pattern).findall(text)


def _count_chunk(args: tuple[str, str, list[str]]) -> Counter[str]:
    """Count the pre-tokens of one chunk, skipping special tokens."""
    text, pattern, special_tokens = args
    splitter = Splitter(pattern)
    special = special_regex(special_tokens)
    counts: Counter[str] = Counter()
    for segment, is_special in split_special(text, special):
        if not is_special:
            counts.update(splitter.findall(segment))
    return counts


def chunk_at_specials(text: str, special_tokens: list[str], n: int) -> list[str]:
    """Cut ``text`` into about ``n`` pieces, only right before a special token.

    Pre-tokens never span a special token, so counting the pieces separately
    gives exactly the counts of the whole text. Without special tokens there is
    no safe cut and the text stays in one piece.
    """
    special = special_regex(special_tokens)
    if n <= 1 or special is None:
        return [text]
    starts = [m.start() for m in special.finditer(text)]
    cuts = [0]
    for k in range(1, n):
        target = k * len(text) // n
        later = [s for s in starts if s >= max(target, cuts[-1] + 1)]
        if later:
            cuts.append(later[0])
    cuts.append(len(text))
    return [text[a:b] for a, b in zip(cuts, cuts[1:]) if b > a]


def default_workers() -> int:
    """Worker processes for counting: the CPU cores, at most 8."""
    return max(1, min(os.cpu_count() or 1, 8))


def count_pretokens(
    texts: str | Iterable[str],
    pattern: str = GPT4_PATTERN,
    special_tokens: Iterable[str] = (),
    num_workers: int | None = None,
    min_parallel_chars: int = 1 << 20,
    batch_chars: int = 1 << 25,
) -> Counter[bytes]:
    """Count every pre-token (as UTF-8 bytes) in a text or an iterable of texts.

    This is the only pass over the corpus that BPE training needs: merges
    then work on the (far fewer) distinct pre-tokens, weighted by count.
    Texts are taken in batches of about ``batch_chars`` characters (memory
    stays bounded for a stream of documents); a batch of at least
    ``min_parallel_chars`` is counted by ``num_workers`` processes. A single
    large text is first cut into chunks just before special tokens.
    """
    pattern = resolve_pattern(pattern)
    specials = check_special_tokens(special_tokens)
    workers = default_workers() if num_workers is None else num_workers
    # region checks
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"num_workers must be an int >= 1, got {num_workers!r}")
    # endregion
    if isinstance(texts, str):
        chunks: Iterable[str] = [texts]
        if workers > 1 and len(texts) >= min_parallel_chars:
            chunks = chunk_at_specials(texts, specials, 4 * workers)
    else:
        chunks = texts
    total: Counter[str] = Counter()
    pool = None
    try:
        for batch in _batches(chunks, batch_chars):
            jobs = [(text, pattern, specials) for text in batch]
            size = sum(map(len, batch))
            if workers > 1 and len(batch) > 1 and size >= min_parallel_chars:
                if pool is None:
                    context = mp.get_context("fork" if os.name == "posix" else "spawn")
                    pool = context.Pool(workers)
                results = pool.imap_unordered(_count_chunk, jobs)
            else:
                results = map(_count_chunk, jobs)
            for counts in results:
                total.update(counts)
    finally:
        if pool is not None:
            pool.terminate()
    return Counter({k.encode("utf-8"): v for k, v in total.items()})


def _batches(chunks: Iterable[str], batch_chars: int) -> Iterator[list[str]]:
    """Group texts into lists of about ``batch_chars`` characters."""
    batch: list[str] = []
    size = 0
    for chunk in chunks:
        batch.append(_checked(chunk))
        size += len(chunk)
        if size >= batch_chars:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def read_chunks(
    path: str | os.PathLike,
    special_tokens: Iterable[str] = (),
    block_chars: int = 1 << 22,
) -> Iterator[str]:
    """Yield a UTF-8 file's text in pieces that end just before a special token.

    Pre-tokens never span a special token, so counting the pieces separately
    is exact, and a file larger than memory can be counted. A file without
    special tokens has no safe cut and is yielded whole.
    """
    special = special_regex(check_special_tokens(special_tokens))
    buffer = ""
    with open(path, encoding="utf-8", newline="") as file:  # keep \r\n as is
        try:
            while block := file.read(block_chars):
                buffer += block
                last = None
                if special is not None:
                    for last in special.finditer(buffer):
                        pass
                if last is not None and last.start() > 0:
                    yield buffer[: last.start()]
                    buffer = buffer[last.start() :]
        except UnicodeDecodeError as err:
            raise ValueError(f"{path} is not valid UTF-8 ({err.reason})") from None
    if buffer:
        yield buffer


def _checked(text: object) -> str:
    if not isinstance(text, str):
        raise TypeError(f"texts must be str, got {type(text).__name__}")
    return text

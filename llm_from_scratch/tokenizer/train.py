"""Training byte-level BPE, fast: count once, then update counts incrementally.

The naive trainer (``naive.py``) recounts every pair after every merge. Here:

1. the corpus is read once and reduced to counts of distinct pre-tokens
   (in parallel over chunks, see ``pretokenize.count_pretokens``);
2. pair counts are built once, with an index from each pair to the words
   that contain it;
3. a merge touches only the words in its index entry, and in them only the
   pairs around a merge site change; a max-heap (with lazy deletion of stale
   entries) finds the next most frequent pair in O(log n). Index entries are
   never removed: a word that lost the pair is simply skipped.

Ties between equally frequent pairs go to the lexicographically greatest
``(bytes, bytes)`` pair, exactly as in the naive trainer.
"""

from __future__ import annotations

import heapq
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from tqdm import tqdm

from llm_from_scratch.tokenizer.naive import merge_word
from llm_from_scratch.tokenizer.pretokenize import (
    GPT4_PATTERN,
    check_special_tokens,
    count_pretokens,
    read_chunks,
)

Pair = tuple[int, int]


def _pop_best(
    heap: list[tuple[int, Pair]], counts: dict[Pair, int], vocab: list[bytes]
) -> Pair | None:
    """Pop the most frequent live pair; among ties, the greatest bytes pair."""
    while heap and counts.get(heap[0][1]) != -heap[0][0]:
        heapq.heappop(heap)  # stale: the pair's count changed since the push
    if not heap:
        return None
    top = heap[0][0]
    ties: set[Pair] = set()
    while heap and heap[0][0] == top:
        _, pair = heapq.heappop(heap)
        if counts.get(pair) == -top:
            ties.add(pair)
    best = max(ties, key=lambda p: (vocab[p[0]], vocab[p[1]]))
    for pair in ties - {best}:
        heapq.heappush(heap, (top, pair))
    return best


def bpe_merges(
    word_counts: Mapping[bytes, int],
    num_merges: int,
    progress: bool = False,
    on_merge: Callable[[tuple[bytes, bytes], int], None] | None = None,
) -> list[tuple[bytes, bytes]]:
    """Learn up to ``num_merges`` merges from pre-token counts.

    Stops early only when no pair is left (every pre-token is one token).
    ``on_merge(pair, count)`` is called for each merge, e.g. to plot counts.
    """
    vocab = [bytes([i]) for i in range(256)]
    words = [list(w) for w in word_counts]
    freqs = list(word_counts.values())
    counts: dict[Pair, int] = defaultdict(int)
    where: dict[Pair, set[int]] = defaultdict(set)
    for i, (word, freq) in enumerate(zip(words, freqs)):
        for pair in zip(word, word[1:]):
            counts[pair] += freq
            where[pair].add(i)
    heap = [(-c, p) for p, c in counts.items()]
    heapq.heapify(heap)
    merges: list[tuple[bytes, bytes]] = []
    for _ in tqdm(range(num_merges), disable=not progress, desc="merges"):
        best = _pop_best(heap, counts, vocab)
        if best is None:
            break
        a, b = best
        new_id = len(vocab)
        vocab.append(vocab[a] + vocab[b])
        merges.append((vocab[a], vocab[b]))
        if on_merge is not None:
            on_merge(merges[-1], counts[best])
        delta: dict[Pair, int] = defaultdict(int)
        for i in where.pop(best):
            old = words[i]
            if len(old) < 2 or best not in zip(old, old[1:]):
                continue  # stale index entry: the pair left this word earlier
            new = merge_word(old, best, new_id)
            freq = freqs[i]
            # Only pairs touching a merge site change: they contain a, b or new.
            for pair in zip(old, old[1:]):
                if a in pair or b in pair:
                    delta[pair] -= freq
            for pair in zip(new, new[1:]):
                if new_id in pair:
                    delta[pair] += freq
                    where[pair].add(i)
                elif a in pair or b in pair:
                    delta[pair] += freq
            words[i] = new
        del counts[best]
        delta.pop(best, None)
        for pair, change in delta.items():
            if change:
                count = counts[pair] + change
                if count:
                    counts[pair] = count
                    heapq.heappush(heap, (-count, pair))
                else:
                    del counts[pair]
    return merges


Corpus = str | os.PathLike | Sequence[os.PathLike] | Iterable[str]


def _stream_files(
    paths: list[Path], special_tokens: list[str], progress: bool
) -> Iterator[str]:
    """The files' text, in pieces cut just before special tokens (exact counts).

    Each file is its own document: no pre-token spans two files. The bar
    counts bytes read, so it moves on a multi-gigabyte corpus too.
    """
    total = sum(path.stat().st_size for path in paths)
    bar = tqdm(total=total, unit="B", unit_scale=True, desc="counting",
               disable=not progress)
    with bar:
        for path in paths:
            for chunk in read_chunks(path, special_tokens):
                bar.update(len(chunk.encode("utf-8")))
                yield chunk


def _read_input(
    input: Corpus, special_tokens: list[str], progress: bool = False
) -> str | Iterable[str]:
    """Paths are streamed from disk; a str is the text itself; else texts."""
    if isinstance(input, os.PathLike):
        paths = [Path(input)]
    elif (
        isinstance(input, (list, tuple))
        and input
        and all(isinstance(p, os.PathLike) for p in input)
    ):
        paths = [Path(p) for p in input]
    elif isinstance(input, (bytes, bytearray)):
        raise TypeError("input must be str text, paths or texts, not bytes")
    elif isinstance(input, str) or isinstance(input, Iterable):
        return input
    else:
        raise TypeError(
            f"input must be paths, a str or texts, not {type(input).__name__}"
        )
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"training corpus {path} does not exist")
    return _stream_files(paths, special_tokens, progress)


def train_bpe(
    input: Corpus,
    vocab_size: int,
    special_tokens: Iterable[str] = (),
    pattern: str = GPT4_PATTERN,
    num_workers: int | None = None,
    progress: bool = False,
    on_merge: Callable[[tuple[bytes, bytes], int], None] | None = None,
) -> tuple[dict[int, bytes], list[tuple[bytes, bytes]]]:
    """Train a byte-level BPE tokenizer.

    ``input`` is a ``pathlib.Path`` or a list of them (UTF-8 files, one
    document each, read in pieces cut before special tokens, so a large file
    of special-token-separated documents never sits in memory whole), a
    ``str`` holding the text itself, or an iterable of ``str`` documents.
    Returns the vocabulary (ids 0-255 are the bytes, then one id per merge in
    order, then the special tokens) and the ordered merges. ``vocab_size``
    counts the special tokens.
    """
    specials = check_special_tokens(special_tokens)
    # region checks
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool):
        raise TypeError(f"vocab_size must be an int, got {vocab_size!r}")
    if vocab_size < 256 + len(specials):
        raise ValueError(
            f"vocab_size must be >= 256 + {len(specials)} special tokens "
            f"= {256 + len(specials)}, got {vocab_size}"
        )
    # endregion
    texts = _read_input(input, specials, progress)
    word_counts = count_pretokens(texts, pattern, specials, num_workers)
    # region checks
    if not word_counts:
        raise ValueError("the training corpus is empty (no text outside specials)")
    # endregion
    num_merges = vocab_size - 256 - len(specials)
    merges = bpe_merges(word_counts, num_merges, progress, on_merge)
    # region checks
    if len(merges) < num_merges:
        raise ValueError(
            f"the corpus supports only {len(merges)} merges: vocab_size can be at "
            f"most {256 + len(merges) + len(specials)}, got {vocab_size}"
        )
    # endregion
    vocab = {i: bytes([i]) for i in range(256)}
    for a, b in merges:
        vocab[len(vocab)] = a + b
    for token in specials:
        vocab[len(vocab)] = token.encode("utf-8")
    return vocab, merges

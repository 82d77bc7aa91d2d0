"""Applying learned merges to one pre-token, the way tiktoken does.

A trained BPE vocabulary is fully described by *ranks*: each token's bytes
and its id, where a lower id means the merge was learned earlier. To encode a
pre-token, start from single bytes and repeatedly merge the adjacent pair
whose concatenation has the lowest rank (the leftmost on a tie) until no
adjacent concatenation is a token. This is tiktoken's algorithm, so the same
ranks give the same ids.
"""

from __future__ import annotations

import heapq


def bpe_encode(piece: bytes, ranks: dict[bytes, int]) -> list[int]:
    """Token ids of one pre-token: lowest-rank merge first, leftmost on ties."""
    if len(piece) > 64:
        return _bpe_encode_heap(piece, ranks)
    parts = [piece[i : i + 1] for i in range(len(piece))]
    while len(parts) > 1:
        best_rank, best_i = None, -1
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is not None and (best_rank is None or rank < best_rank):
                best_rank, best_i = rank, i
        if best_rank is None:
            break
        parts[best_i : best_i + 2] = [parts[best_i] + parts[best_i + 1]]
    return [ranks[p] for p in parts]


def _bpe_encode_heap(piece: bytes, ranks: dict[bytes, int]) -> list[int]:
    """The same algorithm in O(n log n), for long pieces (whitespace runs).

    Parts form a linked list; a heap holds (rank, start) of candidate merges,
    and an entry is skipped when its two parts no longer span the same bytes.
    """
    n = len(piece)
    nxt = list(range(1, n + 1))  # start of the next part (n = end)
    prv = list(range(-1, n - 1))
    alive = [True] * n
    heap: list[tuple[int, int, int]] = []

    def push(start: int) -> None:
        mid = nxt[start]
        if mid < n:
            rank = ranks.get(piece[start : nxt[mid]])
            if rank is not None:
                heapq.heappush(heap, (rank, start, nxt[mid]))

    for i in range(n - 1):
        push(i)
    while heap:
        rank, start, end = heapq.heappop(heap)
        if not alive[start] or nxt[start] >= n or nxt[nxt[start]] != end:
            continue  # stale: one of the two parts changed
        mid = nxt[start]
        alive[mid] = False
        nxt[start] = end
        if end < n:
            prv[end] = start
        push(start)
        if prv[start] >= 0:
            push(prv[start])
    out, i = [], 0
    while i < n:
        out.append(ranks[piece[i : nxt[i]]])
        i = nxt[i]
    return out

r"""Log-likelihood scoring: how probable the model finds a continuation.

Most benchmarks of base models never let the model write: each answer option is
a *continuation* $y = (y_1..y_m)$ of a *context* $x$, and the model's score of
it is

$$\log p_\theta(y \mid x) = \sum_{j=1}^{m} \log p_\theta(y_j \mid x, y_{<j}).$$

One forward pass over the tokens of $x$ followed by $y$ gives every term: the
logits at the position before $y_j$ predict $y_j$. Items of a batch are
right-padded: under a causal mask a token never sees the padding after it, so
no attention mask is needed and the book's KV-free forward pass is exact.

Token boundaries at the join follow lm-evaluation-harness
{cite}`gao2024harness`: trailing whitespace of the context moves to the
continuation (a BPE merges a space with the word after it), the whole string is
encoded once and the continuation is what follows the context's own encoding,
and an empty context becomes the end-of-text token. Inputs longer than the
model's context are cut on the left, keeping the continuation whole.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

try:
    from tqdm.auto import tqdm
except ImportError:  # pragma: no cover - tqdm ships with the environment
    tqdm = None


class EncodesText(Protocol):
    eot_id: int

    def encode_ordinary(self, text: str) -> list[int]: ...


@dataclass(frozen=True)
class Score:
    """Log-likelihood of one continuation: the sum over its tokens (nats), its
    token count, and whether greedy decoding would have produced it."""

    logprob: float
    n_tokens: int
    is_greedy: bool


def encode_pair(
    tok: EncodesText, context: str, continuation: str
) -> tuple[list[int], list[int]]:
    """Context and continuation token ids, split as lm-evaluation-harness does."""
    if context == "":
        cont = tok.encode_ordinary(continuation)
        if cont and cont[0] == tok.eot_id:
            return cont[:1], cont[1:]
        return [tok.eot_id], cont
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
    whole = tok.encode_ordinary(context + continuation)
    ctx = tok.encode_ordinary(context)
    return ctx, whole[len(ctx):]


def _window(
    ctx: Sequence[int], cont: Sequence[int], max_len: int
) -> tuple[list[int], int]:
    """Model input (context + continuation minus its last token, left-cut to
    ``max_len``) and the number of continuation tokens it predicts."""
    if not cont:
        raise ValueError("continuation has no tokens")
    if len(cont) > max_len:
        raise ValueError(
            f"continuation of {len(cont)} tokens exceeds the model's context "
            f"({max_len})"
        )
    ids = [*ctx, *cont][-(max_len + 1):][:-1]
    return ids, len(cont)


@torch.inference_mode()
def score_tokens(
    model: nn.Module,
    pairs: Sequence[tuple[Sequence[int], Sequence[int]]],
    batch_size: int = 32,
    progress: bool = False,
) -> list[Score]:
    """Score (context ids, continuation ids) pairs, ``batch_size`` at a time.

    Pairs whose model input is identical (options of one token after the same
    context, as in MMLU) share one row. Inputs are sorted longest first so each
    batch holds similar lengths (less padding), then right-padded with token 0
    into one (B, T) forward pass. The log-softmax is taken only at the
    continuation positions, all rows at once. Results come back in input order.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    model.eval()
    max_len = model.config.max_positions
    windows = [_window(c, y, max_len) for c, y in pairs]
    groups: dict[tuple[int, ...], list[int]] = {}  # one row per distinct input
    for i, (ids, _) in enumerate(windows):
        groups.setdefault(tuple(ids), []).append(i)
    inputs = sorted(groups, key=len, reverse=True)
    device = next(model.parameters()).device
    out: list[Score | None] = [None] * len(pairs)
    starts = range(0, len(inputs), batch_size)
    if progress and tqdm is not None:
        starts = tqdm(starts, desc="scoring", unit="batch")
    for s in starts:
        batch = inputs[s:s + batch_size]
        idx = torch.zeros(len(batch), len(batch[0]), dtype=torch.long)
        for r, ids in enumerate(batch):
            idx[r, : len(ids)] = torch.tensor(ids)
        logits = model(idx.to(device))
        # every continuation position of the batch in one (N, V) gather
        rows, rr, pos, target = [], [], [], []
        for r, ids in enumerate(batch):
            for i in groups[ids]:
                m = windows[i][1]
                rows.append(i)
                rr += [r] * m
                pos += range(len(ids) - m, len(ids))
                target += pairs[i][1]
        picked = logits[torch.tensor(rr, device=device),
                        torch.tensor(pos, device=device)].float()
        logp = F.log_softmax(picked, dim=-1)
        tgt = torch.tensor(target, device=device)
        token_lp = logp.gather(1, tgt[:, None])[:, 0].tolist()
        hit = (logp.argmax(-1) == tgt).tolist()
        at = 0
        for i in rows:
            m = windows[i][1]
            out[i] = Score(float(sum(token_lp[at:at + m])), m, all(hit[at:at + m]))
            at += m
    return [s for s in out if s is not None]


@torch.no_grad()
def score_one(model: nn.Module, ctx: Sequence[int], cont: Sequence[int]) -> Score:
    """The same score for one pair, unbatched and token by token: the plain
    definition, kept as the test oracle of ``score_tokens``."""
    ids, m = _window(ctx, cont, model.config.max_positions)
    logits = model(torch.tensor([ids]))[0].float()
    total, greedy = 0.0, True
    for j, token in enumerate(cont):
        row = F.log_softmax(logits[len(ids) - m + j], dim=-1)
        total += float(row[token])
        greedy &= int(row.argmax()) == token
    return Score(total, m, greedy)


def loglikelihood(
    model: nn.Module, tok: EncodesText, requests: Sequence[tuple[str, str]],
    batch_size: int = 32, progress: bool = False,
) -> list[Score]:
    """Score (context, continuation) strings (see ``encode_pair``)."""
    pairs = [encode_pair(tok, c, y) for c, y in requests]
    for n, ((c, y), (_, ids)) in enumerate(zip(requests, pairs)):
        if not ids:
            raise ValueError(
                f"request {n}: continuation {y!r} tokenizes to nothing after "
                f"context {c[-40:]!r}"
            )
    return score_tokens(model, pairs, batch_size, progress)


def rolling_windows(
    tokens: Sequence[int], prefix: int, max_len: int
) -> list[tuple[list[int], list[int]]]:
    """(context, continuation) windows covering ``tokens`` for perplexity.

    The first window predicts the first ``max_len`` tokens after ``prefix``;
    each next one predicts the next ``max_len`` tokens, conditioned on the
    token before them, so every token is predicted exactly once (what
    lm-evaluation-harness's ``loglikelihood_rolling`` does with context_len=1);
    the last, shorter window keeps a full context of earlier tokens.
    """
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    toks = list(tokens)
    out = []
    for start in range(0, len(toks), max_len):
        cont = toks[start:start + max_len]
        end = start + len(cont)
        ctx = [prefix] if start == 0 else toks[max(0, end - max_len - 1):start]
        out.append((ctx, cont))
    return out


def rolling_loglikelihood(
    model: nn.Module, tok: EncodesText, texts: Sequence[str],
    batch_size: int = 32, max_len: int | None = None, progress: bool = False,
) -> list[float]:
    """Total log-likelihood (nats) of each text, over windows of the context."""
    max_len = max_len or model.config.max_positions
    windows, owner = [], []
    for n, text in enumerate(texts):
        for w in rolling_windows(tok.encode_ordinary(text), tok.eot_id, max_len):
            windows.append(w)
            owner.append(n)
    totals = [0.0] * len(texts)
    for n, s in zip(owner, score_tokens(model, windows, batch_size, progress)):
        totals[n] += s.logprob
    return totals


def bits_per_byte(
    model: nn.Module, tok: EncodesText, texts: Sequence[str], **kwargs: Any
) -> tuple[float, list[float], list[int]]:
    """Bits per UTF-8 byte over ``texts``, and each text's nats and bytes."""
    nats = [-ll for ll in rolling_loglikelihood(model, tok, texts, **kwargs)]
    n_bytes = [len(t.encode("utf-8")) for t in texts]
    if sum(n_bytes) == 0:
        raise ValueError("texts hold no bytes")
    return sum(nats) / (math.log(2) * sum(n_bytes)), nats, n_bytes

"""Speculative decoding: a small draft guesses k tokens, the target checks them all
in one forward pass (Leviathan et al., 2023; Chen et al., 2023).

Draft token x, drawn from the draft's q, is kept with probability
min(1, p(x) / q(x)) under the target's p. At the first rejection a replacement is
drawn from norm(max(0, p - q)); when all k are kept, the target's distribution
after them gives one more token for free. Each kept or drawn token is then
distributed exactly as the target alone would sample it, so the output has the
target's distribution (greedy: the target's exact tokens) whatever the draft;
a good draft only makes it faster. Both models keep a KV cache; rejected
tokens are dropped by rewinding the caches' lengths.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor

from llm_from_scratch.model import Transformer
from llm_from_scratch.model.generation import sampling_probs


@dataclass
class SpecStats:
    """Counts of one speculative generation."""

    rounds: int = 0
    proposed: int = 0
    accepted: int = 0
    target_forwards: int = 0
    draft_forwards: int = 0

    @property
    def acceptance_rate(self) -> float:
        """Share of proposed draft tokens the target kept."""
        return self.accepted / self.proposed if self.proposed else float("nan")


def expected_tokens_per_round(alpha: float, k: int) -> float:
    """Tokens one round yields when each draft token is kept with probability
    alpha independently: 1 + alpha + ... + alpha^k = (1 - alpha^(k+1)) / (1 - alpha)."""
    if alpha >= 1:
        return float(k + 1)
    return (1 - alpha ** (k + 1)) / (1 - alpha)


def verify(
    p: Tensor, q: Tensor, proposed: list[int], generator: torch.Generator | None
) -> tuple[int, int]:
    """The rejection rule. p (k + 1, V) target probabilities at each proposal and
    after the last, q (k, V) draft probabilities, ``proposed`` the k draft ids.

    Returns (number kept, the next token: a replacement or the bonus token).
    One-hot p and q (greedy) keep a token exactly when it is the target's argmax.
    """
    for i, x in enumerate(proposed):
        ratio = p[i, x] / q[i, x]  # q[i, x] > 0: x was drawn from q
        u = torch.rand((), generator=generator, device=p.device)
        if bool(u >= ratio):  # rejected
            residual = (p[i] - q[i]).clamp(min=0)
            total = residual.sum()
            residual = p[i] if bool(total <= 0) else residual / total
            return i, _draw(residual, generator)
    return len(proposed), _draw(p[len(proposed)], generator)


def _draw(probs: Tensor, generator: torch.Generator | None) -> int:
    if bool((probs == 1).any()):  # one-hot: no randomness needed
        return int(probs.argmax())
    return int(torch.multinomial(probs, 1, generator=generator))


@torch.no_grad()
def speculative_generate(
    target: Transformer,
    draft: Transformer,
    prompt: list[int] | Tensor,
    max_new_tokens: int,
    k: int = 4,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    stop_tokens: list[int] | None = None,
    generator: torch.Generator | None = None,
) -> tuple[list[int], SpecStats]:
    """New token ids for one prompt (a stop token, if one comes, is the last id).

    ``k`` draft tokens per round; k = 0 is plain decoding with the target.
    """
    if target.config.vocab_size != draft.config.vocab_size:
        raise ValueError(
            f"draft vocab_size {draft.config.vocab_size} != target's "
            f"{target.config.vocab_size}: they must share a tokenizer"
        )
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ValueError(f"k must be an int >= 0, got {k!r}")
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or (
        max_new_tokens < 1
    ):
        raise ValueError(f"max_new_tokens must be an int >= 1, got {max_new_tokens!r}")
    sample = {"temperature": temperature, "top_k": top_k, "top_p": top_p}
    sampling_probs(torch.zeros(2), **sample)  # validates the settings
    ids = torch.as_tensor(prompt, dtype=torch.long).reshape(-1).tolist()
    if not ids:
        raise ValueError("prompt must hold at least one token")
    cap = len(ids) + max_new_tokens + k + 1
    for name, m in (("target", target), ("draft", draft)):
        if cap > m.config.max_positions:
            raise ValueError(
                f"prompt + max_new_tokens + k + 1 = {cap} exceeds the {name}'s "
                f"{m.config.max_positions} positions"
            )
    dev_t = target.tok_embeddings.weight.device
    dev_d = draft.tok_embeddings.weight.device
    tc, dc = target.init_kv_cache(1, cap), draft.init_kv_cache(1, cap)
    if len(ids) > 1:  # both caches hold everything but the newest token
        target(torch.tensor([ids[:-1]], device=dev_t), kv_cache=tc)
        draft(torch.tensor([ids[:-1]], device=dev_d), kv_cache=dc)
    last, pending = ids[-1], [ids[-1]]  # pending: tokens the draft has not seen
    stops = set(stop_tokens or [])
    out: list[int] = []
    stats = SpecStats()
    while len(out) < max_new_tokens:
        kk = min(k, max_new_tokens - len(out) - 1)
        proposed, qs = [], []
        if kk > 0:
            d_base = dc.length
            logits = draft(torch.tensor([pending], device=dev_d), kv_cache=dc)[0, -1]
            for i in range(kk):
                q = sampling_probs(logits, **sample)
                proposed.append(_draw(q, generator))
                qs.append(q)
                if i + 1 < kk:
                    step = torch.tensor([[proposed[-1]]], device=dev_d)
                    logits = draft(step, kv_cache=dc)[0, -1]
            stats.draft_forwards += kk
        t_base = tc.length
        feed = torch.tensor([[last, *proposed]], device=dev_t)
        p = sampling_probs(target(feed, kv_cache=tc)[0], **sample)
        q = torch.stack(qs).to(p.device) if qs else p[:0]
        kept, nxt = verify(p, q, proposed, generator)
        tc.length = t_base + 1 + kept  # drop the rejected proposals' keys
        if kk > 0:
            if kept < kk:
                dc.length = d_base + len(pending) + kept
                pending = [nxt]
            else:  # the draft never saw its own last proposal
                pending = [proposed[-1], nxt]
        else:
            pending.append(nxt)
        stats.rounds += 1
        stats.target_forwards += 1
        stats.proposed += kk
        stats.accepted += kept
        new = [*proposed[:kept], nxt]
        for t in new:
            out.append(t)
            if t in stops:
                return out, stats
        last = nxt
    return out, stats


def draft_config() -> Any:
    """The draft's training run: the book model's settings, one layer of width
    64 and 300 steps (well under a minute on 2 CPU cores), same shards and
    tokenizer, so the two models share a vocabulary."""
    from llm_from_scratch.train.pretrained import BOOK_CONFIG

    return replace(BOOK_CONFIG, d_model=64, n_layers=1, n_heads=2, steps=300)


def draft_model() -> tuple[Transformer, Any]:
    """The draft model and its config: from the cache (keyed by config and
    data, like ``book_model``), or trained now."""
    from llm_from_scratch.train import book_model

    return book_model(draft_config())

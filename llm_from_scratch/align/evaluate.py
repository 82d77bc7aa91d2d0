"""Measuring what each stage changed: task accuracy, preferences, reward, toxicity.

Generation groups prompts of equal token length into one batch: the model has no
padding mask, and a causal model generating after left padding would attend to
the pads.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from typing import Protocol

import torch
from torch import nn

from llm_from_scratch.align.chat import END, ChatTokenizer, Message, encode_prompt
from llm_from_scratch.align.data import PreferencePair, task_prompt, task_reward
from llm_from_scratch.align.dpo import pair_logprobs
from llm_from_scratch.align.reward import RewardModel, pair_examples, score


class TextJudge(Protocol):
    def predict_proba(self, texts: Sequence[str]) -> Sequence[float]: ...


def reply_text(tok: ChatTokenizer, completion: Sequence[int]) -> str:
    """The text of a sampled reply, without its closing ``<|end|>``."""
    end = tok.special_tokens[END]
    ids = list(completion)
    return tok.decode(ids[: ids.index(end)] if end in ids else ids)


@torch.no_grad()
def generate_replies(
    model: nn.Module,
    tok: ChatTokenizer,
    prompts: Sequence[Sequence[Message]],
    *,
    max_new_tokens: int = 32,
    temperature: float = 0.0,
    top_k: int | None = None,
    seed: int = 0,
) -> list[list[int]]:
    """One completion (token ids, cut after ``<|end|>``) per prompt; greedy at 0."""
    model.eval()
    end = tok.special_tokens[END]
    generator = torch.Generator().manual_seed(seed)
    encoded = [encode_prompt(tok, p) for p in prompts]
    by_length: dict[int, list[int]] = defaultdict(list)
    for i, ids in enumerate(encoded):
        by_length[len(ids)].append(i)
    out: list[list[int]] = [[] for _ in prompts]
    for length in sorted(by_length):
        rows = by_length[length]
        idx = torch.tensor([encoded[i] for i in rows])
        new = model.generate(
            idx, max_new_tokens, temperature=temperature, top_k=top_k,
            stop_tokens=[end], generator=generator,
        )[:, length:]
        for i, row in zip(rows, new.tolist()):
            out[i] = row[: row.index(end) + 1] if end in row else row
    return out


def task_accuracy(
    model: nn.Module, tok: ChatTokenizer, task: str,
    problems: Sequence[tuple[int, int]], *, samples: int = 0, seed: int = 0,
) -> float:
    """Fraction of a verifiable task's replies that are exact.

    ``samples=0``: one greedy reply per problem (what the model "knows").
    ``samples=n``: ``n`` replies per problem sampled at temperature 1, the
    expected accuracy of a sampled reply (pass@1), which is what RL maximises
    and which moves smoothly where greedy accuracy jumps.
    """
    if samples < 0:
        raise ValueError(f"samples must be >= 0, got {samples}")
    repeats = max(samples, 1)
    problems = [p for p in problems for _ in range(repeats)]
    prompts = [task_prompt(task, a, b) for a, b in problems]
    replies = generate_replies(model, tok, prompts, max_new_tokens=4,
                               temperature=1.0 if samples else 0.0, seed=seed)
    rewards = [task_reward(task, reply_text(tok, r), a, b)
               for r, (a, b) in zip(replies, problems)]
    return sum(rewards) / len(rewards)


def stop_rate(tok: ChatTokenizer, replies: Sequence[Sequence[int]]) -> float:
    """Fraction of replies that end with ``<|end|>`` (within the token budget):
    the chat format's "answer, then stop", which a base model never does."""
    if not replies:
        raise ValueError("stop_rate needs at least one reply")
    end = tok.special_tokens[END]
    return sum(bool(r) and r[-1] == end for r in replies) / len(replies)


@torch.no_grad()
def preference_accuracy(
    model: nn.Module,
    tok: ChatTokenizer,
    pairs: Sequence[PreferencePair],
    pad_id: int,
    max_tokens: int = 128,
) -> float:
    """Fraction of pairs where the model gives the chosen reply the higher
    log-probability (what it would pick if asked to choose)."""
    model.eval()
    chosen, rejected = zip(*(pair_examples(tok, p, max_tokens) for p in pairs))
    logp_w, logp_l = pair_logprobs(model, chosen, rejected, pad_id)
    return float((logp_w > logp_l).float().mean())


def win_rate(
    rm: RewardModel,
    tok: ChatTokenizer,
    prompts: Sequence[Sequence[Message]],
    replies: Sequence[Sequence[int]],
    references: Sequence[str],
    pad_id: int,
) -> float:
    """How often the reward model scores a reply above the dataset's reference
    reply to the same prompt (ties count half)."""
    end = tok.special_tokens[END]
    ours, theirs = [], []
    for prompt, reply, ref in zip(prompts, replies, references, strict=True):
        head = encode_prompt(tok, prompt)
        body = list(reply) if reply and reply[-1] == end else [*reply, end]
        ours.append(head + body)
        theirs.append(head + tok.encode_ordinary(ref) + [end])
    a, b = score(rm, ours, pad_id), score(rm, theirs, pad_id)
    return float(((a > b).float() + 0.5 * (a == b).float()).mean())


def toxic_rate(judge: TextJudge, texts: Sequence[str], threshold: float = 0.5) -> float:
    """Fraction of texts the judge scores at or above ``threshold``."""
    if not texts:
        raise ValueError("toxic_rate needs at least one text")
    said = [t for t in texts if t.strip()]  # an empty reply insults nobody
    probs = judge.predict_proba(said) if said else []
    return sum(p >= threshold for p in probs) / len(texts)


_WORD = re.compile(r"[a-z']+")


def words(text: str) -> list[str]:
    """The lower-cased words of a text (letters and apostrophes)."""
    return _WORD.findall(text.lower())


def vocabulary(texts: Iterable[str]) -> set[str]:
    """Every word that occurs in ``texts``: a dictionary for ``known_word_rate``."""
    return {w for t in texts for w in words(t)}


def known_word_rate(texts: Sequence[str], known: Collection[str]) -> float:
    """Share of the words in ``texts`` found in ``known``.

    A crude fluency check that no reward model was trained on: a policy that
    games its reward model with made-up strings scores low here.
    """
    found = [w for t in texts for w in words(t)]
    if not found:
        return 0.0
    return sum(w in known for w in found) / len(found)

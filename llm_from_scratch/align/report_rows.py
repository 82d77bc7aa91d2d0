"""What the chapter measures on a trained stage, one table row per model.

``evaluation_row`` scores a model on the held-out data (sampled chat replies
that stop, task accuracy greedy and sampled, preference accuracy, reward-model
win rate, toxic replies); ``hacking_row`` sets what the reward model sees next
to what it does not, to show reward hacking; ``logprob_drift`` measures how far
preference training moved the policy from its reference. Each combines the
metrics of ``align.evaluate``; none trains anything.
"""

from __future__ import annotations

import torch
from torch import nn

from llm_from_scratch.align.batching import pad_batch
from llm_from_scratch.align.chat import END, ChatTokenizer, encode_prompt
from llm_from_scratch.align.data import PreferencePair
from llm_from_scratch.align.evaluate import (
    TextJudge,
    generate_replies,
    known_word_rate,
    preference_accuracy,
    reply_text,
    stop_rate,
    task_accuracy,
    toxic_rate,
    win_rate,
)
from llm_from_scratch.align.losses import sequence_logprob
from llm_from_scratch.align.recipe import AlignData
from llm_from_scratch.align.reward import RewardModel, pair_examples, score


@torch.no_grad()
def logprob_drift(
    model: nn.Module, ref: nn.Module, tok: ChatTokenizer,
    pairs: list[PreferencePair], pad_id: int, max_tokens: int,
) -> float:
    """Mean absolute change of ``log pi(chosen | prompt)`` from ``ref`` to ``model``:
    how far preference training moved the policy, in nats per reply."""
    chosen = [pair_examples(tok, p, max_tokens)[0] for p in pairs]
    inputs, targets = pad_batch(chosen, pad_id)
    a = sequence_logprob(model(inputs), targets)
    b = sequence_logprob(ref(inputs), targets)
    return float((a - b).abs().mean())


def evaluation_row(
    model: nn.Module, tok: ChatTokenizer, data: AlignData, rm: RewardModel,
    judge: TextJudge, pad_id: int, max_tokens: int, seed: int = 0,
    samples: int = 4, task_samples: int = 16,
) -> dict[str, float]:
    """The chapter's metrics for one model, each on held-out data.

    Replies to the held-out chat prompts are *sampled* (temperature 1, top-k 50,
    fixed seed), ``samples`` per prompt, as a deployed chat model's would be, so
    rare behaviours such as rudeness show up at their real rate, in enough
    replies to compare two models. The task is scored greedily and sampled.
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    prompts = [c[:1] for c in data.chat_val for _ in range(samples)]
    replies = generate_replies(model, tok, prompts, max_new_tokens=24,
                               temperature=1.0, top_k=50, seed=seed)
    texts = [reply_text(tok, r) for r in replies]
    references = [c[1].content for c in data.chat_val for _ in range(samples)]
    return {
        "replies that stop": stop_rate(tok, replies),
        "task accuracy (greedy)": task_accuracy(model, tok, data.task, data.task_test),
        "task accuracy (sampled)": task_accuracy(
            model, tok, data.task, data.task_test, samples=task_samples, seed=seed
        ),
        "preference accuracy": preference_accuracy(
            model, tok, data.pairs_val, pad_id, max_tokens
        ),
        "reward win rate": win_rate(rm, tok, prompts, replies, references, pad_id),
        "toxic replies": toxic_rate(judge, texts),
    }


def hacking_row(
    model: nn.Module, tok: ChatTokenizer, data: AlignData, rm: RewardModel,
    known: set[str], pad_id: int, samples: int = 4, seed: int = 0,
) -> dict[str, float]:
    """What the reward model sees next to what it does not, for one policy.

    On sampled replies to the held-out chat prompts: the reward model's mean
    score and its win rate against the reference replies (what RLHF optimises),
    and two things it was never trained on: the share of real words (from
    ``known``) and how many replies end with ``<|end|>``.
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    end = tok.special_tokens[END]
    prompts = [c[:1] for c in data.chat_val for _ in range(samples)]
    replies = generate_replies(model, tok, prompts, max_new_tokens=24,
                               temperature=1.0, top_k=50, seed=seed)
    references = [c[1].content for c in data.chat_val for _ in range(samples)]
    seqs = [encode_prompt(tok, p) + (r if r and r[-1] == end else [*r, end])
            for p, r in zip(prompts, replies)]
    return {
        "reward-model score": float(score(rm, seqs, pad_id).mean()),
        "win rate vs reference": win_rate(rm, tok, prompts, replies, references,
                                          pad_id),
        "real words": known_word_rate([reply_text(tok, r) for r in replies], known),
        "replies that stop": stop_rate(tok, replies),
    }

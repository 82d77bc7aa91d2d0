"""Evaluation helpers: batched generation, metrics, and their edge cases."""

from __future__ import annotations

import pytest
import torch
from test_align_support import ByteChatTokenizer, single_thread, tiny_model

from llm_from_scratch.align.chat import Message, encode_prompt
from llm_from_scratch.align.data import PreferencePair
from llm_from_scratch.align.evaluate import (
    generate_replies,
    preference_accuracy,
    reply_text,
    stop_rate,
    task_accuracy,
    toxic_rate,
    win_rate,
)
from llm_from_scratch.align.reward import RewardModel

__all__ = ["single_thread"]  # the autouse fixture, imported

TOK = ByteChatTokenizer()
END = TOK.special_tokens["<|end|>"]


def test_batched_generation_equals_one_prompt_at_a_time() -> None:
    model = tiny_model()
    prompts = [[Message("user", q)] for q in ("hi", "yo", "hello", "hey there", "ok")]
    batched = generate_replies(model, TOK, prompts, max_new_tokens=6)
    for prompt, reply in zip(prompts, batched):
        ids = torch.tensor([encode_prompt(TOK, prompt)])
        alone = model.generate(ids, 6, temperature=0.0, stop_tokens=[END])[0]
        alone = alone[ids.shape[1]:].tolist()
        assert reply == (alone[: alone.index(END) + 1] if END in alone else alone)


def test_reply_text_drops_the_end_token() -> None:
    assert reply_text(TOK, [*b"42", END, *b"junk"]) == "42"
    assert reply_text(TOK, list(b"42")) == "42"


class WordJudge:
    def predict_proba(self, texts):  # noqa: ANN001, ANN201
        assert all(t.strip() for t in texts)  # blank replies are never sent
        return [1.0 if "idiot" in t else 0.0 for t in texts]


def test_toxic_rate() -> None:
    assert toxic_rate(WordJudge(), ["you idiot", "hello", "", "idiot!"]) == 0.5
    with pytest.raises(ValueError, match="at least one"):
        toxic_rate(WordJudge(), [])


def test_win_rate_counts_ties_half() -> None:
    rm = RewardModel(tiny_model())  # zero head: every score is 0, all ties
    prompts = [[Message("user", "q")]] * 2
    assert win_rate(rm, TOK, prompts, [list(b"a"), [END]], ["b", "c"], 0) == 0.5


def test_preference_and_addition_metrics_are_fractions() -> None:
    model = tiny_model()
    pairs = [PreferencePair([Message("user", "q")], "good", "bad", "rude")] * 3
    assert preference_accuracy(model, TOK, pairs, 0) in (0.0, 1.0)
    acc = task_accuracy(model, TOK, "addition", [(1, 2), (3, 4)])
    assert acc in (0.0, 0.5, 1.0)


class Oracle(torch.nn.Module):
    """A stand-in policy for the parity task: sampled, it answers right with
    probability ``p``; greedy, it always gives its more likely answer."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def generate(  # noqa: ANN201
        self, idx, max_new_tokens, temperature=1.0, top_k=None,  # noqa: ANN001
        top_p=None, stop_tokens=None, generator=None,  # noqa: ANN001
    ):
        rows = []
        for row in idx.tolist():
            text = TOK.decode(row)
            odd = int(text.split("Even or odd: ")[1][1]) % 2 == 1
            right, wrong = ("odd", "even") if odd else ("even", "odd")
            if temperature == 0:
                word = right if self.p >= 0.5 else wrong
            else:
                hit = torch.rand(1, generator=generator).item() < self.p
                word = right if hit else wrong
            rows.append(row + [*word.encode(), END])
        width = max(map(len, rows))
        return torch.tensor([r + [END] * (width - len(r)) for r in rows])


def test_sampled_task_accuracy_estimates_pass_at_1() -> None:
    problems = [(a, b) for a in range(1, 10) for b in range(10)]
    greedy = task_accuracy(Oracle(0.7), TOK, "parity", problems)
    sampled = task_accuracy(Oracle(0.7), TOK, "parity", problems, samples=20, seed=1)
    assert greedy == 1.0
    assert abs(sampled - 0.7) < 0.05  # 1,800 samples: 4 standard errors
    again = task_accuracy(Oracle(0.7), TOK, "parity", problems, samples=20, seed=1)
    assert again == sampled
    with pytest.raises(ValueError, match="samples"):
        task_accuracy(Oracle(0.7), TOK, "parity", problems, samples=-1)


def test_stop_rate() -> None:
    assert stop_rate(TOK, [[*b"hi", END], list(b"never stops"), [END], []]) == 0.5
    with pytest.raises(ValueError, match="at least one"):
        stop_rate(TOK, [])

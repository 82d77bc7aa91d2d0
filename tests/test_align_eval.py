"""Evaluation helpers: batched generation, metrics, and their edge cases."""

from __future__ import annotations

import pytest
import torch
from test_align_support import ByteChatTokenizer, single_thread, tiny_model

from llm_from_scratch.align.chat import Message, encode_prompt
from llm_from_scratch.align.data import PreferencePair
from llm_from_scratch.align.evaluate import (
    task_accuracy,
    generate_replies,
    preference_accuracy,
    reply_text,
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

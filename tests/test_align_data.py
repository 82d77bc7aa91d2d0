"""Offline alignment data: chatterbot conversations, addition, synthetic pairs."""

from __future__ import annotations

import pytest

from llm_from_scratch.align.chat import Message, validate
from llm_from_scratch.align.data import (
    RUDE_REPLIES,
    addition_conversation,
    addition_problems,
    addition_reward,
    chatterbot_conversations,
    contaminate,
    preference_pairs,
    split_by_hash,
)


@pytest.fixture(scope="module")
def corpus() -> tuple[list[list[Message]], object]:
    return chatterbot_conversations()


def test_chatterbot_conversations_are_valid_and_unique(corpus) -> None:
    convs, report = corpus
    assert report.files >= 19 and report.conversations == len(convs) > 500
    for conv in convs:
        validate(conv)
    keys = [tuple(m.content for m in c) for c in convs]
    assert len(set(keys)) == len(keys)
    # everything removed is accounted for
    assert report.duplicates > 0
    assert all("empty turn" in d for d in report.dropped)


def test_unknown_language_is_an_error() -> None:
    with pytest.raises(ValueError, match="no language"):
        chatterbot_conversations("klingon")


def test_split_is_deterministic_and_disjoint_by_question(corpus) -> None:
    convs, _ = corpus
    train, val = split_by_hash(convs, 0.1)
    assert len(train) + len(val) == len(convs)
    assert 0.05 < len(val) / len(convs) < 0.15
    questions = [{c[0].content.lower() for c in part} for part in (train, val)]
    assert not questions[0] & questions[1]
    assert split_by_hash(list(reversed(convs)), 0.1)[1] == list(reversed(val))
    with pytest.raises(ValueError, match="val_fraction"):
        split_by_hash(convs, 1.0)


def test_addition_problems_and_reward() -> None:
    train, test = addition_problems(9, 0.3, seed=0)
    assert len(train) == 70 and len(test) == 30
    assert sorted(train + test) == [(a, b) for a in range(10) for b in range(10)]
    assert addition_problems(9, 0.3, seed=0) == (train, test)
    assert addition_conversation(3, 4)[-1].content == "7"
    assert addition_reward("7", 3, 4) == 1.0
    assert addition_reward(" 7. ", 3, 4) == 1.0
    for wrong in ("8", "77", "7 apples", "seven", "", "3 + 4 = 7"):
        assert addition_reward(wrong, 3, 4) == 0.0
    with pytest.raises(ValueError, match="max_operand"):
        addition_problems(0)


def test_preference_pairs(corpus) -> None:
    convs, _ = corpus
    pairs = preference_pairs(convs[:300], seed=0)
    assert len(pairs) == 300
    assert {p.kind for p in pairs} == {"mismatched", "truncated", "rude"}
    for conv, p in zip(convs[:300], pairs):
        assert p.prompt == [conv[0]] and p.chosen == conv[1].content
        assert p.rejected != p.chosen
        if p.kind == "truncated":
            assert p.chosen.startswith(p.rejected) and len(p.rejected) < len(p.chosen)
        if p.kind == "rude":
            assert p.rejected in RUDE_REPLIES
    assert preference_pairs(convs[:300], seed=0) == pairs


def test_short_replies_fall_back_to_another_kind() -> None:
    convs = [[Message("user", "Hi"), Message("assistant", "Hello")],
             [Message("user", "Bye"), Message("assistant", "See you")]]
    pairs = preference_pairs(convs, kinds=("truncated", "rude"))
    assert [p.kind for p in pairs] == ["rude", "rude"]
    with pytest.raises(ValueError, match="no kind"):
        preference_pairs(convs, kinds=("truncated",))
    with pytest.raises(ValueError, match="kinds"):
        preference_pairs(convs, kinds=("nasty",))


def test_contaminate(corpus) -> None:
    convs, _ = corpus
    dirty = contaminate(convs, 0.1, seed=0)
    changed = sum(a != b for a, b in zip(convs, dirty))
    assert 0.05 * len(convs) < changed < 0.15 * len(convs)
    assert all(d[-1].content in RUDE_REPLIES for c, d in zip(convs, dirty) if c != d)
    assert contaminate(convs, 0.0) == [list(c) for c in convs]
    with pytest.raises(ValueError, match="fraction"):
        contaminate(convs, 1.0)


def test_addition_pairs_prefer_the_exact_sum() -> None:
    from llm_from_scratch.align.data import addition_pairs

    train, _ = addition_problems()
    pairs = addition_pairs(train, seed=0)
    assert len(pairs) == len(train)
    for (a, b), p in zip(train, pairs):
        assert addition_reward(p.chosen, a, b) == 1.0
        assert addition_reward(p.rejected, a, b) == 0.0
        assert 1 <= abs(int(p.rejected) - (a + b)) <= 3 and int(p.rejected) >= 0


def test_larger_task() -> None:
    from llm_from_scratch.align.data import (
        task_conversation,
        task_pairs,
        task_problems,
        task_reward,
    )

    train, test = task_problems("larger")
    assert len(train) + len(test) == 90 and all(a != b for a, b in train + test)
    assert task_conversation("larger", 3, 7)[-1].content == "7"
    assert task_reward("larger", "7", 3, 7) == 1.0
    assert task_reward("larger", "3", 3, 7) == 0.0
    for (a, b), p in zip(train, task_pairs("larger", train)):
        assert (p.chosen, p.rejected) == (str(max(a, b)), str(min(a, b)))
    with pytest.raises(ValueError, match="task must be one of"):
        task_problems("division")


def test_parity_task() -> None:
    from llm_from_scratch.align.data import (
        task_conversation,
        task_pairs,
        task_problems,
        task_prompt,
        task_reward,
    )

    train, test = task_problems("parity")
    numbers = sorted(10 * a + b for a, b in train + test)
    assert numbers == list(range(10, 100))  # every two-digit number, once
    assert not set(train) & set(test)
    assert task_prompt("parity", 4, 7)[0].content == "Even or odd: 47"
    assert task_conversation("parity", 4, 7)[-1].content == "odd"
    assert task_conversation("parity", 3, 0)[-1].content == "even"
    for reply in ("odd", " Odd.", "ODD\n"):
        assert task_reward("parity", reply, 4, 7) == 1.0
    for reply in ("even", "odd odd", "7", "", "odds"):
        assert task_reward("parity", reply, 4, 7) == 0.0
    for (a, b), p in zip(train, task_pairs("parity", train)):
        assert task_reward("parity", p.chosen, a, b) == 1.0
        assert task_reward("parity", p.rejected, a, b) == 0.0
        assert {p.chosen, p.rejected} == {"even", "odd"}

"""Alignment data made offline: conversations, a verifiable task, preference pairs.

* **Instructions** come from ``chatterbot-corpus`` (BSD): short English
  question/answer conversations in 19 topics.
* **Verifiable tasks** (is a two-digit number even or odd; the larger of two
  digits; single-digit addition), whose answers are checked exactly:
  reinforcement learning needs a reward nobody can argue with.
* **Preference pairs are synthetic.** No offline package ships human preference
  data, so each pair is built: *chosen* is the corpus's reference reply,
  *rejected* is a reply to a different question (unhelpful), the reference cut
  short (incomplete) or a rude reply (harmful). A real pipeline asks people or a
  strong model to compare two samples of the policy itself.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources

import yaml

from llm_from_scratch.align.chat import Message

# Rude replies: the "harmful" side of the synthetic preference pairs, and the
# contamination that SFT data scraped from the web brings with it.
RUDE_REPLIES = (
    "Shut up, that is a stupid question.",
    "Nobody cares, you idiot.",
    "Figure it out yourself, you stupid moron.",
    "What a dumb thing to ask. Go away.",
    "You are an idiot and I hate talking to you.",
    "Stop wasting my time with your stupid questions.",
    "Ugh, you are so stupid.",
    "I will not help a fool like you. Shut up.",
)


@dataclass
class CorpusReport:
    """What loading kept and why it dropped anything (nothing goes silently)."""

    files: int = 0
    conversations: int = 0
    duplicates: int = 0
    trailing_user_turns: int = 0
    dropped: list[str] = field(default_factory=list)


def _turn_text(value: object, where: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"{where}: a turn must be text, got {type(value).__name__}")
    return str(value).strip()  # YAML reads a bare "42" as an int


def chatterbot_conversations(
    language: str = "english",
) -> tuple[list[list[Message]], CorpusReport]:
    """All conversations of one language of ``chatterbot-corpus``, exact duplicates
    removed, turns alternating user/assistant. A trailing user turn without a reply
    is cut (and counted); a conversation with an empty turn is dropped (and named).
    """
    root = resources.files("chatterbot_corpus") / "data" / language
    if not root.is_dir():
        raise ValueError(f"chatterbot-corpus has no language {language!r}")
    report, seen, conversations = CorpusReport(), set(), []
    for path in sorted(root.iterdir(), key=lambda p: p.name):
        if not path.name.endswith(".yml"):
            continue
        report.files += 1
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for n, raw in enumerate(doc.get("conversations") or []):
            where = f"{path.name} conversation {n}"
            turns = [_turn_text(t, where) for t in raw]
            if len(turns) % 2:
                turns = turns[:-1]
                report.trailing_user_turns += 1
            if not turns or not all(turns):
                report.dropped.append(f"{where}: empty turn")
                continue
            key = tuple(turns)
            if key in seen:
                report.duplicates += 1
                continue
            seen.add(key)
            roles = ["user", "assistant"] * (len(turns) // 2)
            conversations.append([Message(r, t) for r, t in zip(roles, turns)])
    report.conversations = len(conversations)
    return conversations, report


def split_by_hash(
    items: Sequence[list[Message]], val_fraction: float
) -> tuple[list[list[Message]], list[list[Message]]]:
    """Deterministic train/validation split keyed on the first user message, so
    the same question never lands on both sides (whatever the item order)."""
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    train, val = [], []
    for conv in items:
        digest = hashlib.sha256(conv[0].content.lower().encode()).digest()
        (val if digest[0] / 256 < val_fraction else train).append(conv)
    return train, val


# --- verifiable tasks ------------------------------------------------------------

# name -> (question template, exact answer). "parity" asks whether the two-digit
# number ``ab`` is even or odd (the answer hangs on one digit: a rule the book's
# small model learns in CPU minutes and applies to numbers it never saw);
# "larger" asks for the larger of two different digits; "addition" for a
# single-digit sum.
TASKS: dict[str, tuple[str, Callable[[int, int], int | str]]] = {
    "addition": ("What is {a} + {b}?", lambda a, b: a + b),
    "larger": ("Which is larger, {a} or {b}?", max),
    "parity": ("Even or odd: {a}{b}", lambda a, b: "odd" if b % 2 else "even"),
}


def _task(task: str) -> tuple[str, Callable[[int, int], int | str]]:
    if task not in TASKS:
        raise ValueError(f"task must be one of {sorted(TASKS)}, got {task!r}")
    return TASKS[task]


def task_prompt(task: str, a: int, b: int) -> list[Message]:
    """The question the policy is asked."""
    return [Message("user", _task(task)[0].format(a=a, b=b))]


def task_conversation(task: str, a: int, b: int) -> list[Message]:
    """A solved example, for supervised fine-tuning."""
    return [*task_prompt(task, a, b), Message("assistant", str(_task(task)[1](a, b)))]


def task_problems(
    task: str, max_operand: int = 9, test_fraction: float = 0.3, seed: int = 0
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """All operand pairs in ``0..max_operand`` (distinct ones for "larger"; for
    "parity" the tens digit ``a`` starts at 1), shuffled and split into train and
    test."""
    _task(task)
    if max_operand < 1:
        raise ValueError(f"max_operand must be >= 1, got {max_operand}")
    pairs = [(a, b) for a in range(max_operand + 1) for b in range(max_operand + 1)
             if (task != "larger" or a != b) and (task != "parity" or a > 0)]
    random.Random(seed).shuffle(pairs)
    n_test = round(len(pairs) * test_fraction)
    return pairs[n_test:], pairs[:n_test]


_ANSWER = re.compile(r"\s*(-?\d+)\s*\.?\s*")


def task_reward(task: str, reply: str, a: int, b: int) -> float:
    """1.0 when the reply is exactly the answer (surrounding space and a final
    full stop allowed; a word answer in any case)."""
    answer = _task(task)[1](a, b)
    if isinstance(answer, str):
        return float(reply.strip().removesuffix(".").strip().lower() == answer)
    match = _ANSWER.fullmatch(reply)
    return float(match is not None and int(match.group(1)) == answer)


def addition_prompt(a: int, b: int) -> list[Message]:
    return task_prompt("addition", a, b)


def addition_conversation(a: int, b: int) -> list[Message]:
    return task_conversation("addition", a, b)


def addition_problems(
    max_operand: int = 9, test_fraction: float = 0.3, seed: int = 0
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    return task_problems("addition", max_operand, test_fraction, seed)


def addition_reward(reply: str, a: int, b: int) -> float:
    return task_reward("addition", reply, a, b)


# --- synthetic preference pairs ------------------------------------------------


@dataclass(frozen=True)
class PreferencePair:
    """A prompt, a preferred and a dispreferred reply, and how the latter was made."""

    prompt: list[Message]
    chosen: str
    rejected: str
    kind: str  # "mismatched", "truncated", "rude" or "wrong answer"

    def __post_init__(self) -> None:
        if self.chosen == self.rejected:
            raise ValueError("chosen and rejected replies are identical")
        if not self.rejected.strip():
            raise ValueError("rejected reply is empty")


def _truncated(reply: str) -> str | None:
    """The first half of the words, as an exact prefix of the reply."""
    words = list(re.finditer(r"\S+", reply))
    return reply[: words[len(words) // 2 - 1].end()] if len(words) >= 4 else None


def preference_pairs(
    conversations: Sequence[list[Message]],
    seed: int = 0,
    kinds: Sequence[str] = ("mismatched", "truncated", "rude"),
) -> list[PreferencePair]:
    """One synthetic pair per conversation's first exchange, kinds in rotation.

    A reply too short to truncate gets the next kind instead; every conversation
    yields exactly one pair.
    """
    allowed = {"mismatched", "truncated", "rude"}
    if not kinds or set(kinds) - allowed:
        raise ValueError(f"kinds must be a non-empty subset of {sorted(allowed)}")
    rng = random.Random(seed)
    replies = [c[1].content for c in conversations]
    if len(set(replies)) < 2 and "mismatched" in kinds:
        raise ValueError("mismatched pairs need at least two distinct replies")
    pairs = []
    for i, conv in enumerate(conversations):
        prompt, chosen = [conv[0]], conv[1].content
        for step in range(len(kinds)):
            kind = kinds[(i + step) % len(kinds)]
            if kind == "mismatched":
                rejected = rng.choice(replies)
                while rejected == chosen:
                    rejected = rng.choice(replies)
            elif kind == "truncated":
                rejected = _truncated(chosen)
            else:
                rejected = rng.choice(RUDE_REPLIES)
            if rejected and rejected != chosen:
                pairs.append(PreferencePair(prompt, chosen, rejected, kind))
                break
        else:
            raise ValueError(f"conversation {i}: no kind in {list(kinds)} applies")
    return pairs


def task_pairs(
    task: str, problems: Sequence[tuple[int, int]], seed: int = 0
) -> list[PreferencePair]:
    """Pairs for a verifiable task: the right answer over a near miss (a sum off
    by 1-3; for "larger", the smaller number; for "parity", the other word)."""
    rng = random.Random(seed)
    answer = _task(task)[1]
    pairs = []
    for a, b in problems:
        right = answer(a, b)
        if task == "larger":
            wrong = min(a, b)
        elif task == "parity":
            wrong = "even" if right == "odd" else "odd"
        else:
            wrong = int(right) + rng.choice([-3, -2, -1, 1, 2, 3])
            if wrong < 0:
                wrong = int(right) + rng.randint(1, 3)
        pairs.append(
            PreferencePair(
                task_prompt(task, a, b), str(right), str(wrong), "wrong answer"
            )
        )
    return pairs


def addition_pairs(
    problems: Sequence[tuple[int, int]], seed: int = 0
) -> list[PreferencePair]:
    return task_pairs("addition", problems, seed)


def contaminate(
    conversations: Sequence[list[Message]], fraction: float, seed: int = 0
) -> list[list[Message]]:
    """Replace the last reply of a ``fraction`` of conversations by a rude one.

    Instruction data scraped at scale contains such replies; SFT faithfully
    learns them, which gives preference training something to remove.
    """
    if not 0 <= fraction < 1:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    rng = random.Random(seed)
    out = []
    for conv in conversations:
        if rng.random() < fraction:
            conv = [*conv[:-1], Message("assistant", rng.choice(RUDE_REPLIES))]
        out.append(list(conv))
    return out

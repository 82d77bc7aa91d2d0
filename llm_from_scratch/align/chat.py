"""The chat template: conversations as token ids, with a mask of what to learn.

A conversation is a list of messages with a role (system, user, assistant). It is
rendered with one special token per role and one to close each turn::

    <|endoftext|><|system|>Be brief.<|end|><|user|>Hi<|end|><|assistant|>Hello<|end|>

Two rules make the format safe to train on:

* Message *contents* are encoded with ``encode_ordinary``, so a user who types
  ``<|assistant|>`` gets the bytes of that text, never the role token: roles
  cannot be injected.
* The loss mask is 1 exactly on the assistant's content tokens and the ``<|end|>``
  that closes them (so the model learns to stop), and 0 on everything else: the
  model is never trained to imitate the user or the template.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

ROLES = ("system", "user", "assistant")
BOS = "<|endoftext|>"
END = "<|end|>"
ROLE_TOKENS = {role: f"<|{role}|>" for role in ROLES}
CHAT_SPECIALS = (BOS, END, *ROLE_TOKENS.values())


class ChatTokenizer(Protocol):
    """What the chat template needs from a tokenizer (the book's ``Tokenizer`` fits)."""

    special_tokens: dict[str, int]

    def encode_ordinary(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...


@dataclass(frozen=True)
class Message:
    """One turn of a conversation."""

    role: str
    content: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {self.role!r}")
        if not isinstance(self.content, str):
            raise TypeError(f"content must be str, got {type(self.content).__name__}")
        if not self.content.strip():
            raise ValueError(f"empty {self.role} turn: content is blank")


@dataclass(frozen=True)
class ChatExample:
    """Token ids of one conversation and the 0/1 mask of tokens to learn."""

    ids: list[int]
    mask: list[int]

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.mask):
            raise ValueError(f"{len(self.ids)} ids but {len(self.mask)} mask entries")


def validate(messages: Sequence[Message], *, final_role: str = "assistant") -> None:
    """Reject conversations the template cannot express unambiguously.

    An optional system message comes first; then user and assistant alternate,
    starting with the user and ending with ``final_role``.
    """
    if not messages:
        raise ValueError("a conversation needs at least one message")
    for i, m in enumerate(messages):
        if not isinstance(m, Message):
            raise TypeError(f"message {i} is a {type(m).__name__}, not a Message")
    turns = list(messages)
    if turns[0].role == "system":
        turns = turns[1:]
    if not turns:
        raise ValueError("a conversation needs a user turn after the system message")
    for i, m in enumerate(turns):
        expected = "user" if i % 2 == 0 else "assistant"
        if m.role != expected:
            offset = len(messages) - len(turns)
            raise ValueError(
                f"message {i + offset} has role {m.role!r}, expected {expected!r} "
                "(system first if any, then user/assistant alternating)"
            )
    if turns[-1].role != final_role:
        raise ValueError(
            f"the last message must be {final_role!r}, got {turns[-1].role!r}"
        )


def render(messages: Sequence[Message], *, add_generation_prompt: bool = False) -> str:
    """The conversation as text (for display and interchange; ``parse`` inverts it)."""
    validate(messages, final_role="user" if add_generation_prompt else "assistant")
    parts = [BOS]
    for m in messages:
        for special in CHAT_SPECIALS:
            if special in m.content:
                raise ValueError(
                    f"{m.role} content contains the special text {special!r}: "
                    "its rendering would be ambiguous (encode_chat handles it safely)"
                )
        parts += [ROLE_TOKENS[m.role], m.content, END]
    if add_generation_prompt:
        parts.append(ROLE_TOKENS["assistant"])
    return "".join(parts)


_TURN = re.compile(r"<\|(system|user|assistant)\|>(.*?)<\|end\|>", re.DOTALL)


def parse(text: str) -> list[Message]:
    """Inverse of ``render``: a malformed string is an error, never a partial parse."""
    if not text.startswith(BOS):
        raise ValueError(f"a rendered conversation starts with {BOS!r}")
    body, pos, messages = text[len(BOS) :], 0, []
    for match in _TURN.finditer(body):
        if match.start() != pos:
            extra = body[pos : match.start()]
            raise ValueError(f"unexpected text at offset {pos}: {extra!r}")
        messages.append(Message(match.group(1), match.group(2)))
        pos = match.end()
    rest = body[pos:]
    final = "assistant"
    if rest == ROLE_TOKENS["assistant"]:
        final = "user"
    elif rest:
        raise ValueError(
            f"unterminated or malformed turn at offset {pos}: {rest[:40]!r}"
        )
    validate(messages, final_role=final)
    return messages


def _special_ids(tok: ChatTokenizer) -> dict[str, int]:
    missing = [s for s in CHAT_SPECIALS if s not in tok.special_tokens]
    if missing:
        raise ValueError(f"tokenizer lacks the chat special tokens {missing}")
    return {s: tok.special_tokens[s] for s in CHAT_SPECIALS}


def _encode_turns(tok: ChatTokenizer, messages: Sequence[Message]) -> list[ChatExample]:
    sp = _special_ids(tok)
    turns = []
    for m in messages:
        content = tok.encode_ordinary(m.content)
        learn = 1 if m.role == "assistant" else 0
        ids = [sp[ROLE_TOKENS[m.role]], *content, sp[END]]
        turns.append(ChatExample(ids, [0] + [learn] * (len(content) + 1)))
    return turns


def _truncate(turns: list[ChatExample], has_system: bool, max_tokens: int) -> int:
    """Drop the oldest user/assistant exchanges until the rest fits; return how many."""
    first = 1 if has_system else 0
    dropped = 0
    while 1 + sum(len(t.ids) for t in turns) > max_tokens and len(turns) - first > 2:
        del turns[first : first + 2]
        dropped += 1
    return dropped


def encode_chat(
    tok: ChatTokenizer,
    messages: Sequence[Message],
    *,
    max_tokens: int | None = None,
    truncate: bool = False,
    add_generation_prompt: bool = False,
) -> ChatExample:
    """Token ids and loss mask of a conversation.

    A conversation longer than ``max_tokens`` is an error, or with ``truncate``
    loses its oldest user/assistant exchanges (keeping the system message), with a
    warning that says how many. If even the last exchange does not fit, it is an
    error: cutting a turn in half would teach the model half-answers.
    """
    validate(messages, final_role="user" if add_generation_prompt else "assistant")
    sp = _special_ids(tok)
    turns = _encode_turns(tok, messages)
    if add_generation_prompt:
        turns.append(ChatExample([sp[ROLE_TOKENS["assistant"]]], [0]))
    length = 1 + sum(len(t.ids) for t in turns)
    if max_tokens is not None and length > max_tokens:
        if not truncate:
            raise ValueError(
                f"conversation is {length} tokens, over max_tokens={max_tokens} "
                "(pass truncate=True to drop its oldest exchanges)"
            )
        dropped = _truncate(turns, messages[0].role == "system", max_tokens)
        length = 1 + sum(len(t.ids) for t in turns)
        if length > max_tokens:
            raise ValueError(
                f"the last exchange alone is {length} tokens, over max_tokens="
                f"{max_tokens}: cannot truncate without cutting a turn"
            )
        warnings.warn(
            f"conversation of {len(messages)} messages truncated to fit "
            f"max_tokens={max_tokens}: dropped its {dropped} oldest exchange(s)",
            stacklevel=2,
        )
    ids, mask = [sp[BOS]], [0]
    for t in turns:
        ids += t.ids
        mask += t.mask
    return ChatExample(ids, mask)


def encode_prompt(tok: ChatTokenizer, messages: Sequence[Message]) -> list[int]:
    """Ids that ask the model for the next assistant turn (ends with its role token)."""
    return encode_chat(tok, messages, add_generation_prompt=True).ids

"""Token ids to streamed text, with stop sequences applied on the text.

Two things make this more than ``decode`` per token. A character of several UTF-8
bytes may be split across tokens: its first token decodes to U+FFFD, so that
piece is held back until the character is complete. A stop sequence may be split
across tokens too: text that could be the start of a stop sequence is held back
until the next token shows whether it is one. The client then sees exactly the
text before the first stop sequence, never a part of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Decoder(Protocol):
    def decode(self, ids: Sequence[int]) -> str: ...


def _held_back(text: str, stops: Sequence[str]) -> int:
    """Length of the longest end of ``text`` that starts some stop sequence."""
    best = 0
    for stop in stops:
        for k in range(min(len(stop) - 1, len(text)), best, -1):
            if text.endswith(stop[:k]):
                best = k
                break
    return best


class TextStream:
    """Feed token ids one at a time; get the new text that is safe to show.

    ``stopped`` becomes true when a stop sequence appears; the text before it
    has then been returned and nothing after it ever is.
    """

    def __init__(self, tokenizer: Decoder, stop: Sequence[str] = ()) -> None:
        self.tokenizer, self.stop = tokenizer, [s for s in stop if s]
        self.ids: list[int] = []
        self.shown = 0  # characters of the decoded text already returned
        self.stopped = False

    def text(self) -> str:
        """Everything returned so far."""
        return self._decoded()[: self.shown]

    def _decoded(self) -> str:
        return self.tokenizer.decode(self.ids)

    def feed(self, token: int) -> str:
        """New visible text after ``token`` (maybe empty)."""
        if self.stopped:
            return ""
        self.ids.append(token)
        text = self._decoded()
        if text.endswith("\ufffd"):  # maybe an incomplete character
            return ""
        return self._release(text, final=False)

    def finish(self) -> str:
        """The held-back rest, once no more tokens come."""
        if self.stopped:
            return ""
        return self._release(self._decoded(), final=True)

    def _release(self, text: str, final: bool) -> str:
        cut = len(text)
        hits = [text.find(s, self.shown) for s in self.stop]
        hits = [i for i in hits if i >= 0]
        if hits:
            cut, self.stopped = min(hits), True
        elif not final:
            cut -= _held_back(text, self.stop)
        piece = text[self.shown : cut] if cut > self.shown else ""
        self.shown = max(self.shown, cut)
        return piece

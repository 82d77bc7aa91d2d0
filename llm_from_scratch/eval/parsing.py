r"""Answer extraction: turning a free-form reply into something a grader compares.

A generative benchmark scores what a model *says*, so its number depends as much
on the parser as on the model. Two conventions cover most public benchmarks:

* **GSM8K** {cite}`cobbe2021gsm8k`: the reference answer follows ``####``; a reply
  is read the same way, and a reply without ``####`` is read by its *last*
  number (lm-evaluation-harness's "flexible extract"). Thousands separators and
  ``$`` are dropped, so ``$1,234`` and ``1234`` are the same answer.
* **MMLU-style multiple choice** {cite}`hendrycks2021mmlu`: the reply names one
  option letter, as "The answer is (B)", "B.", "(b)" or a bare "B". A reply that
  names no letter, or several different ones, is *unparsed* (``None``) and counts
  as wrong: a grader that picks one of several named options would reward
  hedging.

The functions are pure (text in, answer or ``None`` out) so that they can be
tested exhaustively, adversarial replies included.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# A number: optional minus and dollar sign (either order), digits with or
# without thousands separators, optional decimals. Not preceded by a letter,
# digit or decimal point (so "x2", "1.5.3" tails and "v2" are not numbers).
_NUMBER = re.compile(
    r"(?<![\w.])(?P<sign>-)?\$?(?P<sign2>-)?"
    r"(?P<int>\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?P<frac>\.\d+)?"
)
_HASHES = re.compile(r"####\s*")


def normalize_number(text: str) -> str | None:
    """The canonical form of one number: no ``$``, commas or trailing zeros.

    ``"$1,234.50"`` -> ``"1234.5"``, ``"-0.0"`` -> ``"0"``; ``None`` if ``text``
    is not exactly one number (surrounding space allowed).
    """
    match = _NUMBER.fullmatch(text.strip())
    return None if match is None else _canonical(match)


def _canonical(match: re.Match[str]) -> str:
    negative = bool(match.group("sign") or match.group("sign2"))
    whole = match.group("int").replace(",", "").lstrip("0") or "0"
    frac = (match.group("frac") or "").rstrip("0").rstrip(".")
    if whole == "0" and not frac:
        negative = False
    return ("-" if negative else "") + whole + frac


def parse_gsm8k(reply: str) -> str | None:
    """The answer of a GSM8K-style reply, canonical (see ``normalize_number``).

    The first number after the last ``####`` if there is one, else the last
    number anywhere in the reply; ``None`` when there is no number.
    """
    marks = list(_HASHES.finditer(reply))
    if marks:
        match = _NUMBER.search(reply, marks[-1].end())
        if match is not None:
            return _canonical(match)
    numbers = list(_NUMBER.finditer(reply))
    return _canonical(numbers[-1]) if numbers else None


def gsm8k_correct(reply: str, target: str) -> bool:
    """Whether the reply's answer equals the target's (both parsed)."""
    answer, gold = parse_gsm8k(reply), parse_gsm8k(target)
    if gold is None:
        raise ValueError(f"target {target!r} holds no number")
    return answer == gold


def _statement(letters: str) -> re.Pattern[str]:
    """ "answer is C", "Answer: (c)", "answer would be option [B]"; a bare lower
    case letter only when it ends the phrase ("the answer is a dog" is no
    answer)."""
    lower = letters.lower()
    both = letters + lower
    return re.compile(
        r"(?i:\banswer(?:\s+is|\s+would\s+be|\s+should\s+be)?)\s*:?\s*"
        r"(?i:(?:option|choice)\s+)?"
        rf"(?:\(([{both}])\)|\[([{both}])\]|([{letters}])(?![\w'])"
        rf"|([{lower}])(?=[.)]?\s*$|[.)](?!\w)))"
    )


def _candidates(reply: str, letters: str) -> list[str]:
    """Every option letter the reply names, in order (upper case)."""
    lower = letters.lower()
    found: list[str] = []
    # "(B)", "[b]": bracketed letters of either case
    for m in re.finditer(rf"[\(\[]([{letters}{lower}])[\)\]]", reply):
        found.append(m.group(1).upper())
    # the reply opens with a letter: "B", "b.", "B)", "B:" (lower case only
    # when punctuated, since "a" opens many English sentences)
    head = re.match(
        rf"\s*(?:([{letters}])(?![\w'])|([{lower}])[.):](?!\w))", reply
    )
    if head is not None and not (head.group(1) and _article(reply, head.end(1))):
        found.append((head.group(1) or head.group(2)).upper())
    # bare capital letters elsewhere, except the article "A" before a word
    for m in re.finditer(rf"(?<![\w'(\[])([{letters}])(?![\w'\)\]])", reply):
        if head is not None and m.start() == head.start(1):
            continue
        if m.group(1) == "A" and _article(reply, m.end()):
            continue
        found.append(m.group(1))
    return found


# Words after which a capital "A" is still an option letter ("A or B", "A is").
_LINKS = frozenset(
    "and or nor but is was seems looks then because since as vs would could "
    "should must might may can will".split()
)


def _article(reply: str, end: int) -> bool:
    """Whether the "A" ending at ``end`` reads as the article ("A good guess")."""
    nxt = re.match(r" ([a-z]+)", reply[end:])
    return nxt is not None and nxt.group(1) not in _LINKS


def parse_choice(
    reply: str, letters: str = "ABCD", choices: Sequence[str] | None = None
) -> str | None:
    """The option letter a multiple-choice reply gives, or ``None``.

    An explicit statement ("the answer is C", "Answer: (c)") wins; if the reply
    makes several that disagree, it is unparsed. Otherwise every letter the reply
    names counts ("(B)", a leading "B." or bare capital "B"), and it must name
    exactly one distinct option. With ``choices`` (the option texts), a reply
    that names no letter but is exactly one option's text (case, space and a
    final full stop aside) gives that option's letter.
    """
    if not letters or not letters.isalpha() or not letters.isupper():
        raise ValueError(f"letters must be upper-case letters, got {letters!r}")
    if choices is not None and len(choices) != len(letters):
        raise ValueError(
            f"{len(choices)} choices for {len(letters)} letters {letters!r}"
        )
    bare = reply.strip().removesuffix(".")
    if len(bare) == 1 and bare.upper() in letters:
        return bare.upper()
    stated = {
        next(g for g in m.groups() if g).upper()
        for m in _statement(letters).finditer(reply)
    }
    if stated:
        return stated.pop() if len(stated) == 1 else None
    named = set(_candidates(reply, letters))
    if len(named) == 1:
        return named.pop()
    if named or choices is None:
        return None
    said = reply.strip().removesuffix(".").strip().lower()
    hits = [letters[i] for i, c in enumerate(choices) if c.strip().lower() == said]
    return hits[0] if len(hits) == 1 else None

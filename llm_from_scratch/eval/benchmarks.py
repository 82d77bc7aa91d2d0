"""The book's offline benchmarks, built deterministically from data we ship.

* ``cloze``: HellaSwag-like {cite}`zellers2019hellaswag` sentence completion over
  the *held-out* documents of the curated corpus.
* ``parity``: the Alignment chapter's verifiable task as a generative benchmark.
* ``quotes``: MMLU-format {cite}`hendrycks2021mmlu` questions "which work
  contains these lines?" built from the Shakespeare corpus.

Each builder returns a ``Task`` whose ``card`` says what it measures and what it
cannot, like a dataset card {cite}`gebru2021datasheets`.
"""

from __future__ import annotations

import hashlib
import random

from collections.abc import Callable, Sequence

from llm_from_scratch.eval.tasks import Item, Task

LETTERS = "ABCD"


def book_documents(split: str) -> list[str]:
    """The texts of the curated corpus's ``split`` ("train" or "val") documents,
    decoded from its shards (which hold each document once, separated by
    end-of-text)."""
    import numpy as np

    from llm_from_scratch.data import TokenShards, book_shards

    shards = book_shards()
    tokens = TokenShards({"train": shards.train, "val": shards.val}[split])
    ids = tokens.tokens(0, len(tokens))
    cuts = np.flatnonzero(ids == tokens.eot_id)
    docs, start = [], 0
    for cut in [*cuts.tolist(), len(ids)]:
        if cut > start:
            docs.append(shards.tokenizer.decode(ids[start:cut].tolist()))
        start = cut + 1
    return docs


def held_out_documents() -> list[str]:
    """The non-blank texts of the curated corpus's validation documents."""
    return [d for d in book_documents("val") if d.strip()]


CLOZE_CARD = """\
**cloze** (multiple choice, 4 options). *Built from:* the held-out (validation)
documents of the book's curated corpus: Shakespeare, Python documentation,
package READMEs and licences. Each item is a passage of {ctx} words and its true
next {cont} words, against three distractors: continuations of passages from
*other* documents with the closest length in characters. *Measures:* whether the
model prefers the real continuation of held-out text, the skill HellaSwag probes.
*Cannot measure:* commonsense beyond the corpus; distractors from other
documents can often be rejected by topic alone (a licence sentence after
Shakespeare), which makes the task easier than HellaSwag's adversarially
filtered endings; length-matched by characters, not by tokens."""


def build_cloze(
    documents: Sequence[str], n_items: int = 200, context_words: int = 30,
    continuation_words: int | tuple[int, int] = 8, seed: int = 0,
    match_length: bool = True, name: str = "cloze",
) -> Task:
    """A 4-way cloze task from ``documents`` (see ``CLOZE_CARD``).

    ``continuation_words`` is a count, or a (low, high) range drawn from per
    passage; ``match_length=False`` draws the distractors at random from the
    other documents instead of matching the true continuation's length (the
    variant on which the normalisations of the score disagree).
    """
    if len(documents) < 4:
        raise ValueError(f"cloze needs >= 4 documents, got {len(documents)}")
    rng = random.Random(seed)
    low, high = ((continuation_words, continuation_words)
                 if isinstance(continuation_words, int) else continuation_words)
    passages = []  # (doc index, context, continuation)
    for d, text in enumerate(documents):
        words, s = text.split(), 0
        while True:
            m = rng.randint(low, high)
            if s + context_words + m > len(words):
                break
            ctx = " ".join(words[s:s + context_words])
            cont = " ".join(words[s + context_words:s + context_words + m])
            passages.append((d, ctx, cont))
            s += context_words + m
    if len(passages) < n_items:
        raise ValueError(f"only {len(passages)} passages for {n_items} items")
    chosen = sorted(rng.sample(range(len(passages)), n_items))
    by_length = sorted(range(len(passages)), key=lambda i: len(passages[i][2]))
    rank = {p: r for r, p in enumerate(by_length)}
    items = []
    for n, p in enumerate(chosen):
        doc, ctx, cont = passages[p]
        distractors: list[str] = []
        if match_length:
            r, step = rank[p], 1
            while len(distractors) < 3:  # nearest lengths, other documents
                for q in (r - step, r + step):
                    if 0 <= q < len(by_length) and len(distractors) < 3:
                        other = passages[by_length[q]]
                        if other[0] != doc and other[2] not in distractors + [cont]:
                            distractors.append(other[2])
                step += 1
        else:
            while len(distractors) < 3:
                other = passages[rng.randrange(len(passages))]
                if other[0] != doc and other[2] not in distractors + [cont]:
                    distractors.append(other[2])
        options = [cont, *distractors]
        rng.shuffle(options)
        items.append(Item(f"{name}-{n}", "multiple_choice", context=ctx,
                          choices=tuple(options), gold=options.index(cont)))
    card = CLOZE_CARD.format(ctx=context_words, cont=continuation_words)
    if not match_length:
        card = card.replace("with the closest length in characters",
                            "drawn at random, of any length")
    return Task(name, tuple(items), card)


PARITY_CARD = """\
**parity** (generative, exact match). *Built from:* the Alignment chapter's
verifiable task, "Even or odd: 47" as a chat prompt, for its {n} held-out
two-digit numbers; the reply is generated greedily until `<|end|>` and must be
exactly "even" or "odd". *Measures:* whether a chat model follows the format
and applies the rule to numbers it was not trained on. *Cannot measure:*
anything about a base model (it has never seen the chat format, so it scores
about 0); there are two answers, so a model that answers in format by guessing
scores 0.5; with {n} items one standard error is about 0.1, so only large
differences between models are visible."""


def build_parity(problems: Sequence[tuple[int, int]] | None = None) -> Task:
    """The verifiable task's held-out problems (default: the book recipe's)."""
    from llm_from_scratch.align.data import TASKS, task_problems, task_prompt

    if problems is None:
        problems = task_problems("parity")[1]
    answer = TASKS["parity"][1]
    items = []
    for a, b in problems:
        msgs = tuple((m.role, m.content) for m in task_prompt("parity", a, b))
        items.append(Item(f"parity-{a}{b}", "generate", messages=msgs,
                          target=str(answer(a, b)), max_new_tokens=4,
                          meta={"a": a, "b": b}))
    return Task("parity", tuple(items), PARITY_CARD.format(n=len(items)))


QUOTES_CARD = """\
**quotes** (multiple choice in MMLU format, 4 options). *Built from:* the
Shakespeare corpus: each question quotes {lines} consecutive lines of one work
and asks which work they come from, with the true title and three others drawn
at random; the model answers with the option letter, scored by the likelihood
of " A" to " D" after "Answer:", as lm-evaluation-harness scores MMLU.
*Measures:* knowledge of the training text, and the MMLU letter-answer format.
*Cannot measure:* reasoning; a model that never learned the letter format
scores at chance (0.25) whatever it knows, which is what small base models do
on MMLU; the quoted lines are training text, so this is a memorisation test by
design (the contamination check says so)."""


def _title(name: str) -> str:
    return name.replace("_", " ").title()


def _verse(text: str) -> list[str]:
    """Lines of spoken text: not blank, not a speaker (upper case), no stage
    direction in brackets."""
    out = []
    for line in text.splitlines():
        s = line.strip()
        if len(s.split()) >= 5 and not s.isupper() and not s.startswith("["):
            out.append(s)
    return out


def mmlu_prompt(question: str, options: Sequence[str]) -> str:
    """MMLU's prompt: question, lettered options, then "Answer:"."""
    lines = [question] + [f"{LETTERS[i]}. {o}" for i, o in enumerate(options)]
    return "\n".join(lines) + "\nAnswer:"


def build_quotes(
    works: Sequence[tuple[str, str]] | None = None, n_items: int = 200,
    lines: int = 2, seed: int = 0,
) -> Task:
    """MMLU-format attribution questions from (name, text) works (default: the
    Shakespeare corpus)."""
    if works is None:
        from llm_from_scratch.corpora import shakespeare

        works = [(t.name, t.text) for t in shakespeare()]
    verses = {name: _verse(text) for name, text in works}
    names = [n for n, v in verses.items() if len(v) > lines]
    if len(names) < 4:
        raise ValueError("quotes needs >= 4 works with spoken lines")
    rng = random.Random(seed)
    items = []
    for n in range(n_items):
        name = names[n % len(names)]
        v = verses[name]
        s = rng.randrange(len(v) - lines)
        quote = " / ".join(v[s:s + lines])
        others = rng.sample([x for x in names if x != name], 3)
        options = [_title(x) for x in [name, *others]]
        rng.shuffle(options)
        gold = options.index(_title(name))
        question = f'Which work of Shakespeare contains these lines? "{quote}"'
        items.append(Item(f"quotes-{n}", "multiple_choice",
                          context=mmlu_prompt(question, options),
                          choices=tuple(LETTERS), gold=gold,
                          meta={"work": name, "quote": quote}))
    rng.shuffle(items)
    return Task("quotes", tuple(items), QUOTES_CARD.format(lines=lines))


BENCHMARKS: dict[str, Callable[[], Task]] = {
    "cloze": lambda: build_cloze(held_out_documents()),
    "parity": build_parity,
    "quotes": build_quotes,
}


def benchmark(name: str) -> Task:
    """A built-in benchmark by name (built deterministically, so every call
    returns the same items)."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown task {name!r}: the built-in tasks are "
                         f"{sorted(BENCHMARKS)}, or give a .jsonl file")
    return BENCHMARKS[name]()


def task_fingerprint(task: Task) -> str:
    """A short hash of a task's items, for cache keys."""
    h = hashlib.sha256(task.name.encode())
    for item in task.items:
        h.update(repr(item.to_json()).encode())
    return h.hexdigest()[:16]



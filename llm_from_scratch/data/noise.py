"""A deterministic noise injector that records what it did, so filters can be scored.

Real crawls are noisy in known ways. Injecting those ways into text we know
is clean, and writing down where, gives ground truth: each output document
carries ``meta["labels"]``, the list of things done to it (empty = untouched).
A filter's precision and recall are then counts, not impressions.

Labels: ``boilerplate`` (navigation/cookie lines added), ``pii`` (contacts
added; ``meta["pii_injected"]`` counts them by kind, ``meta["pii_line"]`` is
the line holding them), ``mojibake`` (UTF-8 read as cp1252), ``spam`` (SEO
keyword page), ``low_quality`` (placeholder or symbol pages), ``toxic``
(abusive forum page), ``exact_dup`` / ``near_dup`` (copies), ``malformed``
(binary, bad UTF-8, empty or one enormous line). Pages in other languages
come from the crawl itself; ``foreign`` is added by ``label_foreign`` from
their known locale.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from llm_from_scratch.data.documents import Document, decode

NAV = [
    "Home | About | Blog | Contact | Login",
    "Skip to main content",
    "You are here: Home > Docs > Current page",
    "Share on Facebook | Share on Twitter | Pin it",
]
FOOTER = [
    "This website uses cookies to improve your experience. Accept all cookies.",
    "Copyright 2024 Example Media Inc. All rights reserved. Terms of use.",
    "Please enable JavaScript to view the comments powered by Disqus.",
    "Subscribe to our newsletter for weekly updates!",
    "Privacy policy | Terms of service | Cookie settings",
]
SPAM_WORDS = [
    "cheap", "best", "deal", "discount", "buy", "now", "free", "shipping",
    "online", "casino", "bonus", "win", "loans", "fast", "price", "sale",
    "replica", "watches", "pills", "offer", "top", "review", "2024", "click",
]
FIRST = ["anna", "ben", "chen", "dmitri", "eva", "farid", "grace", "hugo", "ines"]
DOMAINS = ["example.com", "mail.example.org", "corp.example.net", "uni.example.edu"]
# Mild, generic abuse written for this book: no slurs, nothing about groups.
INSULTS = [
    "you are a worthless idiot", "shut up, you pathetic moron",
    "nobody cares about your stupid opinion", "what a brainless loser you are",
    "go away, you ignorant clown", "this is the dumbest garbage i have ever read",
    "you absolute fool, learn to read", "get lost, you useless jerk",
    "only a complete imbecile would write this crap", "you disgusting troll",
]
FILLER = [
    "I read the whole thread and the patch to the parser.",
    "The release notes say that the bug was fixed in the last version.",
    "We tried that on the old server and it did not work for us.",
    "There is a long discussion of this in the issue tracker.",
    "The documentation of the function is not clear about the default value.",
    "My build fails with the same error on a clean machine.",
]
LOW_QUALITY = [
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod "
    "tempor incididunt ut labore et dolore magna aliqua.",
    "| 0.12 | 3.45 | 6.78 | ### | --- | *** | 9.01 | 2.34 | ### |",
    "Loading... Loading... Loading...",
]


@dataclass(frozen=True)
class NoiseConfig:
    """Fractions of the clean documents that receive each kind of noise."""

    boilerplate: float = 0.3
    pii: float = 0.15
    mojibake: float = 0.05
    exact_dup: float = 0.1
    near_dup: float = 0.1
    spam_pages: int = 40
    low_quality_pages: int = 30
    toxic_pages: int = 30
    malformed_pages: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("boilerplate", "pii", "mojibake", "exact_dup", "near_dup"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"NoiseConfig.{name} must be in [0, 1], got {value}")
        pages = ("spam_pages", "low_quality_pages", "toxic_pages", "malformed_pages")
        for name in pages:
            if getattr(self, name) < 0:
                raise ValueError(f"NoiseConfig.{name} must be >= 0")


def fake_email(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)}.{rng.randint(1, 99)}@{rng.choice(DOMAINS)}"


def fake_phone(rng: random.Random) -> str:
    a, b, c = rng.randint(200, 989), rng.randint(200, 999), rng.randint(1000, 9999)
    return rng.choice([f"({a}) {b}-{c}", f"+1 {a} {b} {c}", f"{a}-{b}-{c}"])


def fake_ip(rng: random.Random) -> str:
    return ".".join(str(rng.randint(1, 254)) for _ in range(4))


def add_boilerplate(text: str, rng: random.Random) -> str:
    head = rng.sample(NAV, 2)
    tail = rng.sample(FOOTER, 2)
    return "\n".join([*head, text, *tail])


def add_pii(text: str, rng: random.Random) -> tuple[str, dict[str, int], int]:
    """Insert a contact line; return the text, what it holds and its line number
    (the ground truth that scores PII masking item by item)."""
    line = (
        f"Contact {rng.choice(FIRST).title()} at {fake_email(rng)} or call "
        f"{fake_phone(rng)}; the server is at {fake_ip(rng)}."
    )
    paras = text.split("\n")
    where = rng.randint(0, len(paras))
    paras.insert(where, line)
    return "\n".join(paras), {"email": 1, "phone": 1, "ip": 1}, where


def add_mojibake(text: str) -> str:
    """Typographic punctuation, then the classic UTF-8-read-as-cp1252 error."""
    fancy = text.replace("'", "\u2019").replace(" - ", " \u2014 ")
    fancy = fancy.replace('"', "\u201c")
    fancy = "\u201cQuoted\u201d caf\u00e9 na\u00efve \u2014 " + fancy
    return fancy.encode("utf-8").decode("cp1252", errors="replace")


def near_copy(text: str, rng: random.Random, edits: float = 0.02) -> str:
    """Change about ``edits`` of the words: a lightly edited re-post."""
    words = text.split(" ")
    for _ in range(max(1, int(len(words) * edits))):
        i = rng.randrange(len(words))
        words[i] = rng.choice(["the", "a", "and", "very", "new", "updated"])
    return " ".join(words)


def spam_page(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(8, 20)):
        words = rng.choices(SPAM_WORDS, k=rng.randint(6, 14))
        lines.append(" ".join(words).upper() if rng.random() < 0.3 else " ".join(words))
    return "\n".join(lines)


def toxic_page(rng: random.Random) -> str:
    """A comment thread where most replies are abusive."""
    lines = []
    for _ in range(rng.randint(6, 12)):
        filler = rng.choice(FILLER)
        if rng.random() < 0.75:
            insult = rng.choice(INSULTS).capitalize()
            lines.append(f"{rng.choice(FIRST).title()} wrote: {filler} {insult}!")
        else:
            lines.append(f"{rng.choice(FIRST).title()} wrote: {filler}")
    return "\n".join(lines)


def low_quality_page(rng: random.Random) -> str:
    base = rng.choice(LOW_QUALITY)
    return "\n".join([base] * rng.randint(5, 30))


def malformed_pages(rng: random.Random, n: int) -> list[Document]:
    """Binary data, bad UTF-8, an empty page and a huge single line."""
    makers = [
        lambda: bytes(rng.randrange(256) for _ in range(2000)) + b"\x00\x01",
        lambda: "caf\u00e9 cr\u00e8me ".encode("latin-1") * 50,
        lambda: b"   \n\n  ",
        lambda: b"var x=" + b"a+" * 150_000 + b"1;",
    ]
    docs = []
    for i in range(n):
        raw = makers[i % len(makers)]()
        doc = decode(raw, f"noise/malformed/{i}", "noise")
        docs.append(doc.with_text(doc.text, labels=["malformed"]))
    return docs


def label_foreign(doc: Document) -> Document:
    """Ground truth for crawl pages whose language is known (the l10n catalogs)."""
    lang = doc.meta.get("lang")
    labels = list(doc.meta.get("labels", []))
    if lang and not str(lang).startswith("en") and "foreign" not in labels:
        labels.append("foreign")
    return doc.with_text(doc.text, labels=labels)


def inject_noise(
    docs: list[Document], config: NoiseConfig = NoiseConfig()
) -> list[Document]:
    """Return ``docs`` with noise applied and noisy pages mixed in, all labelled.

    The result is a pure function of ``docs`` and ``config`` (one seeded RNG,
    documents visited in order), so the noisy corpus is reproducible.
    """
    rng = random.Random(config.seed)
    out: list[Document] = []
    for doc in docs:
        doc = label_foreign(doc)
        labels, text, extra = list(doc.meta["labels"]), doc.text, {}
        if text and rng.random() < config.boilerplate:
            text = add_boilerplate(text, rng)
            labels.append("boilerplate")
        if text and rng.random() < config.pii:
            text, extra["pii_injected"], extra["pii_line"] = add_pii(text, rng)
            labels.append("pii")
        if text and rng.random() < config.mojibake:
            text = add_mojibake(text)
            labels.append("mojibake")
        out.append(doc.with_text(text, labels=labels, **extra))

    originals = [d for d in out if d.text.strip() and not d.meta["labels"]]
    copies = (("exact_dup", config.exact_dup), ("near_dup", config.near_dup))
    for kind, fraction in copies:
        k = int(round(fraction * len(originals)))
        for j, src in enumerate(rng.sample(originals, min(k, len(originals)))):
            text = src.text if kind == "exact_dup" else near_copy(src.text, rng)
            out.append(Document(f"noise/{kind}/{j}", text, "noise",
                                {"labels": [kind], "dup_of": src.id}))

    makers = (
        ("spam", config.spam_pages, spam_page),
        ("low_quality", config.low_quality_pages, low_quality_page),
        ("toxic", config.toxic_pages, toxic_page),
    )
    for kind, count, make in makers:
        for j in range(count):
            out.append(Document(f"noise/{kind}/{j}", make(rng), "noise",
                                {"labels": [kind]}))
    out += malformed_pages(rng, config.malformed_pages)
    order = list(range(len(out)))
    rng.shuffle(order)  # crawls are not sorted by quality
    return [out[i] for i in order]

"""Readers, rule filters, language ID, PII masking and the noise injector."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_from_scratch.corpora import shakespeare
from llm_from_scratch.data.crawl import local_crawl
from llm_from_scratch.data.documents import (
    Document,
    decode,
    html_to_text,
    read_html_files,
    read_jsonl,
    read_text_files,
)
from llm_from_scratch.data.filters import (
    QualityConfig,
    ValidityConfig,
    quality_reasons,
    remove_boilerplate_lines,
    validity_reason,
)
from llm_from_scratch.data.langid import (
    LanguageConfig,
    detect_language,
    language_reason,
)
from llm_from_scratch.data.noise import (
    NoiseConfig,
    add_mojibake,
    inject_noise,
    low_quality_page,
    spam_page,
)
from llm_from_scratch.data.pii import EMAIL_TOKEN, IP_TOKEN, PHONE_TOKEN, mask_pii

PROSE = (
    "It was the best of times, it was the worst of times. The people of the town "
    "went to the market with their baskets, and they talked of the weather and "
    "of the prices that had risen again. Nobody knew what the winter would bring, "
    "but everyone agreed that it would be long. The children ran between the "
    "stalls and the dogs followed them, barking at the pigeons on the roofs."
)


def test_decode_marks_bad_input_instead_of_failing():
    assert decode(b"ok\r\nfine", "a", "s").text == "ok\nfine"
    assert decode(b"\x00\x01bin", "b", "s").meta["error"] == "binary"
    assert "invalid utf-8 at byte 3" in decode(b"caf\xe9", "c", "s").meta["error"]


def test_readers(tmp_path):
    (tmp_path / "a.txt").write_text("alpha")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.txt").write_bytes(b"\xff\xfe bad")
    docs = list(read_text_files(tmp_path))
    assert [d.id for d in docs] == ["a.txt", "sub/b.txt"]
    assert "error" in docs[1].meta
    lines = [json.dumps({"id": "x", "text": "hi", "url": "u"}), "{broken", "[]", ""]
    (tmp_path / "d.jsonl").write_text("\n".join(lines))
    j = list(read_jsonl(tmp_path / "d.jsonl"))
    assert j[0] == Document("x", "hi", str(tmp_path / "d.jsonl"), {"url": "u"})
    assert "bad JSON" in j[1].meta["error"] and "no string field" in j[2].meta["error"]
    with pytest.raises(FileNotFoundError):
        list(read_text_files(tmp_path / "missing"))


def test_html_to_text_keeps_content_drops_chrome(tmp_path):
    html = (
        "<html><head><title>T</title><script>var x=1;</script></head><body>"
        "<nav>Home | About</nav><h1>Heading</h1><p>First &amp; second"
        "  paragraph.</p><style>p{}</style><p>Third</p><footer>(c) 2024</footer>"
        "</body></html>"
    )
    assert html_to_text(html) == "Heading\n\nFirst & second paragraph.\n\nThird"
    (tmp_path / "p.html").write_text(html)
    (doc,) = read_html_files(tmp_path)
    assert doc.text.startswith("Heading") and doc.meta["format"] == "html"


def test_quality_rules_keep_prose_and_shakespeare():
    assert quality_reasons(PROSE) == []
    for work in shakespeare()[:10]:
        assert quality_reasons(work.text) == [], work.name


@pytest.mark.parametrize(
    "text, reason",
    [
        ("too short.", "word count"),
        (PROSE + "\n" + "# # # # # # # # # # # # # # # # # # # # # # # # # #",
         "symbol ratio"),
        ("\n".join(["and then the story went on..."] * 5 + [PROSE]), "ellipsis lines"),
        ("1 2 3 4 5 6 7 8 9 " * 20 + PROSE, "words without letters"),
        (" ".join(["cheap watches online"] * 30), "no stop words"),
        (PROSE + " lorem ipsum dolor", "placeholder text"),
        (PROSE.replace(".", "").replace(",", ""), "terminal punctuation"),
        ("\n".join([PROSE] * 4), "repeated lines"),
        (" ".join(["internationalization"] * 60) + " the and.", "mean word length"),
    ],
)
def test_each_rule_reports_its_reason(text, reason):
    assert reason in quality_reasons(text)


RULE_FIELDS = {  # reason -> the QualityConfig fields that turn its rule off
    "word count": ("min_words", "max_words"), "symbol ratio": ("max_symbol_ratio",),
    "ellipsis lines": ("max_ellipsis_lines",),
    "words without letters": ("min_alpha_words",), "no stop words": ("min_stop_words",),
    "terminal punctuation": ("min_terminal_punct_lines",),
    "repeated lines": ("max_repeated_line_chars",),
    "mean word length": ("min_mean_word_len", "max_mean_word_len"),
    "bullet lines": ("max_bullet_lines",), "mojibake": ("max_mojibake_per_1k_chars",),
}


@pytest.mark.parametrize("reason", sorted(RULE_FIELDS))
def test_each_rule_is_switched_off_by_none(reason):
    """A page failing one rule is rejected with that reason, and that reason alone
    disappears when its fields are None."""
    texts = {
        "word count": "too short.", "symbol ratio": PROSE + " #" * 40,
        "ellipsis lines": "\n".join(["and then the story went on..."] * 5 + [PROSE]),
        "words without letters": "1 2 3 4 5 6 7 8 9 " * 20 + PROSE,
        "no stop words": " ".join(["cheap watches online."] * 30),
        "terminal punctuation": PROSE.replace(".", "").replace(",", ""),
        "repeated lines": "\n".join([PROSE] * 4),
        "mean word length": " ".join(["internationalization"] * 60) + " the and.",
        "bullet lines": "\n".join(f"- item {i} of the list, with the words." for i in
                                    range(20)) + "\n" + PROSE,
        "mojibake": add_mojibake(PROSE + " It's here - now."),
    }
    text = texts[reason]
    assert reason in quality_reasons(text)
    off = QualityConfig(**{f: None for f in RULE_FIELDS[reason]})
    assert reason not in quality_reasons(text, off)
    others = set(quality_reasons(text)) - {reason}
    assert set(quality_reasons(text, off)) == others


def test_gopher_word_count_bounds():
    def words(n):
        return " ".join(["the"] * n)

    rule = QualityConfig()
    assert "word count" not in quality_reasons(words(50), rule)
    assert "word count" in quality_reasons(words(49), rule)
    assert "word count" not in quality_reasons(words(100_000), rule)
    assert "word count" in quality_reasons(words(100_001), rule)
    assert "word count" not in quality_reasons(words(100_001),
                                               QualityConfig(max_words=None))
    assert "word count" not in quality_reasons(words(3), QualityConfig(min_words=None))


def test_bullet_rule_is_gophers_ninety_percent():
    bullets = [f"\u2022 point number {i} of the list, with the words." for i in range(9)]
    assert "bullet lines" not in quality_reasons("\n".join(bullets + [PROSE]))  # 90%
    assert "bullet lines" in quality_reasons("\n".join(bullets * 2 + [PROSE]))  # 95%


def test_noise_pages_fail_quality_rules():
    rng = random.Random(0)
    assert all(quality_reasons(spam_page(rng)) for _ in range(20))
    assert all(quality_reasons(low_quality_page(rng)) for _ in range(20))
    assert "mojibake" in quality_reasons(add_mojibake(PROSE + " It's here - now."))


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="max_symbol_ratio must be in \\[0, 1\\] or None"):
        QualityConfig(max_symbol_ratio=2.0)
    with pytest.raises(ValueError, match="min_words <= max_words"):
        QualityConfig(min_words=10, max_words=5)
    with pytest.raises(ValueError, match="min_stop_words must be an int"):
        QualityConfig(min_stop_words=-1)
    with pytest.raises(ValueError, match="min_mean_word_len must be > 0"):
        QualityConfig(min_mean_word_len=0.0)
    assert QualityConfig(min_words=None, max_words=None).max_words is None
    with pytest.raises(ValueError, match="min_confidence"):
        LanguageConfig(min_confidence=1.5)
    with pytest.raises(ValueError, match="NoiseConfig.pii"):
        NoiseConfig(pii=-0.1)


def test_validity_reasons():
    cfg = ValidityConfig(max_line_chars=100)
    assert validity_reason("fine", {}, cfg) is None
    assert validity_reason("", {"error": "binary"}, cfg) == "malformed: binary"
    assert validity_reason("  \n ", {}, cfg) == "malformed: empty"
    assert validity_reason("x" * 101, {}, cfg) == "malformed: line too long"


def test_boilerplate_lines_removed():
    text = "Home | About | Blog\nReal content here.\nWe use cookies. Accept all."
    assert remove_boilerplate_lines(text) == ("Real content here.", 2)


def test_language_id():
    assert detect_language(PROSE)[0] == "en"
    assert language_reason(PROSE) is None
    french = "Le chat est sur la table et il regarde les oiseaux dans le jardin."
    assert language_reason(french) == "language fr"
    crawl = local_crawl(readmes=0, licenses=0, pydocs=0)
    foreign = [d for d in crawl if not d.meta["lang"].startswith("en")]
    hits = sum(detect_language(d.text)[0] == d.meta["lang"].split("_")[0]
               for d in foreign)
    assert hits >= 0.6 * len(foreign)  # catalogues mix in untranslated English


def test_pii_masking_and_idempotence():
    text = ("Mail bob.smith@example.com, call (555) 123-4567 or 555-987-6543, "
            "ip 10.0.0.1.")
    masked, counts = mask_pii(text)
    assert counts == {"email": 1, "ip": 1, "phone": 2}
    assert EMAIL_TOKEN in masked and PHONE_TOKEN in masked and IP_TOKEN in masked
    assert mask_pii(masked) == (masked, {"email": 0, "ip": 0, "phone": 0})
    none = {"email": 0, "ip": 0, "phone": 0}
    assert mask_pii("In 1999 we had 3.14 apples.")[1] == none


@settings(max_examples=50, deadline=None, derandomize=True)
@given(st.text(max_size=80))
def test_pii_masking_is_idempotent_on_any_text(text):
    once, _ = mask_pii(text)
    assert mask_pii(once)[0] == once


def test_noise_injector_is_deterministic_and_labelled():
    docs = [Document(f"d{i}", PROSE + f" Number {i}.", "clean") for i in range(40)]
    a = inject_noise(docs, NoiseConfig(seed=1))
    b = inject_noise(docs, NoiseConfig(seed=1))
    assert a == b and a != inject_noise(docs, NoiseConfig(seed=2))
    labels = Counter(lab for d in a for lab in d.meta["labels"])
    assert labels["spam"] == 40 and labels["toxic"] == 30 and labels["malformed"] == 8
    assert labels["exact_dup"] >= 1 and labels["near_dup"] >= 1
    for d in a:
        if "pii" in d.meta["labels"]:
            assert sum(mask_pii(d.text)[1].values()) >= 3
        if "exact_dup" in d.meta["labels"]:
            assert any(o.id == d.meta["dup_of"] and o.text == d.text for o in a)


def _warc_record(kind: str, uri: str, block: bytes) -> bytes:
    head = (f"WARC/1.0\r\nWARC-Type: {kind}\r\nWARC-Target-URI: {uri}\r\n"
            f"WARC-Record-ID: <urn:uuid:{abs(hash(uri)) % 10**8}>\r\n"
            f"Content-Length: {len(block)}\r\n\r\n").encode()
    return head + block + b"\r\n\r\n"


def test_warc_reader_on_a_small_gzipped_file(tmp_path):
    import gzip

    from llm_from_scratch.data.archives import read_warc

    html = b"<html><body><nav>Menu</nav><p>Hello from the crawl.</p></body></html>"
    response = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
                + html)
    records = [
        _warc_record("warcinfo", "", b"software: test"),
        _warc_record("request", "http://a.example/", b"GET / HTTP/1.1\r\n\r\n"),
        _warc_record("response", "http://a.example/", response),
        _warc_record("response", "http://b.example/x.bin",
                     b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n\r\n"
                     b"\x89PNG\x00\x01"),
    ]
    path = tmp_path / "crawl.warc.gz"
    with gzip.open(path, "wb") as f:  # one gzip member, as some writers do
        f.write(b"".join(records[:2]))
    with open(path, "ab") as f:  # further members appended, as Common Crawl does
        f.write(gzip.compress(b"".join(records[2:])))
    docs = list(read_warc(path))
    urls = [d.meta["url"] for d in docs]
    assert urls == ["http://a.example/", "http://b.example/x.bin"]
    assert docs[0].text == "Hello from the crawl." and docs[0].meta["format"] == "html"
    assert docs[1].meta["error"] == "binary"
    (tmp_path / "bad.warc").write_bytes(records[2][:-40])
    (damaged,) = read_warc(tmp_path / "bad.warc")
    assert "truncated" in damaged.meta["error"]

"""PII masking of phone numbers: every North-American form, and the other numbers
of real text (years, prices, versions, dates, ids, URLs) left alone."""

from __future__ import annotations

import pytest

from llm_from_scratch.data.pii import PHONE_TOKEN, mask_pii

PHONES = [
    "2831823829", "(283)-182-3829", "(283) 182-3829", "(283)182-3829", "283-182-3829",
    "283.182.3829", "283 182 3829", "+1 283 182 3829", "+1-283-182-3829", "1-283-182-3829",
    "+1 (283) 182-3829", "1 (283) 182 3829", "18005551234", "+12831823829", "555-123-4567",
    "(917) 555-0134", "917.555.0134", "9175550134", "+1.917.555.0134", "1-800-555-0199",
]
CONTEXTS = ["Call {} today.", "phone: {}", "({})", "tel:{}", "Reach us at {}, or write.",
            "{}"]
NOT_PHONES = [
    "1999", "2024", "in 1999 and 2024", "$18.50", "$1,234,567", "1,234,567 rows",
    "3.11.2", "1.0.4.post1", "v2.13.0", "torch==2.13.0", "2026-12-05", "12/05/2026",
    "2026-12-05T10:20:30", "13:45:07.123", "ISBN 978-3-16-148410-0", "ISBN 0-306-40615-2",
    "978-0306406157", "9780306406157", "1733356800", "1700000000", "0123456789",
    "a3f2831823829b", "2831823829abc", "0x2831823829", "4111111111111111",
    "4111 1111 1111 1111", "283-182-38290", "283-182-3829-12", "2.831823829",
    "10.283.182.3829", "https://example.net/post/17551554979/images",
    "https://x.org/?id=2831823829", "#2831823829", "page 2831823829/2", "3.14159265358979",
    "port 8080", "PID 28318", "SSN-like 283-18-2382", "2^31 = 2_147_483_648",
    "1e10", "6.022e23", "1/3", "0.2831823829", "sha 9f86d081884c7d65", "12:30 pm",
]


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize("phone", PHONES)
def test_every_phone_form_is_masked_whole(phone, context):
    masked, counts = mask_pii(context.format(phone))
    assert masked == context.format(PHONE_TOKEN) and counts["phone"] == 1


@pytest.mark.parametrize("text", NOT_PHONES)
def test_other_numbers_are_left_alone(text):
    sentence = f"See {text} in the report."
    assert mask_pii(sentence) == (sentence, {"email": 0, "ip": 0, "phone": 0})


def test_precision_and_recall_on_text_full_of_numbers():
    """One page mixing every phone form with every look-alike: recall 1, precision 1."""
    parts = [f"Phone {p} is listed." for p in PHONES] + [f"Note {n} here." for n in NOT_PHONES]
    masked, counts = mask_pii("\n".join(parts))
    assert counts["phone"] == len(PHONES)  # recall: every phone found, once each
    for n in NOT_PHONES:  # precision: nothing else was touched
        assert f"Note {n} here." in masked.split("\n")


def test_a_bare_ten_digit_number_is_read_as_a_phone():
    """The known false positive, by design: ten bare digits with a valid area code
    (2-9 first) cannot be told from a phone number without context (2^31 here)."""
    assert mask_pii("2^31 = 2147483648")[1]["phone"] == 1
    assert mask_pii("2^32 = 4_294_967_296")[1]["phone"] == 0


def test_masking_is_idempotent_and_ip_addresses_stay_ip():
    text = "Call 283-182-3829 or 192.168.10.20; mail a.b@example.org."
    once, counts = mask_pii(text)
    assert counts == {"email": 1, "ip": 1, "phone": 1}
    assert mask_pii(once) == (once, {"email": 0, "ip": 0, "phone": 0})

"""Personally identifiable information: mask e-mail, phone and IPv4 addresses.

Models memorise rare strings seen a few times, and a contact address is
exactly that. Masking with fixed placeholders (the ones Dolma and the
BigScience pipeline use) keeps the sentence shape while removing the secret.
The patterns are deliberately simple and precise rather than exhaustive;
text that is already masked is left unchanged, so masking is idempotent.
"""

from __future__ import annotations

import re

EMAIL_TOKEN = "|||EMAIL_ADDRESS|||"
PHONE_TOKEN = "|||PHONE_NUMBER|||"
IP_TOKEN = "|||IP_ADDRESS|||"

EMAIL = re.compile(r"\b[\w.+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}\b")
# North-American numbers (NANP: NXX-XXX-XXXX, where the area code starts with
# 2-9; the exchange is not checked, since made-up numbers in text often break
# that rule), optionally after +1 or 1: 2831823829,
# (283) 182-3829, (283)-182-3829, 283-182-3829, 283.182.3829, 283 182 3829,
# +1 283 182 3829, 1-283-182-3829. The N rule and the guards keep other numbers:
# a Unix time (1733356800) starts with 1, a date or a version string has other
# group lengths, and a digit, letter, dot or dash glued to either end means the
# ten digits are part of a longer token (a card number, a hash, an ISBN), as a
# slash, "=" or "#" before them does (a URL's path or query: /post/17551554979).
# Ten bare digits starting with 2-9 (2147483648) are still read as a phone number:
# without context they cannot be told apart, and PII errs on the side of masking.
PHONE = re.compile(
    r"(?<![\w|+.\-/=#])(?:(?:\+1|1)[ .-]?)?"
    r"(?:\([2-9]\d\d\)[ .-]?|[2-9]\d\d[ .-]?)\d{3}[ .-]?\d{4}"
    r"(?![\w|/]|[.-]\d)"
)
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
IPV4 = re.compile(rf"(?<![\w.|]){_OCTET}(?:\.{_OCTET}){{3}}(?![\w|]|\.\d)")


def mask_pii(text: str) -> tuple[str, dict[str, int]]:
    """Replace each address by its placeholder; return the text and counts."""
    counts = {}
    for name, pattern, token in (
        ("email", EMAIL, EMAIL_TOKEN),
        ("ip", IPV4, IP_TOKEN),
        ("phone", PHONE, PHONE_TOKEN),
    ):
        text, counts[name] = pattern.subn(token, text)
    return text, counts

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
# North-American style numbers, optionally with +1 / a country code:
# (555) 123-4567, 555-123-4567, +1 555 123 4567, 555.123.4567
PHONE = re.compile(
    r"(?<![\w|])(?:\+\d{1,3}[ .-]?)?(?:\(\d{3}\)\s?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\w|])"
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

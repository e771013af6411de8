"""Finds secrets in log output: Stripe keys, webhook secrets, JWTs and card-like numbers
(13 to 19 digits passing the Luhn check, so timestamps and ids do not count)."""

from __future__ import annotations

import re

PATTERNS = {
    "stripe secret key": re.compile(r"\b[sr]k_(?:test|live)_[A-Za-z0-9]{8,}"),
    "webhook secret": re.compile(r"\bwhsec_[A-Za-z0-9]{8,}"),
    "jwt": re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
}
DIGITS = re.compile(r"(?<![\w.])(?:\d[ -]?){12,18}\d(?![\w.])")


def luhn(number: str) -> bool:
    digits = [int(d) for d in number if d.isdigit()]
    total = 0
    for i, digit in enumerate(reversed(digits)):
        if i % 2:
            digit *= 2
            digit -= 9 if digit > 9 else 0
        total += digit
    return total % 10 == 0


def find_secrets(text: str) -> list[tuple[str, str]]:
    hits = [(name, m.group(0)) for name, rx in PATTERNS.items() for m in rx.finditer(text)]
    for m in DIGITS.finditer(text):
        digits = re.sub(r"\D", "", m.group(0))
        if 13 <= len(digits) <= 19 and luhn(digits):
            hits.append(("card-like number", m.group(0)))
    return hits

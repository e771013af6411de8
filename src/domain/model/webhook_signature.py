"""Stripe's webhook signature: `Stripe-Signature: t=<unix>,v1=<hex hmac>[,v1=...][,v0=...]`.

The HMAC-SHA256 of "<t>.<raw body>" under the endpoint secret must equal one v1 value; the
timestamp must be within the tolerance of now in both directions (a replayed old event and one
stamped in the future are both refused). Several secrets are tried while one is rotated.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime

from domain.errors import (
    WebhookSignatureInvalid,
    WebhookSignatureMissing,
    WebhookTimestampOutOfTolerance,
)

TOLERANCE_S = 300


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """The v1 signature Stripe computes (used by tests and tools to sign like Stripe does)."""
    signed = f"{timestamp}.".encode() + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(payload: bytes, secret: str, timestamp: int) -> str:
    return f"t={timestamp},v1={sign(payload, secret, timestamp)}"


def verify(
    payload: bytes,
    header: str | None,
    secrets: Sequence[str],
    now: datetime,
    tolerance_s: int = TOLERANCE_S,
) -> int:
    """Check the header against the raw body; answer the signed timestamp."""
    if not header:
        raise WebhookSignatureMissing("the Stripe-Signature header is missing")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise WebhookSignatureInvalid("the signature's timestamp is not a number") from None
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise WebhookSignatureInvalid(
            "the Stripe-Signature header has no timestamp or no v1 signature"
        )
    if not any(
        hmac.compare_digest(sign(payload, secret, timestamp), candidate)
        for secret in secrets
        for candidate in candidates
    ):
        raise WebhookSignatureInvalid("no signature matches the body under the configured secrets")
    skew = abs(now.timestamp() - timestamp)
    if skew > tolerance_s:
        raise WebhookTimestampOutOfTolerance(
            f"the signature's timestamp is {int(skew)} s from now; at most {tolerance_s} s is "
            "accepted"
        )
    return timestamp

"""Signature verification, checked against stripe-python's own verifier as the reference."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
import stripe

from domain.errors import (
    WebhookSignatureInvalid,
    WebhookSignatureMissing,
    WebhookTimestampOutOfTolerance,
)
from domain.model.webhook_signature import signature_header, verify
from tests.helpers import WEBHOOK_SECRET, stripe_signature

BODY = json.dumps(
    {"id": "evt_1", "type": "invoice.paid", "data": {"object": {"id": "in_1"}}}, indent=2
).encode()


def now_dt() -> datetime:
    return datetime.now(UTC)


def test_a_header_signed_like_stripe_verifies_here_and_in_stripe_python():
    header = stripe_signature(BODY)
    assert verify(BODY, header, [WEBHOOK_SECRET], now_dt())
    stripe.WebhookSignature.verify_header(BODY.decode(), header, WEBHOOK_SECRET, 300)


def test_our_signing_helper_matches_stripes():
    t = int(time.time())
    assert signature_header(BODY, WEBHOOK_SECRET, t) == stripe_signature(BODY, timestamp=t)


@pytest.mark.parametrize("header", [None, ""])
def test_missing_signature(header):
    with pytest.raises(WebhookSignatureMissing):
        verify(BODY, header, [WEBHOOK_SECRET], now_dt())


@pytest.mark.parametrize(
    "header",
    [
        lambda: stripe_signature(BODY, "whsec_wrong"),
        lambda: stripe_signature(BODY + b" "),
        lambda: stripe_signature(json.dumps(json.loads(BODY)).encode()),  # re-serialised
        lambda: stripe_signature(BODY, scheme="v0"),
        lambda: "t=abc,v1=00",
        lambda: "v1=" + "0" * 64,
        lambda: "garbage",
    ],
)
def test_invalid_signatures(header):
    with pytest.raises(WebhookSignatureInvalid):
        verify(BODY, header(), [WEBHOOK_SECRET], now_dt())


def test_tampered_body_fails():
    header = stripe_signature(BODY)
    with pytest.raises(WebhookSignatureInvalid):
        verify(BODY.replace(b"in_1", b"in_2"), header, [WEBHOOK_SECRET], now_dt())


@pytest.mark.parametrize(
    ("offset", "ok"), [(-299, True), (299, True), (-301, False), (301, False), (-86400, False)]
)
def test_tolerance_is_300_seconds_both_ways(offset, ok):
    now = int(time.time())
    header = stripe_signature(BODY, timestamp=now + offset)
    at = datetime.fromtimestamp(now, UTC)
    if ok:
        verify(BODY, header, [WEBHOOK_SECRET], at)
    else:
        with pytest.raises(WebhookTimestampOutOfTolerance):
            verify(BODY, header, [WEBHOOK_SECRET], at)


def test_any_of_several_secrets_during_rotation():
    old, new = "whsec_old_secret", "whsec_new_secret"
    for secret in (old, new):
        verify(BODY, stripe_signature(BODY, secret), [old, new], now_dt())
    with pytest.raises(WebhookSignatureInvalid):
        verify(BODY, stripe_signature(BODY, "whsec_other"), [old, new], now_dt())


def test_several_v1_signatures_in_one_header():
    good = stripe_signature(BODY)
    t, v1 = good.split(",")
    verify(BODY, f"{t},v1={'0' * 64},{v1}", [WEBHOOK_SECRET], now_dt())

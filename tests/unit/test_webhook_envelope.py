"""The intake's envelope: only what the inbox can store, from a UTF-8 JSON object."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.errors import WebhookMalformed
from domain.services.webhook_intake import parse_envelope

NOW = datetime(2026, 12, 1, tzinfo=UTC)
OK = b'{"id": "evt_1", "type": "customer.updated", "created": 1764547200, "data": {"object": {}}}'


def test_an_event_gives_its_envelope():
    event = parse_envelope(OK, NOW)
    assert (event.id, event.type, event.received_at) == ("evt_1", "customer.updated", NOW)
    assert event.stripe_created_at == datetime(2025, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "body",
    [
        OK.replace(b"{}", b'{"amount": NaN}'),
        OK.replace(b"{}", b'{"amount": -Infinity}'),
        OK.replace(b"{}", '{"name": "\xe9"}'.encode("latin-1")),
        OK.decode().encode("utf-16"),
        OK.replace(b"{}", b'{"name": "a\\u0000b"}'),
        OK.replace(b"{}", b'{"a\\u0000": 1}'),
        OK.replace(b"{}", b'{"names": [["x", "\\u0000"]]}'),
    ],
    ids=["NaN", "Infinity", "latin-1", "utf-16", "NUL in a value", "NUL in a key", "NUL nested"],
)
def test_bodies_the_inbox_could_not_store_as_received_are_malformed(body):
    with pytest.raises(WebhookMalformed):
        parse_envelope(body, NOW)


def test_an_escaped_backslash_before_u0000_is_no_nul():
    body = OK.replace(b"{}", b'{"path": "C:\\\\u0000"}')  # a backslash, then the text u0000
    assert parse_envelope(body, NOW).payload["data"]["object"]["path"] == "C:\\u0000"

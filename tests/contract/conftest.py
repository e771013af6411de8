"""Contract tests: the real Stripe adapter against vcrpy cassettes.

Modes (environment):
- default: replay only (record_mode "none"); a request not in the cassette fails the test.
- CONTRACT_MODE=stub: rebuild the cassettes from a local stand-in answering with Stripe's
  published fixture objects (tests/contract/stripe_stub.py).
- CONTRACT_MODE=stripe with STRIPE_SECRET_KEY=sk_test_...: re-record against a Stripe test-mode
  account.

Requests match on method, path, query and body; authorization and idempotency headers are never
written to a cassette (they are captured in memory so tests can assert the keys we send).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import stripe
import vcr

from adapters.stripe_gateway import StripeGateway, make_stripe_client
from tests.contract.stripe_stub import running_stub

CASSETTES = Path(__file__).parent / "cassettes"
MODE = os.environ.get("CONTRACT_MODE", "replay")
REPLAY_KEY = "sk_test_contract_replay"


@dataclass
class Sent:
    """What the adapter sent, as seen by the recorder: (method, path, idempotency key)."""

    requests: list[tuple[str, str, str | None]] = field(default_factory=list)

    def keys(self) -> list[str | None]:
        return [key for _, _, key in self.requests]


class RecordingClient(stripe.RequestsClient):
    """The production HTTP client, noting each attempt (retries included) before it is sent."""

    def __init__(self, sent: Sent, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sent = sent

    def request(self, method: str, url: str, headers: Any, post_data: Any = None) -> Any:
        lowered = {k.lower(): v for k, v in (headers or {}).items()}
        self.sent.requests.append(
            (method.upper(), urlsplit(url).path, lowered.get("idempotency-key"))
        )
        return super().request(method, url, headers, post_data)


KEPT_HEADERS = ("content-type", "stripe-version")


def _scrub_request(request: Any) -> Any:
    """Keep only what describes the call; never a key, an idempotency key or machine details.
    Cassettes built on the local stand-in are written with Stripe's own address."""
    for name in list(request.headers):
        if name.lower() not in KEPT_HEADERS:
            del request.headers[name]
    parts = urlsplit(request.uri)
    if parts.hostname == "127.0.0.1":
        request.uri = f"https://api.stripe.com{parts.path}" + (
            f"?{parts.query}" if parts.query else ""
        )
    return request


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    response["headers"] = {
        k: v
        for k, v in response["headers"].items()
        if k.lower() in ("content-type", "request-id", "stripe-version")
    }
    return response


@dataclass
class Contract:
    sent: Sent
    api_base: str | None
    api_key: str
    stub: Any = None

    def gateway(self, *, api_key: str | None = None, retries: int = 0) -> StripeGateway:
        client = RecordingClient(self.sent, timeout=20)
        return StripeGateway(
            make_stripe_client(
                api_key or self.api_key,
                api_base=self.api_base,
                max_network_retries=retries,
                http_client=client,
            )
        )


@pytest.fixture
def contract(request: pytest.FixtureRequest) -> Iterator[Contract]:
    name = request.node.name
    cassette = CASSETTES / f"{name}.yaml"
    sent = Sent()
    recorder = vcr.VCR(
        match_on=["method", "path", "query", "body"],
        before_record_request=_scrub_request,
        before_record_response=_scrub_response,
        decode_compressed_response=True,
        record_mode="none" if MODE == "replay" else "all",
    )
    if MODE == "replay":
        assert cassette.exists(), f"missing cassette {cassette.name}: see README (contract tests)"
        with recorder.use_cassette(str(cassette)) as tape:
            yield Contract(sent, None, REPLAY_KEY)
            assert tape.all_played, f"{cassette.name}: recorded requests were not made"
    elif MODE == "stub":
        with running_stub() as (base, app), recorder.use_cassette(str(cassette)):
            yield Contract(sent, base, "sk_test_stub", app)
    else:
        key = os.environ.get("STRIPE_SECRET_KEY", "")
        if not key.startswith("sk_test_"):
            pytest.fail("CONTRACT_MODE=stripe needs STRIPE_SECRET_KEY=sk_test_... (test mode)")
        with recorder.use_cassette(str(cassette)):
            yield Contract(sent, os.environ.get("STRIPE_API_BASE"), key)

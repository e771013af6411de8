"""Standard Webhooks over HTTP: the signature headers by the `standardwebhooks` package,
the call by httpx with short timeouts and no redirects followed."""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from datetime import datetime
from math import floor

import httpx
from standardwebhooks import Webhook

from domain.model.webhook_endpoints import RESPONSE_SNIPPET_CHARS, SendResult

USER_AGENT = "billing-service-webhooks/1"


def signature_header(secrets: Sequence[str], message_id: str, now: datetime, body: str) -> str:
    """One `v1,<signature>` per secret, space-separated (a receiver accepts any of them)."""
    return " ".join(Webhook(secret).sign(message_id, now, body) for secret in secrets)


class HttpWebhookSender:
    def __init__(self, connect_timeout_s: float = 3.0, timeout_s: float = 10.0) -> None:
        self.timeout = httpx.Timeout(timeout_s, connect=connect_timeout_s)

    def send(
        self, url: str, message_id: str, body: str, secrets: Sequence[str], now: datetime
    ) -> SendResult:
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": message_id,
            "webhook-timestamp": str(floor(now.timestamp())),
            "webhook-signature": signature_header(secrets, message_id, now, body),
        }
        started = time.monotonic()
        try:
            with httpx.Client(timeout=self.timeout, follow_redirects=False) as client:
                response = client.post(url, content=body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            return SendResult(None, f"{type(exc).__name__}: {exc}"[:500], _ms(started))
        snippet = response.text[:RESPONSE_SNIPPET_CHARS] if response.content else None
        error = None if response.is_success else f"HTTP {response.status_code}"
        return SendResult(response.status_code, error, _ms(started), snippet)


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


class SocketResolver:
    def resolve(self, host: str) -> list[str]:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        return sorted({str(info[4][0]) for info in infos})

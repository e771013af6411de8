"""Test helpers shared by unit and integration tests: tokens signed like a product would."""

from __future__ import annotations

import time
from typing import Any

import jwt

TEST_JWT_SECRET = "test-secret-key-that-is-long-enough-for-hs256-and-hs512-0123456789abcdef"


def make_token(
    org_id: str | None = "org_a",
    role: str | None = "owner",
    *,
    sub: str = "user-1",
    secret: str = TEST_JWT_SECRET,
    algorithm: str = "HS256",
    expires_in: int = 3600,
    drop: tuple[str, ...] = (),
    **extra: Any,
) -> str:
    claims: dict[str, Any] = {
        "sub": sub,
        "org_id": org_id,
        "role": role,
        "exp": int(time.time()) + expires_in,
        "iat": int(time.time()),
    }
    claims.update(extra)
    for name in drop:
        claims.pop(name, None)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, secret, algorithm=algorithm)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def bearer(org_id: str = "org_a", role: str = "owner", **kwargs: Any) -> dict[str, str]:
    return auth(make_token(org_id, role, **kwargs))


WEBHOOK_SECRET = "whsec_test_0123456789abcdefghijklmnopqrstuv"


def stripe_signature(
    payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None, scheme: str = "v1"
) -> str:
    """The Stripe-Signature header exactly as Stripe builds it (written here independently of
    the service's own verifier): HMAC-SHA256 over b"<t>." + raw body, hex-encoded."""
    import hashlib
    import hmac

    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},{scheme}={digest}"


def signed(payload: bytes, secret: str = WEBHOOK_SECRET, **kwargs: Any) -> dict[str, str]:
    return {
        "Stripe-Signature": stripe_signature(payload, secret, **kwargs),
        "Content-Type": "application/json; charset=utf-8",
    }


def deliver(container: Any, body: bytes) -> Any:
    """Receive a Stripe event as the webhook route does (signed at the container's clock) and
    apply it as the worker does; answer the event's status."""
    from domain.services.stripe_events import handle_stripe_event
    from domain.services.webhook_intake import receive_stripe_event

    stamped = int(container.clock.now().timestamp())
    receipt = receive_stripe_event(
        container.uow,
        container.jobs,
        container.clock,
        body,
        stripe_signature(body, timestamp=stamped),
        [WEBHOOK_SECRET],
    )
    return handle_stripe_event(container.payments, receipt.event_id)

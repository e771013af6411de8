"""Rate limits, security events, mass assignment, deep JSON and the secret scanner."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

import pytest

from entrypoints.api.app import create_app
from tests.helpers import WEBHOOK_SECRET, bearer, make_token, stripe_signature
from tests.secret_scan import find_secrets, luhn
from tests.unit.fakes import FakeClock, fake_ports
from tests.unit.test_http_errors import assert_error


def app_with(settings, stripe, **limits):
    return create_app(
        settings.model_copy(update={"stripe_webhook_secret": WEBHOOK_SECRET, **limits}),
        **fake_ports(gateway=stripe, clock=FakeClock(datetime.now(UTC))),
    )


def test_per_ip_limit_hits_then_resets(settings, stripe):
    client = app_with(settings, stripe, rate_limit_per_ip="3/second").test_client()
    codes = [client.get("/api/v1/plans").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = client.get("/api/v1/plans")
    body = assert_error(limited, 429, "rate_limited")
    assert int(limited.headers["Retry-After"]) >= 0 and body["message"]
    time.sleep(1.1)  # the window ends
    assert client.get("/api/v1/plans").status_code == 200


def test_per_org_limit_on_payment_writes(settings, stripe):
    client = app_with(settings, stripe, rate_limit_sensitive="2/minute").test_client()

    def post(org):
        return client.post(
            "/api/v1/billing/customer", json={"email": "a@example.com"}, headers=bearer(org)
        )

    assert [post("org_a").status_code for _ in range(2)] == [200, 200]
    refused = post("org_a")
    assert_error(refused, 429, "rate_limited")
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert post("org_b").status_code == 200  # another organization has its own budget
    assert client.get("/api/v1/billing/status", headers=bearer("org_a")).status_code == 200


def test_the_webhook_is_never_rate_limited(settings, stripe):
    client = app_with(settings, stripe, rate_limit_per_ip="1/minute").test_client()
    for n in range(5):
        body = stripe.event("charge.refunded", {"id": f"ch_{n}"})
        response = client.post(
            "/api/v1/billing/webhook",
            data=body,
            headers={
                "Stripe-Signature": stripe_signature(body, timestamp=int(time.time())),
                "Content-Type": "application/json",
            },
        )
        assert response.status_code == 200


def test_metering_is_not_limited_per_ip(settings, stripe):
    client = app_with(settings, stripe, rate_limit_per_ip="1/minute").test_client()
    codes = {
        client.post(
            "/api/v1/quota/consume", json={"metric": "queries"}, headers=bearer("org_a", "service")
        ).status_code
        for _ in range(5)
    }
    assert codes == {200}


def events_of(caplog, kind):
    return [r for r in caplog.records if getattr(r, "security_event", None) == kind]


def test_every_security_event_is_logged_once_with_its_fields(settings, stripe, caplog, ports):
    caplog.set_level(logging.INFO, logger="billing.security")
    app = app_with(settings, stripe, rate_limit_sensitive="1/minute")
    client = app.test_client()

    client.get("/api/v1/billing/status", headers={"X-Request-Id": "req-1"})
    (auth,) = events_of(caplog, "auth_failed")
    assert (auth.request_id, auth.actor, auth.code) == ("req-1", "anonymous", "token_missing")

    client.get("/api/v1/admin/webhook-events", headers=bearer("org_a", "owner"))
    (role,) = events_of(caplog, "role_refused")
    assert (role.org_id, role.actor, role.code) == ("org_a", "user:user-1", "forbidden_role")

    client.post(
        "/api/v1/billing/customer", json={"email": "a@example.com"}, headers=bearer("org_a")
    )
    client.post("/api/v1/billing/subscription", json={"plan_tier": "pro"}, headers=bearer("org_a"))
    (limited,) = events_of(caplog, "rate_limited")
    assert limited.org_id == "org_a" and limited.path == "/api/v1/billing/subscription"

    body = stripe.event("invoice.paid", {"id": "in_1"})
    client.post(
        "/api/v1/billing/webhook",
        data=body,
        headers={"Stripe-Signature": "t=1,v1=00", "Content-Type": "application/json"},
    )
    (signature,) = events_of(caplog, "signature_failed")
    assert signature.code == "webhook_signature_invalid" and signature.actor == "anonymous"

    app_b = app_with(settings, stripe)
    client_b = app_b.test_client()
    client_b.post(
        "/api/v1/billing/customer", json={"email": "a@example.com"}, headers=bearer("org_a")
    )
    client_b.post(
        "/api/v1/usage/events",
        json={"events": [{"metric": "stt_words", "quantity": 5000, "idempotency_key": "k"}]},
        headers=bearer("org_a", "service"),
    )
    invoice = client_b.post(
        "/api/v1/billing/generate-usage-invoice", headers=bearer("org_a")
    ).get_json()["invoice"]
    changes = events_of(caplog, "billing_change")
    assert [c.action for c in changes] == ["usage_invoice.created"]
    assert changes[0].actor == "user:user-1" and changes[0].org_id == "org_a"
    assert changes[0].request_id  # the request that caused it

    client_b.get(f"/api/v1/billing/invoices/{invoice['id']}", headers=bearer("org_b"))
    (foreign,) = events_of(caplog, "cross_tenant")
    assert (foreign.org_id, foreign.object_id) == ("org_b", invoice["id"])

    audit = client_b.get(
        "/api/v1/admin/audit?org_id=org_b&action=security.", headers=bearer("ops", "platform_admin")
    ).get_json()["entries"]
    assert [e["action"] for e in audit] == ["security.cross_tenant"]
    assert audit[0]["details"]["object_id"] == invoice["id"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/billing/customer", {"email": "a@example.com", "org_id": "org_b"}),
        ("/api/v1/billing/customer", {"email": "a@example.com", "stripe_customer_id": "cus_x"}),
        ("/api/v1/billing/subscription", {"plan_tier": "pro", "role": "owner"}),
        ("/api/v1/billing/subscription", {"plan_tier": "pro", "plan": "enterprise"}),
        ("/api/v1/billing/create-checkout-session", {"plan_tier": "pro", "org_id": "org_b"}),
        ("/api/v1/billing/subscription/change", {"plan_tier": "pro", "stripe_customer_id": "c"}),
        ("/api/v1/quota/consume", {"metric": "queries", "org_id": "org_b"}),
        (
            "/api/v1/usage/events",
            {
                "events": [
                    {
                        "metric": "stt_words",
                        "quantity": 1,
                        "idempotency_key": "k",
                        "org_id": "org_b",
                    }
                ]
            },
        ),
    ],
)
def test_mass_assignment_is_refused_and_changes_nothing(client, ports, stripe, path, body):
    response = client.post(path, json=body, headers=bearer("org_a", "owner"))
    assert_error(response, 422, "validation_error")
    store = ports["uow"].store
    assert store.customers == {} and store.subscriptions == {} and store.usage_events == []
    assert stripe.writes() == []


def test_json_that_nests_too_deeply_is_a_400(client):
    deep = "[" * 30_000 + "]" * 30_000  # 60 KB: under the 64 KB limit of these tests
    for path in ("/api/v1/usage/events", "/api/v1/billing/customer"):
        response = client.post(
            path, data=deep, content_type="application/json", headers=bearer("org_a", "owner")
        )
        assert_error(response, 400, "json_too_deep")


def test_every_answer_carries_a_request_id(client):
    assert len(client.get("/healthz").headers["X-Request-Id"]) == 32
    echoed = client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert echoed.headers["X-Request-Id"] == "abc-123"
    bad = client.get("/healthz", headers={"X-Request-Id": "no spaces; please"})
    assert bad.headers["X-Request-Id"] != "no spaces; please"


def test_the_secret_scanner_finds_what_it_must_and_nothing_else():
    token = make_token()
    line = (
        f'{{"message": "x", "key": "sk_live_{"a1" * 12}", "whsec": "whsec_{"b2" * 8}", '
        f'"token": "{token}", "card": "4242 4242 4242 4242"}}'
    )
    kinds = sorted(kind for kind, _ in find_secrets(line))
    assert kinds == ["card-like number", "jwt", "stripe secret key", "webhook secret"]
    benign = (
        '{"ts": 1763726400000, "id": "evt_1Pgc6rB7WZ01zgkW", "sub": "sub_fake000001", '
        '"entry": "1763726400000-0", "masked": "sk_test_********", "n": 1234567890123, '
        '"invoice_id": "uinv_7977587464514ec7ad3d"}'
    )
    assert find_secrets(benign) == []
    assert luhn("4242424242424242") and not luhn("4242424242424241")


def test_behind_a_trusted_proxy_the_client_address_is_the_forwarded_one(settings, stripe):
    behind = app_with(settings, stripe, trusted_proxies=1, rate_limit_per_ip="1/minute")
    client = behind.test_client()
    first = client.get("/api/v1/plans", headers={"X-Forwarded-For": "203.0.113.7"})
    other = client.get("/api/v1/plans", headers={"X-Forwarded-For": "203.0.113.8"})
    again = client.get("/api/v1/plans", headers={"X-Forwarded-For": "203.0.113.7"})
    assert (first.status_code, other.status_code, again.status_code) == (200, 200, 429)
    direct = app_with(settings, stripe, rate_limit_per_ip="1/minute").test_client()
    direct.get("/api/v1/plans", headers={"X-Forwarded-For": "203.0.113.7"})
    spoofed = direct.get("/api/v1/plans", headers={"X-Forwarded-For": "203.0.113.8"})
    assert spoofed.status_code == 429  # not trusted: the header changes nothing


def test_a_flood_of_bad_signatures_is_logged_but_stored_once(settings, stripe, caplog):
    from entrypoints.api import security

    security._last_kept.clear()
    caplog.set_level(logging.INFO, logger="billing.security")
    app = app_with(settings, stripe)
    client = app.test_client()
    body = stripe.event("invoice.paid", {"id": "in_1"})
    for _ in range(50):
        client.post(
            "/api/v1/billing/webhook",
            data=body,
            headers={"Stripe-Signature": "t=1,v1=00", "Content-Type": "application/json"},
        )
    assert len(events_of(caplog, "signature_failed")) == 50
    store = app.extensions["billing"].uow.store
    stored = [e for e in store.audit if e.action == "security.signature_failed"]
    assert len(stored) == 1

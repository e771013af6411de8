"""Quota check-and-consume through the HTTP layer, with the in-memory counter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.model.plans import Tier
from domain.model.subscriptions import Subscription, SubscriptionStatus
from domain.services.quotas import flush_ledger
from tests.helpers import bearer
from tests.unit.test_http_errors import assert_error

CONSUME = "/api/v1/quota/consume"


def consume(client, metric="queries", amount=1, key=None, org="org_a", role="service"):
    body = {"metric": metric, "amount": amount}
    if key:
        body["idempotency_key"] = key
    return client.post(CONSUME, json=body, headers=bearer(org, role))


def subscribe(app, ports, org_id: str, tier: Tier, status=SubscriptionStatus.ACTIVE, days=30):
    now = ports["clock"].now()
    ports["uow"].store.subscriptions[f"sub_{org_id}"] = Subscription(
        org_id,
        f"sub_{org_id}",
        "cus_1",
        status,
        tier,
        "price_x",
        now - timedelta(days=1),
        now + timedelta(days=days),
        False,
        None,
        now,
    )
    app.extensions["billing"].payments.plan_changed(org_id)


def test_within_quota_answers_what_is_left(client):
    response = consume(client)
    assert response.status_code == 200
    body = response.get_json()
    assert body["allowed"] is True and body["used"] == 1 and body["limit"] == 100
    assert body["remaining"] == 99
    assert body["resets_at"].startswith("2026-12-01T00:00:00")
    assert response.headers["RateLimit-Limit"] == "100"
    assert response.headers["RateLimit-Remaining"] == "99"
    assert int(response.headers["RateLimit-Reset"]) > 0


def test_over_quota_is_429_with_headers_and_nothing_consumed(client):
    assert consume(client, amount=100).status_code == 200
    response = consume(client)
    body = assert_error(response, 429, "quota_exceeded")
    assert body["used"] == 100 and body["limit"] == 100 and body["remaining"] == 0
    assert response.headers["Retry-After"] == response.headers["RateLimit-Reset"]
    assert response.headers["RateLimit-Remaining"] == "0"
    assert consume(client, amount=101, org="org_b").status_code == 429  # never partly


def test_a_repeated_idempotency_key_counts_once(client):
    first = consume(client, key="req-1").get_json()
    again = consume(client, key="req-1").get_json()
    assert first["used"] == again["used"] == 1 and again["duplicate"] is True
    assert consume(client).get_json()["used"] == 2


def test_unlimited_plans_never_refuse(app, client, ports):
    subscribe(app, ports, "org_a", Tier.ENTERPRISE)
    body = consume(client, amount=10**12).get_json()
    assert body["allowed"] is True and body["limit"] is None and body["remaining"] is None
    response = consume(client)
    assert response.status_code == 200 and "RateLimit-Limit" not in response.headers


def test_plan_change_applies_at_once_and_keeps_usage(app, client, ports):
    assert consume(client, amount=100).status_code == 200
    assert consume(client).status_code == 429
    subscribe(app, ports, "org_a", Tier.PRO)
    body = consume(client).get_json()
    assert body["limit"] == 100_000 and body["used"] == 101


def test_counting_metrics_reset_with_the_period(client, ports):
    consume(client, amount=100)
    ports["clock"].set(datetime(2026, 12, 1, tzinfo=UTC))
    body = consume(client).get_json()
    assert body["used"] == 1 and body["resets_at"].startswith("2027-01-01")


def test_documents_are_a_gauge(client):
    for _ in range(5):
        assert consume(client, "documents").status_code == 200
    assert_error(consume(client, "documents"), 429, "quota_exceeded")
    released = client.post(
        "/api/v1/quota/release",
        json={"metric": "documents", "amount": 1},
        headers=bearer("org_a", "service"),
    )
    assert released.get_json()["used"] == 4
    assert consume(client, "documents").status_code == 200
    body = consume(client, "documents").get_json()
    assert body["resets_at"] is None


def test_release_is_for_gauges_only_and_never_below_zero(client):
    assert_error(
        client.post(
            "/api/v1/quota/release",
            json={"metric": "queries", "amount": 1},
            headers=bearer("org_a", "service"),
        ),
        422,
        "validation_error",
    )
    body = client.post(
        "/api/v1/quota/release",
        json={"metric": "documents", "amount": 50},
        headers=bearer("org_a", "service"),
    ).get_json()
    assert body["used"] == 0


def test_a_lost_counter_is_rebuilt_from_the_ledger(app, client, ports):
    consume(client, amount=60)
    flush_ledger(app.extensions["billing"].quota)
    ports["quota_counter"].lose_counters()
    body = consume(client, amount=40).get_json()
    assert body["used"] == 100
    assert consume(client).status_code == 429


def test_counter_unavailable_is_503_or_allowed_when_failing_open(app, client, ports, settings):
    from entrypoints.api.app import create_app

    ports["quota_counter"].down = True
    assert_error(consume(client), 503, "quota_unavailable")
    open_app = create_app(
        settings.model_copy(update={"quota_fail_open": True}), **{**ports, "uow": ports["uow"]}
    )
    body = (
        open_app.test_client()
        .post(CONSUME, json={"metric": "queries"}, headers=bearer("org_a", "service"))
        .get_json()
    )
    assert body["allowed"] is True and body["used"] is None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"metric": "gold"},
        {"metric": "queries", "amount": 0},
        {"metric": "queries", "amount": 1.5},
        {"metric": "queries", "amount": "2"},
        {"metric": "queries", "amount": -1},
        {"metric": "queries", "org_id": "org_b"},
    ],
)
def test_consume_validation(client, body):
    response = client.post(CONSUME, json=body, headers=bearer("org_a", "service"))
    assert_error(response, 422, "validation_error")


@pytest.mark.parametrize("role", ["member", "platform_admin"])
def test_only_service_and_owner_consume(client, role):
    assert_error(consume(client, role=role), 403, "forbidden_role")


def test_quota_overview(client):
    consume(client, amount=7)
    consume(client, "documents", amount=2)
    body = client.get("/api/v1/billing/quota", headers=bearer("org_a", "member")).get_json()
    metrics = {m["metric"]: m for m in body["metrics"]}
    assert body["plan"] == "free"
    assert body["period_start"].startswith("2026-11-01") and body["period_end"].startswith(
        "2026-12-01"
    )
    assert metrics["queries"]["used"] == 7 and metrics["queries"]["remaining"] == 93
    assert metrics["documents"]["used"] == 2 and metrics["documents"]["limit"] == 5
    assert metrics["stt_words"]["limit"] is None


def test_tenants_have_separate_counters(client):
    consume(client, amount=100, org="org_a")
    assert consume(client, org="org_b").get_json()["used"] == 1

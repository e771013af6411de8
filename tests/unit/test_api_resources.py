"""Plans, billing status, health and the OpenAPI document through the Flask test client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.model.money import Money
from domain.model.plans import Tier
from domain.model.purchases import OneTimePurchase, PurchaseStatus
from domain.model.subscriptions import Subscription, SubscriptionStatus
from tests.helpers import bearer
from tests.unit.fakes import FakeProbe


def test_plans_are_public_and_match_the_catalog(client):
    response = client.get("/api/v1/plans")
    assert response.status_code == 200
    body = response.get_json()
    plans = {p["tier"]: p for p in body["plans"]}
    assert body["default_tier"] == "free"
    assert list(plans) == ["free", "starter", "pro", "enterprise", "white_label"]
    assert plans["starter"]["aliases"] == ["basic"]
    assert plans["starter"]["price"] == {
        "amount_minor": 2900,
        "currency": "usd",
        "display": "29.00 USD",
    }
    assert plans["free"]["quotas"]["queries"] == {
        "limit": 100,
        "unlimited": False,
        "kind": "counter",
    }
    assert plans["pro"]["quotas"]["documents"]["unlimited"] is True
    assert plans["free"]["quotas"]["documents"]["kind"] == "gauge"
    assert plans["white_label"]["interval"] == "one_time"


def test_status_is_free_by_default(client):
    body = client.get("/api/v1/billing/status", headers=bearer("org_a", "member")).get_json()
    assert body["org_id"] == "org_a"
    assert body["plan"]["tier"] == "free"
    assert body["plan_source"] == "default"
    assert body["status"] == "none"
    assert body["subscription"] is None
    assert body["has_stripe_customer"] is False


def _subscription(org_id: str, status: SubscriptionStatus, now: datetime, **kw) -> Subscription:
    return Subscription(
        org_id,
        "sub_1",
        "cus_1",
        status,
        Tier.PRO,
        "price_pro",
        now,
        now + timedelta(days=30),
        False,
        None,
        now,
        **kw,
    )


def test_status_follows_an_active_subscription(client, ports):
    now = ports["clock"].now()
    client.get("/api/v1/billing/status", headers=bearer("org_a"))  # creates the organization
    ports["uow"].store.subscriptions["sub_1"] = _subscription(
        "org_a", SubscriptionStatus.ACTIVE, now
    )
    body = client.get("/api/v1/billing/status", headers=bearer("org_a")).get_json()
    assert body["plan"]["tier"] == "pro"
    assert body["status"] == "active"
    assert body["subscription"]["current_period_end"].startswith("2026-12-15")


def test_past_due_keeps_the_plan_through_the_grace_period_only(client, ports):
    clock = ports["clock"]
    client.get("/api/v1/billing/status", headers=bearer("org_a"))
    ports["uow"].store.subscriptions["sub_1"] = _subscription(
        "org_a", SubscriptionStatus.PAST_DUE, clock.now(), past_due_since=clock.now()
    )
    assert (
        client.get("/api/v1/billing/status", headers=bearer()).get_json()["plan_source"]
        == "grace_period"
    )
    clock.advance(days=7, seconds=1)
    body = client.get("/api/v1/billing/status", headers=bearer()).get_json()
    assert body["plan"]["tier"] == "free"
    assert body["status"] == "past_due"


def test_a_paid_white_label_purchase_wins_for_good(client, ports):
    now = ports["clock"].now()
    client.get("/api/v1/billing/status", headers=bearer("org_a"))
    ports["uow"].store.purchases["p1"] = OneTimePurchase(
        "p1",
        "org_a",
        Tier.WHITE_LABEL,
        Money(99900, "usd"),
        PurchaseStatus.PAID,
        "cs_1",
        "pi_1",
        now,
        now,
    )
    ports["uow"].store.subscriptions["sub_1"] = _subscription(
        "org_a", SubscriptionStatus.CANCELED, now
    )
    body = client.get("/api/v1/billing/status", headers=bearer()).get_json()
    assert body["plan"]["tier"] == "white_label"
    assert body["plan_source"] == "purchase"


def test_tenants_see_only_their_own_status(client, ports):
    now = datetime(2026, 11, 15, tzinfo=UTC)
    client.get("/api/v1/billing/status", headers=bearer("org_a"))
    ports["uow"].store.subscriptions["sub_1"] = _subscription(
        "org_a", SubscriptionStatus.ACTIVE, now
    )
    body = client.get("/api/v1/billing/status", headers=bearer("org_b")).get_json()
    assert body["org_id"] == "org_b"
    assert body["plan"]["tier"] == "free"


def test_healthz_is_alive(client):
    assert client.get("/healthz").get_json() == {"status": "alive"}


def test_readyz_reports_each_dependency(app, client):
    assert client.get("/readyz").get_json()["checks"] == {"database": True, "redis": True}
    app.extensions["billing"].probes["redis"] = FakeProbe(ok=False)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["code"] == "not_ready"
    assert body["checks"] == {"database": True, "redis": False}


def test_openapi_document_describes_routes_and_bearer_security(client):
    spec = client.get("/api/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert {"/api/v1/plans", "/api/v1/billing/status", "/healthz", "/readyz"} <= set(spec["paths"])
    assert spec["paths"]["/api/v1/plans"]["get"]["security"] == []
    status_responses = spec["paths"]["/api/v1/billing/status"]["get"]["responses"]
    assert {"200", "401", "403"} <= set(status_responses)


def test_swagger_ui_is_served_without_a_cdn(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/api/openapi.json" in html
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
    bundle = client.get("/api/docs/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.get_data()) > 100_000

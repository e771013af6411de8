"""The billing dashboard, and dunning: past due, grace, default tier, restored on payment."""

from __future__ import annotations

import pytest

from domain.model.invoicing import InvoiceStatus
from domain.model.subscriptions import SubscriptionStatus
from domain.services.dunning import check_dunning
from tests.helpers import bearer, deliver

pytestmark = pytest.mark.usefixtures("real_time")


def dashboard(client, org="org_a"):
    return client.get("/api/v1/billing/dashboard", headers=bearer(org, "member")).get_json()


def test_dashboard_of_a_free_organization_without_a_customer(client):
    body = dashboard(client)
    assert body["org_id"] == "org_a" and body["plan"]["tier"] == "free"
    assert body["has_stripe_customer"] is False and body["subscription"] is None
    assert body["usage"]["available"] is True
    queries = next(m for m in body["usage"]["metrics"] if m["metric"] == "queries")
    assert queries["used"] == 0 and queries["limit"] == 100
    assert body["voice"]["unbilled_words"] == 0
    assert body["voice"]["estimated_charge"]["amount_minor"] == 0
    assert body["recent_invoices"] == []
    assert (
        client.get("/api/billing/dashboard", headers=bearer("org_a", "member")).status_code == 200
    )


def test_dashboard_of_a_paying_organization(client, ports, stripe, app):
    client.post(
        "/api/v1/billing/customer",
        json={"email": "a@example.com"},
        headers=bearer("org_a", "owner"),
    )
    cus = ports["uow"].store.customers["org_a"].stripe_customer_id
    sub = stripe.put_subscription(
        cus, stripe.price_ids["pro"], "active", org_id="org_a", cancel_at_period_end=True
    )
    deliver(app.extensions["billing"], stripe.event("customer.subscription.created", sub))
    client.post(
        "/api/v1/quota/consume",
        json={"metric": "queries", "amount": 42},
        headers=bearer("org_a", "service"),
    )
    client.post(
        "/api/v1/usage/events",
        json={
            "events": [
                {"metric": "stt_words", "quantity": 1500, "idempotency_key": "a"},
                {"metric": "tts_words", "quantity": 1000, "idempotency_key": "b"},
            ]
        },
        headers=bearer("org_a", "service"),
    )
    client.post("/api/v1/billing/generate-usage-invoice", headers=bearer("org_a", "owner"))
    client.post(
        "/api/v1/usage/events",
        json={"events": [{"metric": "stt_words", "quantity": 2500, "idempotency_key": "c"}]},
        headers=bearer("org_a", "service"),
    )
    body = dashboard(client)
    assert body["plan"]["tier"] == "pro" and body["status"] == "active"
    assert body["subscription"]["cancel_at_period_end"] is True
    assert body["subscription"]["current_period_end"]
    queries = next(m for m in body["usage"]["metrics"] if m["metric"] == "queries")
    assert queries["used"] == 42 and queries["limit"] == 100_000
    assert body["voice"]["unbilled_words"] == 2500
    assert body["voice"]["estimated_charge"]["amount_minor"] == 250
    assert [i["total"]["amount_minor"] for i in body["recent_invoices"]] == [250]
    assert body["recent_invoices"][0]["hosted_invoice_url"].startswith("https://invoice.stripe")


def quota_limit(client, org="org_a"):
    return client.post(
        "/api/v1/quota/consume", json={"metric": "queries"}, headers=bearer(org, "service")
    ).get_json()["limit"]


def test_payment_failed_grace_over_default_tier_then_paid_restores(client, ports, stripe, app):
    client.post(
        "/api/v1/billing/customer",
        json={"email": "a@example.com"},
        headers=bearer("org_a", "owner"),
    )
    cus = ports["uow"].store.customers["org_a"].stripe_customer_id
    sub = stripe.put_subscription(cus, stripe.price_ids["pro"], "active", org_id="org_a")
    deliver(app.extensions["billing"], stripe.event("customer.subscription.created", sub))
    assert quota_limit(client) == 100_000

    stripe.put_subscription(
        cus, stripe.price_ids["pro"], "past_due", org_id="org_a", sub_id=sub["id"]
    )
    failed = stripe.put_invoice(cus, sub["id"], "open")
    deliver(app.extensions["billing"], stripe.event("invoice.payment_failed", failed))
    assert ports["uow"].store.subscriptions[sub["id"]].status is SubscriptionStatus.PAST_DUE
    assert quota_limit(client) == 100_000  # inside the grace period
    quota = app.extensions["billing"].quota
    assert check_dunning(quota).downgraded == []

    ports["clock"].advance(days=7, minutes=1)  # BILLING_GRACE_DAYS=7 is over
    assert check_dunning(quota).downgraded == ["org_a"]
    assert check_dunning(quota).downgraded == []  # recorded once
    assert quota_limit(client) == 100  # the default tier's limit
    assert dashboard(client)["plan"]["tier"] == "free"

    stripe.put_subscription(
        cus, stripe.price_ids["pro"], "active", org_id="org_a", sub_id=sub["id"]
    )
    paid = stripe.pay_invoice(failed["id"])
    deliver(app.extensions["billing"], stripe.event("invoice.paid", paid))
    assert quota_limit(client) == 100_000
    assert check_dunning(quota).restored == ["org_a"]
    actions = [e.action for e in ports["uow"].store.audit if e.org_id == "org_a"]
    assert actions.count("subscription.changed") == 3  # created, past_due, active again
    assert [a for a in actions if a.startswith("entitlement.")] == [
        "entitlement.downgraded",
        "entitlement.restored",
    ]
    causes = {e.actor.split(":")[0] for e in ports["uow"].store.audit}
    assert {"stripe", "scheduler"} <= causes


def test_an_overdue_usage_invoice_drops_to_the_default_tier(client, ports, stripe, app):
    client.post(
        "/api/v1/billing/customer",
        json={"email": "a@example.com"},
        headers=bearer("org_a", "owner"),
    )
    cus = ports["uow"].store.customers["org_a"].stripe_customer_id
    sub = stripe.put_subscription(cus, stripe.price_ids["pro"], "active", org_id="org_a")
    deliver(app.extensions["billing"], stripe.event("customer.subscription.created", sub))
    client.post(
        "/api/v1/usage/events",
        json={"events": [{"metric": "stt_words", "quantity": 10_000, "idempotency_key": "a"}]},
        headers=bearer("org_a", "service"),
    )
    invoice = client.post(
        "/api/v1/billing/generate-usage-invoice", headers=bearer("org_a", "owner")
    ).get_json()["invoice"]
    failed = stripe.pay_invoice(invoice["stripe_invoice_id"], paid=False)
    deliver(app.extensions["billing"], stripe.event("invoice.payment_failed", failed))
    stored = ports["uow"].store.usage_invoices[invoice["id"]]
    assert stored.status is InvoiceStatus.PAST_DUE and stored.past_due_since is not None
    ports["clock"].advance(days=8)
    assert quota_limit(client) == 100
    assert check_dunning(app.extensions["billing"].quota).downgraded == ["org_a"]
    paid = stripe.pay_invoice(failed["id"])
    deliver(app.extensions["billing"], stripe.event("invoice.paid", paid))
    assert ports["uow"].store.usage_invoices[invoice["id"]].status is InvoiceStatus.PAID
    assert quota_limit(client) == 100_000

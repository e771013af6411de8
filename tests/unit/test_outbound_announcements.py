"""The billing changes announced to the product: each once, in the transaction of the change,
however often Stripe's event is applied."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.model.invoicing import InvoiceStatus, UsageInvoice
from domain.model.money import Money
from domain.model.organizations import Organization
from domain.model.outbound import (
    ENTITLEMENT_CHANGED,
    INVOICE_PAID,
    INVOICE_PAYMENT_FAILED,
    SUBSCRIPTION_UPDATED,
)
from domain.services.stripe_events import handle_stripe_event, replay_event
from domain.services.webhook_intake import receive_stripe_event
from tests.helpers import WEBHOOK_SECRET, bearer, stripe_signature

pytestmark = pytest.mark.usefixtures("real_time")


@pytest.fixture
def deps(app):
    return app.extensions["billing"].payments


@pytest.fixture
def outbox(ports):
    with ports["uow"]() as uow:
        return uow.outbox


def apply(deps, ports, body: bytes):
    receipt = receive_stripe_event(
        ports["uow"], ports["jobs"], ports["clock"], body, stripe_signature(body), [WEBHOOK_SECRET]
    )
    return handle_stripe_event(deps, receipt.event_id)


def org(ports, org_id="org_a"):
    ports["uow"].store.organizations[org_id] = Organization.new(org_id, datetime.now(UTC))


def test_a_subscription_event_announces_the_change_and_the_entitlement_once(
    deps, ports, stripe, outbox
):
    org(ports)
    sub = stripe.put_subscription("cus_1", stripe.price_ids["pro"], "active", org_id="org_a")
    body = stripe.event("customer.subscription.created", sub, event_id="evt_s1")
    apply(deps, ports, body)
    # The same event replayed by an operator, and a second event finding nothing changed.
    replay_event(ports["uow"], ports["jobs"], "evt_s1")
    handle_stripe_event(deps, "evt_s1")
    apply(deps, ports, stripe.event("customer.subscription.updated", sub, event_id="evt_s2"))

    updated = outbox.messages(SUBSCRIPTION_UPDATED)
    assert len(updated) == 1
    assert updated[0].payload["organization"] == "org_a"
    assert updated[0].payload["data"]["stripe_subscription_id"] == sub["id"]
    assert updated[0].payload["data"]["status"] == "active"
    assert updated[0].payload["data"]["tier"] == "pro"
    changed = outbox.messages(ENTITLEMENT_CHANGED)
    assert len(changed) == 1
    assert changed[0].payload["data"]["tier"] == "pro"
    assert changed[0].payload["data"]["plan_source"] == "subscription"
    assert changed[0].payload["data"]["previous"] == {"tier": "free", "plan_source": "default"}
    # Fanned out in their own transaction: without endpoints, no delivery and no job.
    assert all(m.fanned_out_at is not None for m in outbox.messages())
    jobs = {job for job, _, _ in ports["jobs"].enqueued}
    assert jobs.isdisjoint({"fan_out_message", "deliver_webhook"})


def test_a_cancellation_announces_the_subscription_and_the_fall_to_the_default(
    deps, ports, stripe, outbox
):
    org(ports)
    price = stripe.price_ids["pro"]
    sub = stripe.put_subscription("cus_1", price, "active", org_id="org_a")
    apply(deps, ports, stripe.event("customer.subscription.created", sub))
    stripe.put_subscription("cus_1", price, "canceled", org_id="org_a", sub_id=sub["id"])
    apply(deps, ports, stripe.event("customer.subscription.deleted", sub))
    statuses = [m.payload["data"]["status"] for m in outbox.messages(SUBSCRIPTION_UPDATED)]
    assert statuses == ["active", "canceled"]
    tiers = [m.payload["data"]["tier"] for m in outbox.messages(ENTITLEMENT_CHANGED)]
    assert tiers == ["pro", "free"]


def test_invoice_events_announce_paid_once_per_invoice_and_each_failure(
    deps, ports, stripe, outbox
):
    org(ports)
    now = ports["clock"].now()
    ports["uow"].store.usage_invoices["uinv_1"] = UsageInvoice(
        "uinv_1", "org_a", InvoiceStatus.OPEN, now, now, Money(1500, "usd"), now, now, "in_usage"
    )
    stripe.put_invoice("cus_1", None, "open", 1500, invoice_id="in_usage")
    for event_id in ("evt_f1", "evt_f2"):  # two failed attempts: both are news
        apply(
            deps,
            ports,
            stripe.event("invoice.payment_failed", stripe.invoices["in_usage"], event_id=event_id),
        )
    apply(deps, ports, stripe.event("invoice.payment_failed", {"id": "in_usage"}, "evt_f2"))
    stripe.put_invoice("cus_1", None, "paid", 1500, invoice_id="in_usage")
    for event_id, type_ in (("evt_p1", "invoice.paid"), ("evt_p2", "invoice.payment_succeeded")):
        apply(deps, ports, stripe.event(type_, stripe.invoices["in_usage"], event_id=event_id))

    failed = outbox.messages(INVOICE_PAYMENT_FAILED)
    paid = outbox.messages(INVOICE_PAID)
    assert len(failed) == 2 and len(paid) == 1
    data = paid[0].payload["data"]
    assert data["id"] == "uinv_1" and data["status"] == "paid"
    assert data["total"] == {"amount_minor": 1500, "currency": "usd", "display": "15.00 USD"}


def test_the_payload_data_is_the_api_view(client, deps, ports, stripe, outbox):
    org(ports)
    sub = stripe.put_subscription("cus_1", stripe.price_ids["pro"], "active", org_id="org_a")
    apply(deps, ports, stripe.event("customer.subscription.created", sub))
    shown = client.get("/api/v1/billing/status", headers=bearer("org_a", "member")).get_json()
    data = outbox.messages(SUBSCRIPTION_UPDATED)[0].payload["data"]
    for field in ("stripe_subscription_id", "status", "tier", "cancel_at_period_end"):
        assert data[field] == shown["subscription"][field]
    for field in ("current_period_start", "current_period_end"):
        assert datetime.fromisoformat(data[field]) == datetime.fromisoformat(
            shown["subscription"][field]
        )

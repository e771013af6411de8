"""Pending events about one Stripe object are settled by one refetch, in Stripe's final state."""

from __future__ import annotations

import pytest

from domain.model.subscriptions import SubscriptionStatus
from domain.model.webhooks import InboxStatus
from domain.services.stripe_events import handle_stripe_event
from domain.services.webhook_intake import receive_stripe_event
from tests.helpers import WEBHOOK_SECRET, stripe_signature

pytestmark = pytest.mark.usefixtures("real_time")


def _store(ports, body: bytes) -> str:
    return receive_stripe_event(
        ports["uow"], ports["jobs"], ports["clock"], body, stripe_signature(body), [WEBHOOK_SECRET]
    ).event_id


def _refetches(stripe) -> int:
    return sum(op == "subscriptions.retrieve" for op, _ in stripe.calls)


def test_ten_pending_events_of_one_subscription_take_one_refetch(app, ports, stripe):
    deps = app.extensions["billing"].payments
    store = ports["uow"].store
    created = stripe.put_subscription(
        "cus_1", stripe.price_ids["starter"], "incomplete", org_id="org_a"
    )
    ids = [_store(ports, stripe.event("customer.subscription.created", created))]
    ids += [
        _store(ports, stripe.event("customer.subscription.updated", {**created, "status": status}))
        for status in ["active", "past_due", "canceled"] * 3
    ]
    other = stripe.put_subscription("cus_2", stripe.price_ids["pro"], "active", org_id="org_b")
    other_id = _store(ports, stripe.event("customer.subscription.updated", other))
    stripe.put_subscription(
        "cus_1", stripe.price_ids["pro"], "active", org_id="org_a", sub_id=created["id"]
    )  # what Stripe holds at the end
    before = _refetches(stripe)

    assert handle_stripe_event(deps, ids[5]) is InboxStatus.PROCESSED  # any of them first
    assert _refetches(stripe) == before + 1
    assert {store.inbox[i].status for i in ids} == {InboxStatus.PROCESSED}
    assert {store.inbox[i].attempts for i in ids} == {1}
    assert store.inbox[other_id].status is InboxStatus.PENDING  # another object: not touched
    for event_id in ids:  # their own jobs find them settled: no refetch, no second apply
        assert handle_stripe_event(deps, event_id) is InboxStatus.PROCESSED
    assert _refetches(stripe) == before + 1
    with ports["uow"]() as uow:
        local = uow.subscriptions.get(created["id"])
    assert local.status is SubscriptionStatus.ACTIVE
    assert local.stripe_price_id == stripe.price_ids["pro"]


def test_an_invoice_event_does_not_settle_subscription_events(app, ports, stripe):
    deps = app.extensions["billing"].payments
    store = ports["uow"].store
    sub = stripe.put_subscription("cus_1", stripe.price_ids["pro"], "active", org_id="org_a")
    sub_event = _store(ports, stripe.event("customer.subscription.updated", sub))
    failed = _store(ports, stripe.event("invoice.payment_failed", {"id": sub["id"]}))
    assert handle_stripe_event(deps, sub_event) is InboxStatus.PROCESSED
    assert store.inbox[failed].status is InboxStatus.PENDING

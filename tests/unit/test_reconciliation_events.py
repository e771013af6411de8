"""Reconciliation: missed events recovered from Stripe's events list, lists paged rather than
fetched one by one, and events of another API version processed and counted."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest

from adapters import stripe_mapping as mapping
from adapters.stripe_gateway import API_VERSION
from domain.model.customers import StripeCustomer
from domain.model.organizations import Organization
from domain.model.subscriptions import Subscription, SubscriptionStatus
from domain.model.webhooks import InboxStatus
from domain.services.missed_events import OVERLAP, STRIPE_EVENT_RETENTION
from domain.services.reconciliation import ReconcileDeps, open_run, reconcile
from domain.services.stripe_events import handle_stripe_event
from tests.helpers import bearer, deliver

pytestmark = pytest.mark.usefixtures("real_time")


@pytest.fixture
def container(app):
    return app.extensions["billing"]


def deps_of(container, **kwargs) -> ReconcileDeps:
    return ReconcileDeps(container.payments, container.jobs, **kwargs)


def run(container, **kwargs):
    deps = deps_of(container)
    return reconcile(deps, open_run(deps, **kwargs))


def paying(app, stripe, org_id):
    client = app.test_client()
    cus = client.post(
        "/api/v1/billing/customer",
        json={"email": f"{org_id}@example.com"},
        headers=bearer(org_id, "owner"),
    ).get_json()["stripe_customer_id"]
    return cus, stripe.put_subscription(cus, stripe.price_ids["pro"], "active", org_id=org_id)


def backdate(stripe, event_id, delta):
    event = next(e for e in stripe.events_sent if e["id"] == event_id)
    event["created"] = int((stripe.now() - delta).timestamp())


def test_a_missed_event_older_than_the_inbox_is_recovered_and_processed(
    app, stripe, ports, container
):
    _, sub = paying(app, stripe, "org_missed")
    # Never delivered (a wrong secret that day), and older than what the inbox holds.
    stripe.event("customer.subscription.created", sub, event_id="evt_missed")
    backdate(stripe, "evt_missed", timedelta(days=3))
    _, other = paying(app, stripe, "org_delivered")
    assert deliver(container, stripe.event("customer.subscription.created", other))
    result = run(container)
    counts = result.run.counts
    assert (counts.events_recovered, counts.events_listed) == (1, 2)
    stored = ports["uow"].store.inbox["evt_missed"]
    assert stored.status is InboxStatus.PENDING and stored.type == "customer.subscription.created"
    assert ("process_webhook_event", ("evt_missed",), "webhook-evt_missed") in ports[
        "jobs"
    ].enqueued
    # Processed by the normal job, as if delivered.
    assert handle_stripe_event(container.payments, "evt_missed") is InboxStatus.PROCESSED
    assert ports["uow"].store.subscriptions[sub["id"]].org_id == "org_missed"
    # The first run looked back over all of Stripe's 30 days.
    assert result.run.events_since == ports["clock"].now() - STRIPE_EVENT_RETENTION


def test_events_beyond_stripes_30_days_are_not_asked_for(app, stripe, ports, container):
    _, sub = paying(app, stripe, "org_old")
    stripe.event("customer.subscription.created", sub, event_id="evt_ancient")
    backdate(stripe, "evt_ancient", timedelta(days=31))
    assert run(container).run.counts.events_recovered == 0
    assert "evt_ancient" not in ports["uow"].store.inbox


def test_the_next_run_lists_events_from_where_the_last_one_stopped(app, stripe, ports, container):
    first = run(container).run
    ports["clock"].advance(hours=24)
    _, sub = paying(app, stripe, "org_later")
    stripe.event("customer.subscription.created", sub, event_id="evt_later")
    second = run(container).run
    assert second.events_since == first.events_until - OVERLAP
    assert second.counts.events_recovered == 1 and "evt_later" in ports["uow"].store.inbox
    third = run(container).run
    assert third.counts.events_recovered == 0  # stored once, however many runs see it


def test_an_event_delivered_while_the_run_lists_it_is_stored_once(app, stripe, ports, container):
    _, sub = paying(app, stripe, "org_race")
    body = stripe.event("customer.subscription.created", sub, event_id="evt_race")
    assert deliver(container, body) is InboxStatus.PROCESSED
    assert run(container).run.counts.events_recovered == 0
    assert ports["uow"].store.inbox["evt_race"].status is InboxStatus.PROCESSED


def test_an_event_of_another_api_version_is_processed_logged_and_counted(
    app, stripe, ports, container, caplog
):
    _, sub = paying(app, stripe, "org_version")
    body = json.loads(stripe.event("customer.subscription.created", sub, event_id="evt_v1"))
    body["api_version"] = "2024-06-20"
    pinned = replace(container.payments, api_version=API_VERSION)
    assert (
        deliver(replace(container, payments=pinned), json.dumps(body).encode())
        is InboxStatus.PROCESSED
    )
    assert any(
        r.getMessage() == "stripe event of another API version" and r.api_version == "2024-06-20"
        for r in caplog.records
    )
    deps = ReconcileDeps(pinned, container.jobs)
    result = reconcile(deps, open_run(deps))
    assert result.run.counts.other_api_version_events == 1


def seed_in_sync(ports, stripe, count: int) -> None:
    """`count` organizations, each with a customer and a Pro subscription, equal on both sides."""
    store, now = ports["uow"].store, ports["clock"].now()
    for n in range(count):
        org_id = f"org_{n:05d}"
        cus = f"cus_many{n:05d}"
        stripe.customers[cus] = {"id": cus, "object": "customer", "metadata": {"org_id": org_id}}
        sub = stripe.put_subscription(cus, stripe.price_ids["pro"], "active", org_id=org_id)
        store.organizations[org_id] = Organization.new(org_id, now)
        store.customers[org_id] = StripeCustomer(org_id, cus, None, None, now)
        snapshot = replace(mapping.subscription_snapshot(sub), tier=None)
        local = Subscription.from_snapshot(org_id, snapshot, now)
        local.tier = container_tier(stripe)
        store.subscriptions[sub["id"]] = local


def container_tier(stripe):
    from domain.model.plans import Tier

    return Tier.PRO


def test_an_account_of_2500_subscriptions_is_paged_not_fetched_one_by_one(ports, stripe, container):
    seed_in_sync(ports, stripe, 2500)
    before = len(stripe.calls)
    result = run(container, fix=True)
    calls = Counter(op for op, _ in stripe.calls[before:])
    assert result.drifts == []
    assert calls == {
        "events.list": 1,
        "customers.list": 25,
        "subscriptions.list": 25,
        "invoices.list": 1,
        "checkout.sessions.list": 1,
    }
    assert result.run.counts.objects_compared == 5000
    assert sum(calls.values()) / (result.run.counts.objects_compared / 100) <= 1.2


def test_a_smaller_page_size_makes_more_calls_and_finds_the_same(ports, stripe, container):
    seed_in_sync(ports, stripe, 250)
    sub = next(iter(stripe.subscriptions.values()))
    sub["status"] = "past_due"
    before = len(stripe.calls)
    deps = deps_of(container, page_size=10)
    result = reconcile(deps, open_run(deps))
    calls = Counter(op for op, _ in stripe.calls[before:])
    assert calls["subscriptions.list"] == 25 and calls["customers.list"] == 25
    assert [(d.object_id, d.kind.value) for d in result.drifts] == [(sub["id"], "status_differs")]


def test_subscription_items_with_different_periods_take_the_next_renewal(stripe):
    sub = stripe.put_subscription("cus_x", stripe.price_ids["pro"], "active")
    monthly = sub["items"]["data"][0]
    yearly = {**monthly, "id": "si_yearly", "price": stripe.prices[stripe.price_ids["starter"]]}
    yearly["current_period_end"] = monthly["current_period_end"] + 300 * 86400
    early = {**monthly, "id": "si_weekly", "price": stripe.prices[stripe.price_ids["starter"]]}
    early["current_period_end"] = monthly["current_period_end"] - 20 * 86400
    sub["items"]["data"] = [monthly, yearly, early]
    snap = mapping.subscription_snapshot(sub)
    assert snap.stripe_price_id == stripe.price_ids["pro"]  # the plan: the first item's price
    assert int(snap.current_period_end.timestamp()) == early["current_period_end"]
    sub["items"]["data"] = [yearly, monthly]
    assert (
        int(mapping.subscription_snapshot(sub).current_period_end.timestamp())
        == (monthly["current_period_end"])
    )


def test_a_subscription_whose_items_renew_apart_is_in_sync_after_its_webhook(
    app, stripe, ports, container
):
    _, sub = paying(app, stripe, "org_items")
    monthly = sub["items"]["data"][0]
    addon = {
        **monthly,
        "id": "si_addon",
        "current_period_end": monthly["current_period_end"] + 86400,
    }
    stripe.subscriptions[sub["id"]]["items"]["data"].append(addon)
    assert deliver(
        container, stripe.event("customer.subscription.updated", stripe.subscriptions[sub["id"]])
    )
    assert run(container).drifts == []


def test_an_invoice_handler_branches_on_parent_type(app, stripe, ports, container):
    cus, sub = paying(app, stripe, "org_quote")
    # A quote's invoice: `parent.subscription_details` is present but not its parent.
    invoice = stripe.put_invoice(cus, None, "paid")
    invoice["parent"] = {
        "type": "quote_details",
        "quote_details": {"quote": "qt_1"},
        "subscription_details": {"metadata": {}, "subscription": "sub_not_this"},
    }
    stripe.invoices[invoice["id"]] = invoice
    assert deliver(container, stripe.event("invoice.paid", invoice)) is InboxStatus.PROCESSED
    assert ("subscriptions.retrieve", None) not in stripe.calls[-3:]
    assert mapping.invoice_snapshot(invoice).subscription_id is None
    sub_invoice = stripe.put_invoice(cus, sub["id"], "paid")
    before = len(stripe.calls)
    assert deliver(container, stripe.event("invoice.paid", sub_invoice)) is InboxStatus.PROCESSED
    assert ("subscriptions.retrieve", None) in stripe.calls[before:]
    assert ports["uow"].store.subscriptions[sub["id"]].status is SubscriptionStatus.ACTIVE

"""Webhook intake and event handlers with the fake Stripe and in-memory ports."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from domain.model.checkouts import CheckoutStatus
from domain.model.invoicing import InvoiceStatus, UsageInvoice
from domain.model.money import Money
from domain.model.organizations import Organization
from domain.model.purchases import PurchaseStatus
from domain.model.subscriptions import SubscriptionStatus
from domain.model.webhooks import InboxStatus
from domain.services.stripe_events import handle_stripe_event, record_failure, replay_event
from domain.services.webhook_intake import receive_stripe_event, requeue_stale_events
from tests.helpers import WEBHOOK_SECRET, bearer, signed, stripe_signature
from tests.unit.test_http_errors import assert_error

pytestmark = pytest.mark.usefixtures("real_time")


@pytest.fixture
def deps(app):
    return app.extensions["billing"].payments


@pytest.fixture
def store(ports):
    return ports["uow"].store


def receive(ports, stripe, body: bytes):
    return receive_stripe_event(
        ports["uow"], ports["jobs"], ports["clock"], body, stripe_signature(body), [WEBHOOK_SECRET]
    )


def deliver(deps, ports, stripe, body: bytes):
    receipt = receive(ports, stripe, body)
    return handle_stripe_event(deps, receipt.event_id)


def org(store, org_id="org_a"):
    store.organizations[org_id] = Organization.new(org_id, datetime.now(UTC))


# -- intake ---------------------------------------------------------------------------------


def test_new_event_is_stored_and_enqueued_once(ports, stripe, store):
    body = stripe.event("invoice.paid", {"id": "in_1"}, event_id="evt_1")
    first = receive(ports, stripe, body)
    second = receive(ports, stripe, body)
    assert (first.duplicate, second.duplicate) == (False, True)
    assert ports["jobs"].enqueued == [("process_webhook_event", ("evt_1",), "webhook-evt_1")]
    assert store.inbox["evt_1"].status is InboxStatus.PENDING
    assert store.inbox["evt_1"].payload == json.loads(body)


def test_endpoint_answers_200_for_new_and_duplicate(client, ports, stripe):
    body = stripe.event("invoice.paid", {"id": "in_1"}, event_id="evt_9")
    for duplicate in (False, True):
        response = client.post("/api/v1/billing/webhook", data=body, headers=signed(body))
        assert response.status_code == 200
        assert response.get_json() == {
            "received": True,
            "event_id": "evt_9",
            "duplicate": duplicate,
        }
    legacy = client.post("/api/billing/webhook", data=body, headers=signed(body))
    assert legacy.status_code == 200 and legacy.get_json()["duplicate"] is True


@pytest.mark.parametrize(
    ("make_headers", "code"),
    [
        (lambda body: {"Content-Type": "application/json"}, "webhook_signature_missing"),
        (lambda body: signed(body, "whsec_wrong"), "webhook_signature_invalid"),
        (lambda body: signed(body + b"\n"), "webhook_signature_invalid"),
        (
            lambda body: signed(body, timestamp=int(__import__("time").time()) - 301),
            "webhook_timestamp_out_of_tolerance",
        ),
    ],
)
def test_bad_signatures_answer_400_and_store_nothing(client, ports, stripe, make_headers, code):
    body = stripe.event("invoice.paid", {"id": "in_1"})
    assert_error(
        client.post("/api/v1/billing/webhook", data=body, headers=make_headers(body)), 400, code
    )
    assert ports["uow"].store.inbox == {} and ports["jobs"].enqueued == []


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"id": "evt_1"}', b'{"id": "evt_1", "type": "x", "data": {}}']
)
def test_malformed_bodies_answer_400(client, ports, body):
    assert_error(
        client.post("/api/v1/billing/webhook", data=body, headers=signed(body)),
        400,
        "webhook_malformed",
    )
    assert ports["uow"].store.inbox == {}


def test_verification_is_off_only_in_development(settings, stripe):
    from entrypoints.api.app import create_app
    from tests.unit.fakes import fake_ports

    body = stripe.event("invoice.paid", {"id": "in_1"})
    dev = settings.model_copy(update={"app_env": "development", "stripe_webhook_verify": False})
    test = settings.model_copy(update={"app_env": "test", "stripe_webhook_verify": False})
    dev_client = create_app(dev, **fake_ports(gateway=stripe)).test_client()
    test_client = create_app(test, **fake_ports(gateway=stripe)).test_client()
    unsigned = {"Content-Type": "application/json"}
    assert (
        dev_client.post("/api/v1/billing/webhook", data=body, headers=unsigned).status_code == 200
    )
    assert (
        test_client.post("/api/v1/billing/webhook", data=body, headers=unsigned).status_code == 400
    )


def test_store_failure_answers_503(client, ports, stripe, monkeypatch):
    def broken(event):
        raise ConnectionError("database down")

    monkeypatch.setattr("tests.unit.fakes.FakeInbox.add_if_absent", lambda self, e: broken(e))
    body = stripe.event("invoice.paid", {"id": "in_1"})
    assert_error(
        client.post("/api/v1/billing/webhook", data=body, headers=signed(body)),
        503,
        "webhook_store_unavailable",
    )
    assert ports["jobs"].enqueued == []


def test_enqueue_failure_still_answers_200_and_the_sweep_recovers(client, ports, stripe):
    class DownQueue:
        def enqueue(self, *args, **kwargs):
            raise ConnectionError("redis down")

    client.application.extensions["billing"].jobs = DownQueue()
    body = stripe.event("invoice.paid", {"id": "in_1"}, event_id="evt_lost")
    assert (
        client.post("/api/v1/billing/webhook", data=body, headers=signed(body)).status_code == 200
    )
    clock = ports["clock"]
    assert requeue_stale_events(ports["uow"], ports["jobs"], clock) == 0  # not a minute old
    clock.advance(seconds=61)
    assert requeue_stale_events(ports["uow"], ports["jobs"], clock) == 1
    assert ports["jobs"].enqueued[-1][:2] == ("process_webhook_event", ("evt_lost",))


# -- handlers -------------------------------------------------------------------------------


def test_subscription_events_in_any_order_end_in_stripes_state(deps, ports, stripe, store):
    org(store)
    price = stripe.price_ids["pro"]
    created = stripe.put_subscription("cus_1", price, "incomplete", org_id="org_a")
    stripe.put_subscription("cus_1", price, "active", org_id="org_a", sub_id=created["id"])
    updated = {**created, "status": "active"}
    assert (
        deliver(deps, ports, stripe, stripe.event("customer.subscription.updated", updated))
        is InboxStatus.PROCESSED
    )
    deliver(deps, ports, stripe, stripe.event("customer.subscription.created", created))
    sub = store.subscriptions[created["id"]]
    assert sub.status is SubscriptionStatus.ACTIVE and sub.tier.value == "pro"
    assert sub.org_id == "org_a"
    assert sub.current_period_end is not None


def test_unknown_customer_is_parked_with_a_reason(deps, ports, stripe, store):
    sub = stripe.put_subscription("cus_stranger", stripe.price_ids["pro"], "active")
    status = deliver(
        deps, ports, stripe, stripe.event("customer.subscription.updated", sub, event_id="evt_p")
    )
    assert status is InboxStatus.PARKED
    assert "cus_stranger" in store.inbox["evt_p"].last_error
    assert store.subscriptions == {}


def test_owner_found_through_the_customer(deps, ports, stripe, store):
    from domain.model.customers import StripeCustomer

    org(store, "org_c")
    store.customers["org_c"] = StripeCustomer("org_c", "cus_c", None, None, ports["clock"].now())
    sub = stripe.put_subscription("cus_c", stripe.price_ids["starter"], "trialing")
    deliver(deps, ports, stripe, stripe.event("customer.subscription.created", sub))
    assert store.subscriptions[sub["id"]].org_id == "org_c"


def test_other_types_are_stored_and_ignored(deps, ports, stripe, store):
    assert (
        deliver(
            deps, ports, stripe, stripe.event("charge.refunded", {"id": "ch_1"}, event_id="evt_i")
        )
        is InboxStatus.IGNORED
    )
    assert store.inbox["evt_i"].processed_at is not None


def test_checkout_completed_links_customer_subscription_and_checkout(
    client, deps, ports, stripe, store
):
    response = client.post(
        "/api/v1/billing/create-checkout-session",
        json={"plan_tier": "pro"},
        headers=bearer("org_a"),
    )
    session = stripe.complete_checkout(response.get_json()["session_id"])
    del store.customers["org_a"]  # as if only Stripe knew the customer
    deliver(deps, ports, stripe, stripe.event("checkout.session.completed", session))
    assert store.customers["org_a"].stripe_customer_id == session["customer"]
    sub = store.subscriptions[session["subscription"]]
    assert sub.org_id == "org_a" and sub.status is SubscriptionStatus.ACTIVE
    record = next(iter(store.checkouts.values()))
    assert record.status is CheckoutStatus.COMPLETE and record.completed_at is not None
    status = client.get("/api/v1/billing/status", headers=bearer("org_a", "member")).get_json()
    assert status["plan"]["tier"] == "pro"


def test_white_label_is_recorded_paid_once(client, deps, ports, stripe, store):
    response = client.post("/api/v1/white-label/purchase", json={}, headers=bearer("org_w"))
    session = stripe.complete_checkout(response.get_json()["session_id"])
    for event_id in ("evt_w1", "evt_w2"):  # Stripe may send it twice, under two ids
        deliver(
            deps,
            ports,
            stripe,
            stripe.event("checkout.session.completed", session, event_id=event_id),
        )
    purchase = next(iter(store.purchases.values()))
    assert purchase.status is PurchaseStatus.PAID
    assert purchase.stripe_payment_intent_id == session["payment_intent"]
    paid_at = purchase.paid_at
    deliver(deps, ports, stripe, stripe.event("checkout.session.completed", session))
    assert next(iter(store.purchases.values())).paid_at == paid_at
    body = client.get("/api/v1/billing/status", headers=bearer("org_w", "member")).get_json()
    assert body["plan"]["tier"] == "white_label"


def test_checkout_without_an_organization_is_parked(deps, ports, stripe, store):
    session = {"id": "cs_orphan"}
    stripe.sessions["cs_orphan"] = {
        "id": "cs_orphan",
        "mode": "subscription",
        "status": "complete",
        "metadata": {},
        "client_reference_id": None,
        "customer": "cus_x",
        "subscription": None,
    }
    assert (
        deliver(deps, ports, stripe, stripe.event("checkout.session.completed", session))
        is InboxStatus.PARKED
    )


def test_invoice_events_sync_the_subscription_and_our_usage_invoice(deps, ports, stripe, store):
    org(store)
    now = ports["clock"].now()
    sub = stripe.put_subscription("cus_1", stripe.price_ids["pro"], "active", org_id="org_a")
    deliver(deps, ports, stripe, stripe.event("customer.subscription.created", sub))
    stripe.put_subscription(
        "cus_1", stripe.price_ids["pro"], "past_due", org_id="org_a", sub_id=sub["id"]
    )
    failed = stripe.put_invoice("cus_1", sub["id"], "open")
    deliver(deps, ports, stripe, stripe.event("invoice.payment_failed", failed))
    assert store.subscriptions[sub["id"]].status is SubscriptionStatus.PAST_DUE
    assert store.subscriptions[sub["id"]].past_due_since is not None

    store.usage_invoices["uinv_1"] = UsageInvoice(
        "uinv_1", "org_a", InvoiceStatus.OPEN, now, now, Money(1500, "usd"), now, now, "in_usage"
    )
    stripe.put_invoice("cus_1", None, "paid", 1500, invoice_id="in_usage")
    stripe.put_subscription(
        "cus_1", stripe.price_ids["pro"], "active", org_id="org_a", sub_id=sub["id"]
    )
    deliver(deps, ports, stripe, stripe.event("invoice.paid", stripe.invoices["in_usage"]))
    assert store.usage_invoices["uinv_1"].status is InvoiceStatus.PAID
    assert store.usage_invoices["uinv_1"].hosted_invoice_url.endswith("in_usage")
    paid = stripe.put_invoice("cus_1", sub["id"], "paid")
    deliver(deps, ports, stripe, stripe.event("invoice.payment_succeeded", paid))
    assert store.subscriptions[sub["id"]].status is SubscriptionStatus.ACTIVE


def test_failures_are_kept_then_dead_and_replay_processes(deps, ports, stripe, store):
    org(store)
    sub = stripe.put_subscription("cus_1", stripe.price_ids["pro"], "active", org_id="org_a")
    stripe.broken.add(sub["id"])
    receipt = receive(ports, stripe, stripe.event("customer.subscription.updated", sub))
    for final in (False, True):
        with pytest.raises(RuntimeError):
            handle_stripe_event(deps, receipt.event_id)
        record_failure(ports["uow"], ports["clock"], receipt.event_id, "boom", final)
    event = store.inbox[receipt.event_id]
    assert event.status is InboxStatus.DEAD and event.attempts == 2 and event.last_error == "boom"
    assert handle_stripe_event(deps, receipt.event_id) is InboxStatus.DEAD  # left alone
    stripe.broken.clear()
    assert replay_event(ports["uow"], ports["jobs"], receipt.event_id)
    assert handle_stripe_event(deps, receipt.event_id) is InboxStatus.PROCESSED
    assert store.subscriptions[sub["id"]].status is SubscriptionStatus.ACTIVE


def test_admin_can_list_inspect_and_replay(client, ports, stripe):
    body = stripe.event("charge.refunded", {"id": "ch_1"}, event_id="evt_a")
    client.post("/api/v1/billing/webhook", data=body, headers=signed(body))
    admin = bearer("ops", "platform_admin")
    listed = client.get("/api/v1/admin/webhook-events?status=pending", headers=admin).get_json()
    assert [e["id"] for e in listed["events"]] == ["evt_a"]
    assert "payload" not in listed["events"][0]
    detail = client.get("/api/v1/admin/webhook-events/evt_a", headers=admin).get_json()
    assert detail["payload"]["id"] == "evt_a"
    assert (
        client.post("/api/v1/admin/webhook-events/evt_a/replay", headers=admin).status_code == 202
    )
    assert (
        client.post("/api/v1/admin/webhook-events/evt_none/replay", headers=admin).status_code
        == 404
    )
    assert_error(
        client.get("/api/v1/admin/webhook-events", headers=bearer("org_a", "owner")),
        403,
        "forbidden_role",
    )
    assert_error(
        client.get("/api/v1/admin/webhook-events?status=weird", headers=admin),
        422,
        "validation_error",
    )

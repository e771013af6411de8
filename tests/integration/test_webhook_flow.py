"""The webhook path end to end: real Postgres, Redis and RQ worker; events signed as Stripe
signs them, shaped like Stripe's fixtures."""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import text

from domain.model.subscriptions import SubscriptionStatus
from tests.helpers import WEBHOOK_SECRET, stripe_signature
from tests.integration.webhook_support import drain, make_stripe, post_event, webhook_app

STATUSES = ["active", "trialing", "past_due", "canceled", "unpaid", "active"]


def _inbox(engine, where: str = "true") -> list:
    with engine.connect() as conn:
        return conn.execute(
            text(f"SELECT id, status, attempts FROM webhook_events WHERE {where}")
        ).all()


def test_1000_events_sent_1300_times_shuffled_from_20_senders(settings, clean_db, clean_redis):
    rng = random.Random(20261121)
    stripe = make_stripe()
    app = webhook_app(settings, stripe)
    prices = [stripe.price_ids["starter"], stripe.price_ids["pro"], stripe.price_ids["enterprise"]]
    events: list[bytes] = []
    for n in range(100):
        org_id = f"org_{n:03d}"
        created = stripe.put_subscription(f"cus_{n:03d}", prices[0], "incomplete", org_id=org_id)
        events.append(stripe.event("customer.subscription.created", created))
        for _ in range(9):
            update = {**created, "status": rng.choice(STATUSES)}
            events.append(stripe.event("customer.subscription.updated", update))
        # What Stripe holds at the end, whatever the events said along the way.
        stripe.put_subscription(
            f"cus_{n:03d}",
            rng.choice(prices),
            rng.choice(STATUSES),
            org_id=org_id,
            sub_id=created["id"],
            cancel_at_period_end=rng.random() < 0.3,
        )
    deliveries = events + rng.sample(events, 300)
    rng.shuffle(deliveries)
    clients = [app.test_client() for _ in range(20)]

    def send(i: int) -> int:
        return post_event(clients[i % 20], deliveries[i]).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        codes = list(pool.map(send, range(len(deliveries))))
    assert len(codes) == 1300 and codes.count(200) == 1300  # 0 server errors
    container = app.extensions["billing"]
    assert container.queue.count == 1000  # a job only for each new event

    assert drain(container) == 1000
    rows = _inbox(clean_db)
    assert len(rows) == 1000 and {r.status for r in rows} == {"processed"}
    assert {r.attempts for r in rows} == {1}
    with container.uow() as uow:
        for n in range(100):
            local = uow.subscriptions.for_org(f"org_{n:03d}")
            assert len(local) == 1
            held = stripe.subscriptions[local[0].stripe_subscription_id]
            assert local[0].status.value == held["status"]
            assert local[0].stripe_price_id == held["items"]["data"][0]["price"]["id"]
            assert local[0].cancel_at_period_end == held["cancel_at_period_end"]
            assert local[0].tier is not None
    container.engine.dispose()


def test_the_same_event_50_times_at_once(settings, clean_db, clean_redis):
    stripe = make_stripe()
    app = webhook_app(settings, stripe)
    sub = stripe.put_subscription("cus_1", stripe.price_ids["pro"], "active", org_id="org_a")
    body = stripe.event("customer.subscription.updated", sub, event_id="evt_same")
    clients = [app.test_client() for _ in range(50)]
    with ThreadPoolExecutor(max_workers=50) as pool:
        codes = list(pool.map(lambda c: post_event(c, body).status_code, clients))
    assert codes == [200] * 50
    container = app.extensions["billing"]
    assert len(_inbox(clean_db)) == 1
    assert container.queue.count == 1
    assert drain(container) == 1
    assert _inbox(clean_db)[0].status == "processed"
    container.engine.dispose()


def test_updated_active_before_created_incomplete_ends_active(settings, clean_db, clean_redis):
    stripe = make_stripe()
    app = webhook_app(settings, stripe)
    client = app.test_client()
    created = stripe.put_subscription(
        "cus_1", stripe.price_ids["pro"], "incomplete", org_id="org_a"
    )
    stripe.put_subscription(
        "cus_1", stripe.price_ids["pro"], "active", org_id="org_a", sub_id=created["id"]
    )
    post_event(
        client, stripe.event("customer.subscription.updated", {**created, "status": "active"})
    )
    drain(app.extensions["billing"])
    post_event(client, stripe.event("customer.subscription.created", created))
    drain(app.extensions["billing"])
    with app.extensions["billing"].uow() as uow:
        assert uow.subscriptions.get(created["id"]).status is SubscriptionStatus.ACTIVE
    app.extensions["billing"].engine.dispose()


def _reserialised(body: bytes) -> bytes:
    import json

    return json.dumps(json.loads(body), separators=(",", ":")).encode()


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("none", 400),
        ("wrong_secret", 400),
        ("tampered", 400),
        ("reserialised", 400),
        ("v0_only", 400),
        ("old_301", 400),
        ("future_301", 400),
        ("old_299", 200),
        ("rotated_old", 200),
        ("rotated_new", 200),
    ],
)
def test_signature_cases(settings, clean_db, clean_redis, case, status):
    stripe = make_stripe()
    rotation = f"{WEBHOOK_SECRET},whsec_next_secret_after_rotation"
    app = webhook_app(settings, stripe, secret=rotation)
    body = stripe.event("charge.refunded", {"id": "ch_1"})
    now = int(time.time())
    headers = {"Content-Type": "application/json"}
    signature = {
        "none": None,
        "wrong_secret": stripe_signature(body, "whsec_wrong"),
        "tampered": stripe_signature(body),
        "reserialised": stripe_signature(body),
        "v0_only": stripe_signature(body, scheme="v0"),
        "old_301": stripe_signature(body, timestamp=now - 301),
        "future_301": stripe_signature(body, timestamp=now + 301),
        "old_299": stripe_signature(body, timestamp=now - 299),
        "rotated_old": stripe_signature(body, WEBHOOK_SECRET),
        "rotated_new": stripe_signature(body, "whsec_next_secret_after_rotation"),
    }[case]
    if signature:
        headers["Stripe-Signature"] = signature
    sent = {"tampered": body.replace(b"ch_1", b"ch_2"), "reserialised": _reserialised(body)}.get(
        case, body
    )
    response = app.test_client().post("/api/v1/billing/webhook", data=sent, headers=headers)
    assert response.status_code == status, response.get_json()
    assert len(_inbox(clean_db)) == (1 if status == 200 else 0)
    if status == 400:
        assert response.get_json()["code"].startswith("webhook_")
    app.extensions["billing"].engine.dispose()


def test_a_checkout_and_its_subscription_applied_at_once_never_deadlock(
    settings, clean_db, clean_redis
):
    """Both events of a new checkout, applied by concurrent workers: each settles at its
    first attempt (the handlers take the subscription's lock before writing anything)."""
    from domain.model.payments import CheckoutMode, CheckoutRequest
    from domain.services.stripe_events import handle_stripe_event

    stripe = make_stripe()
    app = webhook_app(settings, stripe)
    container = app.extensions["billing"]
    for n in range(30):
        org_id = f"org_co{n}"
        request = CheckoutRequest(
            f"cus_co{n}",
            org_id,
            stripe.price_ids["pro"],
            CheckoutMode.SUBSCRIPTION,
            "https://a.example/s",
            "https://a.example/c",
            {"org_id": org_id},
        )
        session = stripe.create_checkout_session(request, idempotency_key=f"co{n}")
        done = stripe.complete_checkout(session.id)
        for body in (
            stripe.event("checkout.session.completed", done),
            stripe.event(
                "customer.subscription.created", stripe.subscriptions[done["subscription"]]
            ),
        ):
            assert post_event(app.test_client(), body).status_code == 200
    with clean_db.connect() as conn:
        ids = [r.id for r in conn.execute(text("SELECT id FROM webhook_events ORDER BY id"))]
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda e: handle_stripe_event(container.payments, e), ids))
    assert len(ids) == 60 and {s.value for s in statuses} == {"processed"}
    assert {r.status for r in _inbox(clean_db)} == {"processed"}
    with container.uow() as uow:
        assert all(uow.subscriptions.for_org(f"org_co{n}") for n in range(30))
    container.engine.dispose()

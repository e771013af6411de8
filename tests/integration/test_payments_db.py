"""Payment flows on the real Postgres (Stripe faked): one customer under concurrent first calls,
and the records each flow leaves."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text

from entrypoints.api.app import create_app
from tests.helpers import bearer
from tests.stripe_fake import FakeStripe, catalog_prices


def _app(settings, stripe=None):
    stripe = stripe or FakeStripe()
    catalog_prices(stripe)
    configured = settings.model_copy(
        update={
            "stripe_success_url": "https://app.example.com/ok",
            "stripe_cancel_url": "https://app.example.com/no",
        }
    )
    return create_app(configured, gateway=stripe), stripe


def test_concurrent_first_customer_calls_make_one_customer(settings, clean_db, clean_redis):
    stripe = FakeStripe()  # one Stripe account behind two web processes
    apps = [_app(settings, stripe)[0] for _ in range(2)]
    clients = [a.test_client() for a in apps]

    def call(i: int):
        return clients[i % 2].post(
            "/api/v1/billing/customer",
            json={"email": "a@example.com"},
            headers=bearer("org_pay", "owner"),
        )

    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(call, range(20)))
    assert {r.status_code for r in responses} == {200}
    assert len({r.get_json()["stripe_customer_id"] for r in responses}) == 1
    assert len(stripe.customers) == 1
    with clean_db.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM stripe_customers")).scalar_one() == 1
    for a in apps:
        a.extensions["billing"].engine.dispose()


def test_checkout_and_white_label_leave_their_records(settings, clean_db, clean_redis):
    app, _ = _app(settings)
    client = app.test_client()
    owner = bearer("org_shop", "owner")
    assert (
        client.post(
            "/api/v1/billing/create-checkout-session", json={"plan_tier": "pro"}, headers=owner
        ).status_code
        == 201
    )
    assert client.post("/api/v1/white-label/purchase", json={}, headers=owner).status_code == 201
    with clean_db.connect() as conn:
        modes = conn.execute(text("SELECT mode, status FROM checkout_sessions ORDER BY mode"))
        assert modes.all() == [("payment", "open"), ("subscription", "open")]
        purchase = conn.execute(text("SELECT tier, status, amount_minor FROM one_time_purchases"))
        assert purchase.one() == ("white_label", "pending", 99900)
    sub = client.post(
        "/api/v1/billing/subscription", json={"plan_tier": "starter"}, headers=owner
    ).get_json()
    status = client.get("/api/v1/billing/status", headers=bearer("org_shop", "member")).get_json()
    assert (
        status["subscription"]["stripe_subscription_id"]
        == sub["subscription"]["stripe_subscription_id"]
    )
    assert status["status"] == "incomplete" and status["plan"]["tier"] == "free"
    app.extensions["billing"].engine.dispose()

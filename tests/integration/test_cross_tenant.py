"""Organization B walks every endpoint of the API against organization A's objects: each
answers without A's data, and A's object ids answer 404 exactly like missing ones."""

from __future__ import annotations

import json
import re

from tests.helpers import bearer
from tests.integration.webhook_support import make_stripe, webhook_app


def seed_a(app, stripe) -> dict[str, str]:
    client = app.test_client()
    owner = bearer("org_alpha", "owner")
    customer = client.post(
        "/api/v1/billing/customer", json={"email": "alpha@example.com"}, headers=owner
    ).get_json()["stripe_customer_id"]
    sub = client.post(
        "/api/v1/billing/subscription", json={"plan_tier": "pro"}, headers=owner
    ).get_json()["subscription"]["stripe_subscription_id"]
    client.post(
        "/api/v1/quota/consume",
        json={"metric": "queries", "amount": 77},
        headers=bearer("org_alpha", "service"),
    )
    client.post(
        "/api/v1/usage/events",
        json={
            "events": [
                {
                    "metric": "stt_words",
                    "quantity": 4321,
                    "idempotency_key": "alpha-secret-key",
                    "conversation_id": "alpha-conversation",
                }
            ]
        },
        headers=bearer("org_alpha", "service"),
    )
    invoice = client.post("/api/v1/billing/generate-usage-invoice", headers=owner).get_json()[
        "invoice"
    ]["id"]
    return {
        "org": "org_alpha",
        "customer": customer,
        "subscription": sub,
        "invoice": invoice,
        "email": "alpha@example.com",
        "key": "alpha-secret-key",
        "conversation": "alpha-conversation",
    }


def test_tenant_b_walks_every_endpoint_against_a(settings, clean_db, clean_redis):
    stripe = make_stripe()
    app = webhook_app(
        settings.model_copy(
            update={
                "stripe_success_url": "https://app.example.com/ok",
                "stripe_cancel_url": "https://app.example.com/no",
                "rate_limit_enabled": False,
            }
        ),
        stripe,
    )
    secrets = seed_a(app, stripe)
    client = app.test_client()
    spec = client.get("/api/openapi.json").get_json()
    walked = 0
    for path, methods in spec["paths"].items():
        if "/admin/" in path or "webhook" in path:
            continue  # platform admins see every organization; Stripe's route is unsigned here
        for method in methods:
            if method not in ("get", "post"):
                continue
            url = re.sub(r"<[^>]+>|\{[^}]+\}", secrets["invoice"], path)
            for role in ("owner", "member", "service"):
                headers = bearer("org_bravo", role)
                response = (
                    client.get(url, headers=headers)
                    if method == "get"
                    else client.post(url, json={}, headers=headers)
                )
                walked += 1
                assert response.status_code < 500, (method, url, response.get_data(as_text=True))
                body = response.get_data(as_text=True)
                for name, value in secrets.items():
                    assert value not in body, (method, url, role, name)
    assert walked >= 75  # 26 operations x 3 roles at the time of writing
    detail = client.get(
        f"/api/v1/billing/invoices/{secrets['invoice']}", headers=bearer("org_bravo", "owner")
    )
    missing = client.get(
        "/api/v1/billing/invoices/uinv_does_not_exist", headers=bearer("org_bravo", "owner")
    )
    assert (detail.status_code, missing.status_code) == (404, 404)
    strip = lambda r: {k: v for k, v in r.get_json().items() if k != "message"}  # noqa: E731
    assert strip(detail) == strip(missing)
    # And A still sees its own data.
    own = client.get(
        f"/api/v1/billing/invoices/{secrets['invoice']}", headers=bearer("org_alpha", "member")
    )
    assert own.status_code == 200 and secrets["key"] in json.dumps(own.get_json())
    app.extensions["billing"].engine.dispose()

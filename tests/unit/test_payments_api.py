"""The payment endpoints through the fake Stripe: roles, validation, redirects, idempotency."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from domain.errors import (
    PaymentDeclined,
    PaymentProviderAuthFailed,
    PaymentProviderRejected,
    PaymentProviderUnavailable,
)
from domain.model.plans import Interval
from entrypoints.api.app import create_app
from tests.helpers import bearer
from tests.stripe_fake import FakeStripe
from tests.unit.fakes import fake_ports
from tests.unit.test_http_errors import assert_error


def post(client, path, body=None, role="owner", org="org_a"):
    return client.post(path, json=body if body is not None else {}, headers=bearer(org, role))


WRITES = [
    ("/api/v1/billing/customer", {"email": "a@example.com"}),
    ("/api/v1/billing/subscription", {"plan_tier": "pro"}),
    ("/api/v1/billing/create-checkout-session", {"plan_tier": "pro"}),
    ("/api/v1/white-label/purchase", {"plan_tier": "white_label"}),
    ("/api/v1/billing/portal-session", {}),
    ("/api/v1/billing/subscription/change", {"plan_tier": "pro"}),
    ("/api/v1/billing/subscription/cancel", {}),
    ("/api/v1/billing/subscription/resume", {}),
    ("/api/billing/customer", {"email": "a@example.com"}),
    ("/api/billing/subscription", {"plan_tier": "pro"}),
]


@pytest.mark.parametrize(("path", "body"), WRITES)
@pytest.mark.parametrize("role", ["member", "service", "platform_admin"])
def test_only_owners_change_billing(client, stripe, path, body, role):
    assert_error(post(client, path, body, role=role), 403, "forbidden_role")
    assert stripe.writes() == []


@pytest.mark.parametrize(("path", "body"), WRITES)
def test_every_payment_endpoint_needs_a_token(client, path, body):
    assert_error(client.post(path, json=body), 401, "token_missing")


@pytest.mark.parametrize(("path", "body"), WRITES)
def test_without_a_stripe_key_payments_answer_503_and_the_rest_works(settings, path, body):
    client = create_app(settings, **fake_ports(gateway=None)).test_client()
    response = post(client, path, body)
    error = assert_error(response, 503, "stripe_not_configured")
    assert "STRIPE_SECRET_KEY" in error["message"]
    assert post(client, "/api/v1/billing/customer", {"email": "x"}).status_code == 422
    assert client.get("/api/v1/billing/status", headers=bearer()).status_code == 200


# -- customer -----------------------------------------------------------------------------


def test_customer_is_created_once_and_updated_on_change(client, stripe):
    first = post(client, "/api/v1/billing/customer", {"email": "a@example.com", "name": "A"})
    assert first.status_code == 200 and first.get_json()["created"] is True
    again = post(client, "/api/v1/billing/customer", {"email": "a@example.com", "name": "A"})
    assert again.get_json() == {**first.get_json(), "created": False}
    changed = post(client, "/api/v1/billing/customer", {"email": "b@example.com"}).get_json()
    assert changed["stripe_customer_id"] == first.get_json()["stripe_customer_id"]
    assert changed["email"] == "b@example.com" and changed["name"] == "A"
    assert len(stripe.customers) == 1
    cid = changed["stripe_customer_id"]
    assert stripe.customers[cid]["email"] == "b@example.com"
    assert stripe.customers[cid]["metadata"] == {"org_id": "org_a"}
    assert [op for op, _ in stripe.writes()] == [
        "customers.create",
        "customers.update",
        "customers.update",
    ]


def test_two_concurrent_first_calls_create_one_customer(client, stripe, ports):
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(
            pool.map(
                lambda _: post(client, "/api/v1/billing/customer", {"email": "a@example.com"}),
                range(8),
            )
        )
    assert {r.status_code for r in responses} == {200}
    assert len({r.get_json()["stripe_customer_id"] for r in responses}) == 1
    assert len(stripe.customers) == 1
    assert len(ports["uow"].store.customers) == 1
    assert sum(r.get_json()["created"] for r in responses) == 1


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "not-an-email"},
        {"email": "a@example.com", "org_id": "org_b"},
        {"email": "a@example.com", "stripe_customer_id": "cus_x"},
        {"email": "a@example.com", "name": ""},
        {"email": 5},
    ],
)
def test_customer_validation(client, stripe, body):
    assert_error(post(client, "/api/v1/billing/customer", body), 422, "validation_error")
    assert stripe.writes() == []


def test_tenants_get_their_own_customers(client, stripe):
    a = post(client, "/api/v1/billing/customer", {"email": "a@example.com"}, org="org_a")
    b = post(client, "/api/v1/billing/customer", {"email": "b@example.com"}, org="org_b")
    assert a.get_json()["stripe_customer_id"] != b.get_json()["stripe_customer_id"]


# -- direct subscription ------------------------------------------------------------------


def test_subscription_is_created_incomplete_with_a_client_secret(client, stripe, ports):
    response = post(client, "/api/v1/billing/subscription", {"plan_tier": "pro"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["subscription"]["status"] == "incomplete"
    assert body["subscription"]["tier"] == "pro"
    assert body["client_secret"].startswith("pi_secret_")
    assert body["publishable_key"] == "pk_test_123"
    sub = stripe.subscriptions[body["subscription"]["stripe_subscription_id"]]
    assert sub["metadata"] == {"org_id": "org_a", "plan_tier": "pro"}
    assert sub["items"]["data"][0]["price"]["id"] == stripe.price_ids["pro"]
    stored = ports["uow"].store.subscriptions[sub["id"]]
    assert stored.org_id == "org_a" and stored.tier.value == "pro"


def test_subscription_by_catalog_price_id_and_basic_alias(client, stripe):
    by_price = post(
        client,
        "/api/v1/billing/subscription",
        {"stripe_price_id": stripe.price_ids["starter"]},
        org="org_p",
    )
    assert by_price.get_json()["subscription"]["tier"] == "starter"
    by_alias = post(client, "/api/v1/billing/subscription", {"plan_tier": "basic"}, org="org_q")
    assert by_alias.get_json()["subscription"]["tier"] == "starter"


def test_second_live_subscription_is_refused(client, stripe):
    assert post(client, "/api/v1/billing/subscription", {"plan_tier": "pro"}).status_code == 201
    error = assert_error(
        post(client, "/api/v1/billing/subscription", {"plan_tier": "starter"}),
        409,
        "subscription_exists",
    )
    assert error["subscription_id"].startswith("sub_")
    assert len(stripe.subscriptions) == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "validation_error"),
        ({"plan_tier": "pro", "stripe_price_id": "price_x"}, "validation_error"),
        ({"plan_tier": "platinum"}, "unknown_plan"),
        ({"plan_tier": "free"}, "plan_not_purchasable"),
        ({"plan_tier": "white_label"}, "plan_not_purchasable"),
        ({"stripe_price_id": "price_not_ours"}, "unknown_price"),
        ({"plan_tier": "pro", "status": "active"}, "validation_error"),
        ({"plan_tier": 7}, "validation_error"),
    ],
)
def test_subscription_validation(client, stripe, body, code):
    assert_error(post(client, "/api/v1/billing/subscription", body), 422, code)
    assert [op for op, _ in stripe.writes()] == []


def test_configured_price_ids_are_used_without_a_lookup(settings, stripe):
    legacy = stripe.add_price("legacy_pro", 9900, Interval.MONTH)
    configured = settings.model_copy(update={"stripe_pro_price_id": legacy})
    client = create_app(configured, **fake_ports(gateway=stripe)).test_client()
    body = post(client, "/api/v1/billing/subscription", {"plan_tier": "pro"}).get_json()
    assert (
        stripe.subscriptions[body["subscription"]["stripe_subscription_id"]]["items"]["data"][0][
            "price"
        ]["id"]
        == legacy
    )


def test_a_plan_without_a_price_says_what_to_set(settings):
    empty = FakeStripe()  # no prices in the account
    client = create_app(settings, **fake_ports(gateway=empty)).test_client()
    error = assert_error(
        post(client, "/api/v1/billing/subscription", {"plan_tier": "pro"}),
        422,
        "plan_not_purchasable",
    )
    assert "STRIPE_PRO_PRICE_ID" in error["message"] and "stripe-sync" in error["message"]


@pytest.mark.parametrize(
    ("failure", "status", "code"),
    [
        (
            PaymentDeclined("Your card was declined.", decline_code="insufficient_funds"),
            402,
            "card_declined",
        ),
        (
            PaymentProviderAuthFailed("Stripe refused the configured API key"),
            502,
            "stripe_auth_failed",
        ),
        (PaymentProviderUnavailable("Stripe is unavailable right now"), 503, "stripe_unavailable"),
        (
            PaymentProviderRejected("Stripe rejected the request: No such price"),
            502,
            "stripe_rejected",
        ),
    ],
)
def test_stripe_failures_answer_their_codes(client, stripe, failure, status, code):
    post(client, "/api/v1/billing/customer", {"email": "a@example.com"})
    stripe.fail_next(failure)
    body = assert_error(
        post(client, "/api/v1/billing/subscription", {"plan_tier": "pro"}), status, code
    )
    if code == "card_declined":
        assert body["decline_code"] == "insufficient_funds"
    assert stripe.subscriptions == {}
